"""Test-suite settings. Hypothesis profiles: `ci` (default) and `thorough` (KSPEC_HYPOTHESIS_PROFILE=thorough)."""

import os

from hypothesis import HealthCheck, settings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as `import kspec` does: Keras runs as kspec's rules expect

settings.register_profile("ci", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile(
    "thorough", deadline=None, max_examples=2000, suppress_health_check=[HealthCheck.too_slow]
)
# A quarter of `ci`'s property examples, for the runs on the JAX and PyTorch backends (tests/test_backends.py).
settings.register_profile("backend", deadline=None, max_examples=25, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("KSPEC_HYPOTHESIS_PROFILE", "ci"))


def pytest_terminal_summary(terminalreporter) -> None:
    """The figures of the property tests: examples checked per property, and how fast."""
    from tests import stats

    if stats.STATS:
        terminalreporter.section(f"property tests (Hypothesis profile {settings.default.max_examples} max examples)")
        for line in stats.summary():
            terminalreporter.write_line(line)
