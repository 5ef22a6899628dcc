"""Ctrl-C and SIGTERM during training: a run stops at a safe point and stays resumable."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any


class Interrupts:
    """Ctrl-C and SIGTERM stop training even when their KeyboardInterrupt is raised inside a finalizer.

    A signal's Python handler runs in whatever Python code the main thread executes next, and during
    training that is now and then a finalizer: TensorFlow frees graphs, functions and iterators in
    `__del__` methods and weakref callbacks, most of all as an epoch starts (right when an interrupt
    sent after an epoch's checkpoint arrives). Python cannot raise out of a finalizer: it prints
    "Exception ignored in ..." with a traceback and carries on, so the interrupt was lost and the run
    trained to its end.

    While `active`, the SIGINT and SIGTERM handlers that raise KeyboardInterrupt (Python's own for
    Ctrl-C, the command line's for SIGTERM) are wrapped to remember the interrupt; `check` raises it
    again at the next safe point (each step's and epoch's end, `callbacks.InterruptCheck`; after fit;
    before the run is marked complete), and the report of an interrupt swallowed by a finalizer is
    kept quiet. Signals handled otherwise (ignored, default, a caller's handler that does not raise)
    are left alone, and so is everything outside the main thread (where no signal handler can be set).
    """

    def __init__(self) -> None:
        self.pending = False

    def check(self) -> None:
        """Raise the interrupt that arrived but was swallowed before it could stop training."""
        if self.pending:
            raise KeyboardInterrupt

    def _wrap(self, handler: Callable[[int, Any], Any]) -> Callable[[int, Any], Any]:
        def on_signal(signum: int, frame: Any) -> Any:
            try:
                return handler(signum, frame)
            except KeyboardInterrupt:
                self.pending = True
                raise

        return on_signal

    @classmethod
    @contextlib.contextmanager
    def active(cls) -> Iterator[Interrupts]:
        interrupts = cls()
        if threading.current_thread() is not threading.main_thread():
            yield interrupts
            return
        previous: dict[signal.Signals, Callable[[int, Any], Any]] = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            handler = signal.getsignal(signum)
            if callable(handler):
                previous[signum] = handler
                signal.signal(signum, interrupts._wrap(handler))
        report = sys.unraisablehook

        def unraisable(info: Any) -> None:
            if not (interrupts.pending and issubclass(info.exc_type, KeyboardInterrupt)):
                report(info)

        sys.unraisablehook = unraisable
        try:
            yield interrupts
        finally:
            sys.unraisablehook = report
            for signum, handler in previous.items():
                signal.signal(signum, handler)
