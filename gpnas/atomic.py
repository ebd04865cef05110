"""Safe writing: atomic files, one writer per directory, no temporary file left behind.

Atomic writes: a temporary file beside the target (``.<name>.tmp-<pid>-<hex>``), fsync, then
rename over it; a reader, or a kill at any moment, sees the old file or the new one, never half of
one.  Every module that writes a file atomically (run directories, the statistics store, ablation
summaries) goes through :func:`atomic_file`, or through :func:`staged_file` and :func:`publish`
where the fsync and rename should happen later or elsewhere (the statistics builder's workers write
shards and its main process publishes them, so no worker waits for the disk).

Locks: a writer of a run directory or a statistics store holds :func:`dir_lock`, an advisory
``fcntl.flock`` on the directory's ``.gpnas.lock`` (released by the kernel when the process ends,
however it ends); readers take no lock.  Holding it, the writer removes the temporary files that
a killed writer left (:func:`remove_orphans`).  A process forked while a lock is held (the
statistics builder's workers) closes its copy of the lock at once, so the lock never outlives the
process that took it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import secrets
from pathlib import Path
from typing import BinaryIO, Callable, Iterator

from gpnas.errors import GpnasError


@contextlib.contextmanager
def staged_file(path: str | Path) -> Iterator[tuple[BinaryIO, Path]]:
    """(binary file, its path) for the new contents of ``path``: a temporary file beside it,
    neither synced nor renamed -- hand its path to :func:`publish`.  On any exception the
    temporary file is removed; an OSError becomes a GpnasError naming ``path``, anything else
    propagates unchanged."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "xb") as f:
            yield f, tmp
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise GpnasError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def publish(tmp: str | Path, path: str | Path) -> None:
    """fsync the staged file ``tmp`` and rename it over ``path``; GpnasError naming ``path``
    (and ``tmp`` removed) when that fails."""
    try:
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise GpnasError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file for the new contents of ``path``: on a clean exit it is flushed, fsynced
    and renamed over ``path``.  On any exception the temporary file is removed; an OSError
    becomes a GpnasError naming ``path``, anything else propagates unchanged."""
    with staged_file(path) as (f, tmp):
        yield f
    publish(tmp, path)


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (a str is encoded as UTF-8) to ``path`` atomically; GpnasError naming
    ``path`` when it cannot be written."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_file(path) as f:
        f.write(data)


LOCK_NAME = ".gpnas.lock"
_TMP = re.compile(r"^\..+\.tmp-\d+-[0-9a-f]{8}$")


@contextlib.contextmanager
def dir_lock(path: str | Path, what: str, wait: bool = False,
             on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the exclusive lock of the directory ``path`` (which exists) for the block.

    Another process holding it: with ``wait``, block until it is free (``on_wait`` is told why
    first); without, a GpnasError that names ``what`` and the holder's process id."""
    path = Path(path)
    try:
        fd = os.open(path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as exc:
        why = "a symbolic link, refused" if exc.errno == errno.ELOOP else exc.strerror or exc
        raise GpnasError(f"cannot lock the {what} {path}: {path / LOCK_NAME}: {why}") from None
    _HELD.add(fd)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            if not wait:
                raise GpnasError(f"the {what} {path} is in use by another gpnas process (pid "
                                 f"{holder}); wait for it to finish, or use another directory")
            if on_wait is not None:
                on_wait(f"waiting for the {what} {path}, in use by gpnas process {holder}")
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        if fd in _HELD:  # not in a forked child, which closed it already
            _HELD.remove(fd)
            os.close(fd)


#: descriptors of the locks this process holds: a forked child closes its copies (a flock belongs
#: to the open file, so a child that kept one would hold the lock after its parent was killed)
_HELD: set[int] = set()


def _drop_inherited_locks() -> None:
    for fd in _HELD:
        with contextlib.suppress(OSError):
            os.close(fd)
    _HELD.clear()


os.register_at_fork(after_in_child=_drop_inherited_locks)


def remove_orphans(folder: str | Path) -> int:
    """Delete the temporary files of atomic writes that never finished in ``folder`` (their
    writer was killed); call it holding the folder's lock.  The number removed."""
    removed = 0
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        for p in Path(folder).iterdir():
            if _TMP.match(p.name) and p.is_file():
                with contextlib.suppress(FileNotFoundError):
                    p.unlink()
                    removed += 1
    return removed
