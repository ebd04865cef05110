"""Atomic file writes: a temporary file beside the target, fsync, then rename over it.

A reader, or a kill at any moment, sees the old file or the new one, never half of one.  Every
module that writes a file atomically (run directories, the statistics store, ablation summaries)
goes through :func:`atomic_file`.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import BinaryIO, Iterator

from gpnas.errors import GpnasError


@contextlib.contextmanager
def atomic_file(path: str | Path) -> Iterator[BinaryIO]:
    """A binary file for the new contents of ``path``: on a clean exit it is flushed, fsynced
    and renamed over ``path``.  On any exception the temporary file is removed; an OSError
    becomes a GpnasError naming ``path``, anything else propagates unchanged."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{secrets.token_hex(4)}")
    try:
        with open(tmp, "xb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError):
            raise GpnasError(f"cannot write {path}: {exc.strerror or exc}") from None
        raise


def write_atomic(path: str | Path, data: str | bytes) -> None:
    """Write ``data`` (a str is encoded as UTF-8) to ``path`` atomically; GpnasError naming
    ``path`` when it cannot be written."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    with atomic_file(path) as f:
        f.write(data)
