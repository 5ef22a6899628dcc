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

import ctypes
import ctypes.util
import gc
import os
import sys
from pathlib import Path

import pytest
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


# ---- memory ---------------------------------------------------------------------------------------
# TensorFlow, Keras and the exporters' converters leave what they built (graphs, traced functions, models,
# the weights inside them) in reference cycles, which only a full collection frees; with the ~600,000
# objects that importing TensorFlow, Keras and the test modules creates, Python runs one rarely, so the
# garbage of one test could stay for many test files (tf2onnx's conversion of ResNet-50 alone leaves 2.7 GB
# that only a full collection frees). So: what a test module built is freed before the next
# module starts (and Keras's global state reset), a test after which the process grew by COLLECT_AFTER_MB
# collects at once, and the objects that live for the whole run (modules, test functions, strategies) are
# frozen after collection so that full collections skip them.

#: Growth of the resident memory (MB) since the last collection after which the end of a test collects.
COLLECT_AFTER_MB = 512
_PAGE_MB = os.sysconf("SC_PAGE_SIZE") / 2**20 if hasattr(os, "sysconf") else 0.0
_collected_at: list[float] = [0.0]


def _rss_mb() -> float:
    """This process's resident memory in MB (0 where /proc is not there)."""
    try:
        with open("/proc/self/statm", "rb") as statm:
            return int(statm.read().split()[1]) * _PAGE_MB
    except (OSError, ValueError, IndexError):
        return 0.0


def _malloc_trim() -> None:
    """Hand the C heap's free pages back to the system (glibc; a no-op elsewhere)."""
    try:
        ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def release_memory(*, keras_state: bool) -> None:
    """A full collection (and, with `keras_state`, Keras's global state reset first); the process's size after
    it is the new baseline of COLLECT_AFTER_MB."""
    if keras_state and "keras" in sys.modules:
        import keras

        keras.backend.clear_session(free_memory=False)
    gc.collect()
    _malloc_trim()
    _collected_at[0] = _rss_mb()


def pytest_collection_finish(session) -> None:
    gc.collect()
    gc.freeze()  # imported modules, collected tests: alive for the whole run, not worth scanning again
    _collected_at[0] = _rss_mb()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item, nextitem):
    result = yield  # the test's fixtures are torn down, its module's too where the next test is in another
    if nextitem is None or getattr(nextitem, "module", None) is not getattr(item, "module", None):
        release_memory(keras_state=True)
    elif _rss_mb() - _collected_at[0] > COLLECT_AFTER_MB:
        release_memory(keras_state=False)
    return result


# ---- pytest-xdist: the long test files first ----------------------------------------------------------
#: Test files that take minutes (most of them in few tests, or in processes they start), longest first. Under
#: pytest-xdist (scripts/test.sh: `-n 2 --dist loadfile --no-loadscope-reorder`) the workers take whole files
#: in collection order; these go first, so that neither worker is left running one of them alone at the end
#: while the other has nothing to do. Each file's tests keep their order; a serial run keeps pytest's order.
LONG_FILES = (
    "test_spec_properties.py",
    "test_backends.py",
    "test_export.py",
    "test_cli_train.py",
    "test_import.py",
    "test_robustness.py",
    "test_roundtrip.py",
    "test_distributed.py",
    "test_schema_exact.py",
    "test_train.py",
    "test_tune.py",
    "test_cli_use.py",
    "test_plugins.py",
    "test_block_properties.py",
)


def pytest_collection_modifyitems(config, items) -> None:
    if hasattr(config, "workerinput"):  # a pytest-xdist worker: every worker sorts its collection alike
        rank = {name: i for i, name in enumerate(LONG_FILES)}
        items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FILES)))


# ---- the property tests' figures --------------------------------------------------------------------


def pytest_sessionfinish(session) -> None:
    """On a pytest-xdist worker: hand this worker's figures to the controller (see pytest_testnodedown)."""
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:
        from tests import stats

        workeroutput["kspec_stats"] = {prop: list(entry) for prop, entry in stats.STATS.items()}


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """On the pytest-xdist controller: add up the figures of each worker as it finishes."""
    from tests import stats

    for prop, (examples, seconds) in getattr(node, "workeroutput", {}).get("kspec_stats", {}).items():
        stats.record(prop, examples, seconds)


def pytest_terminal_summary(terminalreporter) -> None:
    """The figures of the property tests: examples checked per property, and how fast (on pytest-xdist's
    controller, all workers' together)."""
    from tests import stats

    if stats.STATS:
        terminalreporter.section(f"property tests (Hypothesis profile {settings.default.max_examples} max examples)")
        for line in stats.summary():
            terminalreporter.write_line(line)
