"""Ray, for the commands that ask for it (``--executor ray``): connecting, waiting on remote
work while watching the cluster's head, and Ray's failures as one-line errors.

Ray is imported here, lazily, and nowhere else at module level, so runs that do not ask for it
never load or start it.  Without ``address`` gpnas starts a local Ray with the machine's cores
(and stops it at exit); with one it joins that cluster.  Remote work is awaited in short polls:
when the head (its GCS port) stops answering for :data:`HEAD_GRACE_S` seconds, the wait ends
with :class:`HeadLost` -- a :class:`~gpnas.errors.GpnasError` -- well before Ray's own reconnect
timeout would end the process without a word.
"""

from __future__ import annotations

import collections
import importlib.util
import logging
import os
import socket
import time
from typing import Callable, Iterable, Iterator

from gpnas.errors import GpnasError

INSTALL_HINT = "the Ray backend needs the optional dependency: pip install 'gpnas[ray]'"
POLL_S = 1.0  # how often a wait looks at the head when no result arrives
#: the head is lost when it has not answered for this long (Ray ends a driver at 60 s)
HEAD_GRACE_S = float(os.environ.get("GPNAS_RAY_HEAD_GRACE_S", 10.0))
#: worker faults Ray retries before giving up: task retries, actor restarts
RETRIES = 3


class HeadLost(GpnasError):
    """The cluster's head stopped answering; what was finished (shards, checkpoints) is kept."""

    def __init__(self, head: str, continue_with: str = "run the same command again"):
        self.head = head
        super().__init__(f"lost the Ray cluster's head at {head} (no answer for "
                         f"{HEAD_GRACE_S:.0f} s); finished work is kept: {continue_with} to "
                         "continue")


def require_ray() -> None:
    """A one-line GpnasError that says how to install Ray when it is missing (not imported)."""
    if importlib.util.find_spec("ray") is None:
        raise GpnasError(f"--executor ray: {INSTALL_HINT}")


def ray_module():
    """The ``ray`` package, or a one-line GpnasError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise GpnasError(f"--executor ray: {INSTALL_HINT}") from None
    return ray


def connect(address: str | None = None):
    """Join the cluster at ``address`` (``host:port`` or ``auto``), or start a local Ray with
    this machine's cores; a Ray that this process already joined is kept.  Returns ``ray``."""
    ray = ray_module()
    if ray.is_initialized():
        return ray
    kwargs = dict(logging_level=logging.WARNING, configure_logging=True)
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:
            ray.init(num_cpus=os.cpu_count() or 1, include_dashboard=False, **kwargs)
    except (ConnectionError, RuntimeError, ValueError, TimeoutError) as exc:
        where = f"the Ray cluster at {address}" if address else "a local Ray"
        raise GpnasError(f"cannot start or reach {where}: {str(exc).splitlines()[0]}") from None
    return ray


def cpus() -> int:
    """The CPUs of the joined cluster (at least 1)."""
    return max(1, int(ray_module().cluster_resources().get("CPU", 1)))


def _head() -> tuple[str, int]:
    host, port = ray_module().get_runtime_context().gcs_address.rsplit(":", 1)
    return host, int(port)


def _answers(head: tuple[str, int]) -> bool:
    try:
        socket.create_connection(head, timeout=2.0).close()
        return True
    except OSError:
        return False


class Watch:
    """Polls for ready results; raises HeadLost when the head stays silent."""

    def __init__(self):
        self.ray = ray_module()
        self.head = _head()
        self.silent_since: float | None = None

    def ready(self, refs: list) -> list:
        """Some of ``refs`` that are ready (waits up to POLL_S; may return none)."""
        done, _ = self.ray.wait(refs, num_returns=1, timeout=POLL_S)
        if done:
            return done
        if _answers(self.head):
            self.silent_since = None
        else:
            now = time.monotonic()
            self.silent_since = self.silent_since or now
            if now - self.silent_since >= HEAD_GRACE_S:
                raise HeadLost(f"{self.head[0]}:{self.head[1]}")
        return []

    def get(self, ref):
        """The value of a ready ref; Ray's failures as GpnasError (bugs keep their traceback)."""
        ray = self.ray
        try:
            return ray.get(ref)
        except ray.exceptions.RayTaskError as exc:
            if isinstance(exc.cause, GpnasError):
                raise GpnasError(str(exc.cause)) from None
            raise
        except ray.exceptions.RayError as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise GpnasError(f"Ray gave up on a worker after {RETRIES} retries "
                             f"({type(exc).__name__}: {first})") from None


def gather(refs: list) -> list:
    """The values of ``refs``, in order, watching the head."""
    watch, pending, index = Watch(), list(refs), {ref: i for i, ref in enumerate(refs)}
    out = [None] * len(refs)
    while pending:
        for ref in watch.ready(pending):
            pending.remove(ref)
            out[index[ref]] = watch.get(ref)
    return out


def stream(submit: Callable[[object], object], jobs: Iterable, window: int) -> Iterator:
    """``submit(job)`` -> ref for every job with at most ``window`` in flight; yields the values
    in job order, watching the head."""
    watch, jobs = Watch(), iter(jobs)
    pending: collections.deque = collections.deque()
    for job in jobs:
        pending.append(submit(job))
        if len(pending) >= window:
            break
    while pending:
        while not watch.ready([pending[0]]):
            pass
        value = watch.get(pending.popleft())
        job = next(jobs, None)
        if job is not None:
            pending.append(submit(job))
        yield value
