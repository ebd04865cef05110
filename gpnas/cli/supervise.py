"""Commands on Ray run their work in a child process that this one watches.

Ray ends a driver process on its own, with exit status 1 and no Python exception, when the
driver's node loses its Ray (the head's, when the driver runs there).  The work therefore runs
in a child (forked where the platform can); the child maps its own outcome to an exit status --
0 done, 2 a GpnasError (printed), 130 interrupted, 70 a bug (traceback printed) -- so any other
status means Ray ended it, and this process says so as a one-line error with the way to
continue.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import sys
import traceback

from gpnas.data.cluster import require_ray
from gpnas.console import err
from gpnas.errors import GpnasError

_BUG = 70


def supervised(work, *args, continue_with: str) -> None:
    """Run ``work(*args)`` in a child process; GpnasError when Ray ended it (or is missing)."""
    require_ray()
    ctx = mp.get_context("fork" if "fork" in mp.get_all_start_methods() else "spawn")
    child = ctx.Process(target=_child, args=(work, args))
    child.start()
    try:
        child.join()
    except KeyboardInterrupt:
        child.join()  # the child got the same signal; let it stop cleanly
        raise
    code = child.exitcode
    if code == 0:
        return
    if code in (2, 130, _BUG):
        sys.exit(code)  # the child said why
    how = f"signal {-code}" if code < 0 else f"exit status {code}"
    raise GpnasError(f"Ray ended the run's process ({how}): this node lost its Ray or the "
                     f"cluster's head; finished work is kept: {continue_with} to continue")


def _child(work, args) -> None:
    code = 0
    try:
        work(*args)
    except GpnasError as exc:
        err.print(f"[bold red]error:[/] {exc}")
        code = 2
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        code = 130
    except BaseException:  # noqa: BLE001 - a bug: its traceback, and a status that says so
        traceback.print_exc()
        code = _BUG
    finally:
        _leave_ray()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _leave_ray() -> None:
    """Disconnect (and stop a local Ray this process started): a forked child skips atexit."""
    ray = sys.modules.get("ray")
    if ray is not None and ray.is_initialized():
        ray.shutdown()
