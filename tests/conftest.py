"""Test-suite settings: the environment Keras runs in, and the Hypothesis profiles.

Pick a profile with KSPEC_HYPOTHESIS_PROFILE (unset: `ci`), e.g.
`KSPEC_HYPOTHESIS_PROFILE=explore .venv/bin/python -m pytest tests/test_spec_properties.py`.

Verdict profiles: one verdict per commit. The same code draws the same examples on every run and
every machine, whatever ran before, so a red run is the commit's fault and a rerun reproduces it.

- `ci` (the default, how `bash scripts/test.sh` runs): 100 examples per property, derandomized
  (`derandomize=True`: the random seed is fixed per test, derived from the test function), no
  example database (`database=None`: no earlier run, local or cached, can add or change an
  example), `print_blob=True` (a failure prints the `@reproduce_failure` line that replays it).
- `backend`: as `ci`, a quarter of its examples (25), for the runs of the property tests on the JAX
  and PyTorch backends (tests/test_backends.py sets it for its subprocesses).

Exploring profiles, for developers who want new examples (not for CI: verdicts change run to run):

- `explore`: as many examples as `ci` (100), but random (a new seed each run) and with the example
  database in .hypothesis/examples at the repository root, so that a failure found once is replayed
  first on the next runs until it is fixed. Turn a failure into a permanent `@example(...)`.
- `thorough`: like `explore`, with 2000 examples per property (the property tests scale their
  example counts by max_examples / 100: 20 times as many as `ci`).

KSPEC_HYPOTHESIS_EXAMPLES=N sets the number of examples of whichever profile is loaded (an exploration of
any size: `KSPEC_HYPOTHESIS_PROFILE=explore KSPEC_HYPOTHESIS_EXAMPLES=1100` checks about 2,000 specs in
tests/test_spec_properties.py).

A test's own `@settings(...)` inherits every setting it does not name from the profile loaded here
(test modules are imported after this file). No test names `derandomize=False` or an example
database, so the profile decides both; a few fix `derandomize=True, database=None` (`ci`'s values)
for a check that must not vary even when exploring (tests/test_strategies.py: the coverage of the
language).
"""

import os
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis.database import DirectoryBasedExampleDatabase

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # as `import kspec` does: Keras runs as kspec's rules expect

_COMMON = dict(deadline=None, print_blob=True, suppress_health_check=[HealthCheck.too_slow])
#: Where the exploring profiles keep the examples they found (git-ignored), wherever pytest runs from.
EXAMPLES_DIR = Path(__file__).resolve().parent.parent / ".hypothesis" / "examples"

settings.register_profile("ci", max_examples=100, derandomize=True, database=None, **_COMMON)
# A quarter of `ci`'s property examples, for the runs on the JAX and PyTorch backends (tests/test_backends.py).
settings.register_profile("backend", max_examples=25, derandomize=True, database=None, **_COMMON)
settings.register_profile(
    "explore", max_examples=100, derandomize=False, database=DirectoryBasedExampleDatabase(EXAMPLES_DIR), **_COMMON
)
settings.register_profile(
    "thorough", max_examples=2000, derandomize=False, database=DirectoryBasedExampleDatabase(EXAMPLES_DIR), **_COMMON
)
settings.load_profile(os.environ.get("KSPEC_HYPOTHESIS_PROFILE", "ci"))
if os.environ.get("KSPEC_HYPOTHESIS_EXAMPLES"):  # an exploration of any size: the property tests scale by it / 100
    settings.register_profile(
        "sized", settings.default, max_examples=int(os.environ["KSPEC_HYPOTHESIS_EXAMPLES"])
    )
    settings.load_profile("sized")


def pytest_terminal_summary(terminalreporter) -> None:
    """The figures of the property tests: examples checked per property, and how fast."""
    from tests import stats

    if stats.STATS:
        terminalreporter.section(f"property tests (Hypothesis profile {settings.default.max_examples} max examples)")
        for line in stats.summary():
            terminalreporter.write_line(line)
