"""Training: data loaders (`data`), the run directory's files (`artifacts`), and `build_and_train` (`run`).

TensorFlow and Keras are imported only when training starts, never by `import kspec`.
"""


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its start-up chatter (absl's "All log messages before
    absl::InitializeLog()" and oneDNN notices, which TF_CPP_MIN_LOG_LEVEL does not silence)
    kept off the terminal; if the import fails, what it printed is shown."""
    import_quietly("tensorflow")


def import_quietly(module: str) -> None:
    """Import `module` (tensorflow, or keras and with it its backend) with what its start-up prints to the
    terminal's stderr (C++ logs, absl's and Python's warnings) kept off it; if the import fails, what it printed
    is shown and the error raised."""
    import importlib
    import os
    import sys
    import tempfile
    import warnings

    if module in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(module)
            sys.stderr.flush()
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)
