"""A time guard for sympy: work past its deadline is abandoned."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class SimplifyTimeout(BaseException):
    """Raised inside sympy when the time guard fires (a BaseException: sympy never catches it)."""


@contextmanager
def _deadline(seconds: float | None):
    """Raise :class:`SimplifyTimeout` in the body after ``seconds`` (main thread, SIGALRM), and
    again every 50 ms until the body ends: a raise that lands in a garbage-collection callback
    or a ``__del__`` is swallowed by Python, the next one is not."""
    usable = (seconds is not None and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread())
    if not usable:
        yield
        return

    def fire(signum, frame):
        raise SimplifyTimeout()

    old = signal.signal(signal.SIGALRM, fire)
    signal.setitimer(signal.ITIMER_REAL, max(float(seconds), 1e-3), 0.05)
    try:
        yield
    finally:
        while True:  # a last alarm may raise before the timer is off: switch it off again
            try:
                signal.setitimer(signal.ITIMER_REAL, 0)
                break
            except SimplifyTimeout:
                continue
        signal.signal(signal.SIGALRM, old)


def guarded(fn, seconds: float | None):
    """``fn()`` under the time guard; in a worker thread when not on the main thread."""
    if seconds is None or (hasattr(signal, "setitimer")
                           and threading.current_thread() is threading.main_thread()):
        with _deadline(seconds):
            return fn()
    box: dict = {}

    def work():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller
            box["error"] = exc

    t = threading.Thread(target=work, daemon=True)
    t.start()
    t.join(seconds)
    if t.is_alive():
        raise SimplifyTimeout()
    if "error" in box:
        raise box["error"]
    return box["value"]
