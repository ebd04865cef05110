"""The shard file format: one network's statistics in one safetensors file.

A shard holds, for each shape group k of its network, the 22 tensors stacked over the group's
instances (execution order) under the keys ``g{k}/{name}`` (e.g. ``g0/weight_grad.noise``), in the
store's dtype (float16 by default; bfloat16 or float32 on request; collection always computes in
float32).  float16 tensors are stored with a per-row (per-instance) power-of-two scale, kept as
``g{k}/{name}#scale`` (float32, one factor per row): the scale is exact, keeps 11 significant bits
down to 2**-29 of each row's maximum and rules out overflow; without it about a tenth of all
gradient values would be float16 subnormals and some would flush to zero.  Shards are standard
safetensors files (no pickle) whose ``__metadata__`` repeats the network's record, so a shard
describes itself.  Readers memory-map the shards and copy only what they need.
"""

from __future__ import annotations

import hashlib
import json
import math
import mmap
import struct
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch

from primitives import STAT_NAMES, STATISTICS
from primitives.cross import INSTANCE_TERMINALS as CROSS_INSTANCE

from gpnas.atomic import publish, staged_file
from gpnas.data.stats.trace import group_by_shape
from gpnas.errors import GpnasError

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
_ST_DTYPE = {"F16": (np.float16, torch.float16, 2), "BF16": (np.uint16, torch.bfloat16, 2),
             "F32": (np.float32, torch.float32, 4)}
_TORCH_ST = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32"}
SCALE_SUFFIX = "#scale"  # per-row float32 decode factors of a float16 tensor


def shape_class(name: str) -> str:
    """The shape class of a statistic: ``act``, ``bn`` or ``weight``."""
    return STATISTICS[name]


def instance_shape(name: str, shapes: dict, cross_batch: int) -> tuple[int, ...]:
    """The shape of one instance's tensor ``name``, from its group's ``shapes`` (``act``, ``bn``,
    ``weight``) and the store's cross-sample batch: a statistic has its class's shape, a B x B
    cross-sample matrix (B, B), the channel covariance (C_out, C_out), the pattern count ()."""
    if name in STATISTICS:
        return tuple(int(v) for v in shapes[shape_class(name)])
    kind = CROSS_INSTANCE[name]
    if kind == "bmat":
        return (cross_batch, cross_batch)
    if kind == "cmat":
        c = int(shapes["bn"][1])
        return (c, c)
    return ()


def network_key(name: str) -> str:
    """The shard key of a per-network tensor (e.g. ``net/input_grad.gram``)."""
    return f"net/{name}"


class Shard:
    """A parsed safetensors file, memory-mapped."""

    def __init__(self, path: Path, expect_bytes: int | None = None):
        self.path = path
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise GpnasError(f"statistics shard {path} is missing") from None
        except OSError as exc:
            raise GpnasError(f"cannot read statistics shard {path}: {exc.strerror}") from None
        if expect_bytes is not None and size != expect_bytes:
            what = "truncated" if size < expect_bytes else "has the wrong size"
            raise GpnasError(f"statistics shard {path} is {what} ({size} bytes, the index "
                             f"says {expect_bytes}); rerun `gpnas stats build` with the same "
                             "options to rebuild it")
        if size < 8:
            raise GpnasError(f"statistics shard {path} is truncated ({size} bytes)")
        with open(path, "rb") as f:
            (n,) = struct.unpack("<Q", f.read(8))
            if n > size - 8 or n > 64 * 2**20:
                raise GpnasError(f"statistics shard {path} is corrupt or truncated (header of "
                                 f"{n} bytes in a {size}-byte file)")
            raw = f.read(n)
            try:
                header = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
                raise GpnasError(f"statistics shard {path} is corrupt (unreadable header)") from None
            if not isinstance(header, dict):
                raise GpnasError(f"statistics shard {path} is corrupt (bad header)")
            self.metadata = header.pop("__metadata__", None) or {}
            if not isinstance(self.metadata, dict):
                raise GpnasError(f"statistics shard {path} is corrupt (bad metadata)")
            self.start = 8 + n
            self.entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
            for key, e in header.items():
                try:
                    dt = e["dtype"]
                    shape = tuple(int(v) for v in e["shape"])
                    a, b = (int(v) for v in e["data_offsets"])
                    ok = (dt in _ST_DTYPE and 0 <= a <= b and min(shape, default=0) >= 0
                          and b - a == math.prod(shape) * _ST_DTYPE[dt][2])
                except (KeyError, TypeError, ValueError):
                    ok = False
                if not ok:
                    raise GpnasError(f"statistics shard {path} is corrupt (entry {key!r})")
                if self.start + b > size:
                    raise GpnasError(f"statistics shard {path} is truncated ({size} bytes, "
                                     f"tensor {key} ends at {self.start + b})")
                self.entries[key] = (dt, shape, a, b)
            self.mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) if size else None

    def tensor(self, key: str) -> torch.Tensor:
        """A read-only tensor viewing the mapped file (no copy)."""
        try:
            dt, shape, a, b = self.entries[key]
        except KeyError:
            raise GpnasError(f"statistics shard {self.path} lacks tensor {key}") from None
        np_dt, torch_dt, size = _ST_DTYPE[dt]
        arr = np.frombuffer(self.mm, dtype=np_dt, count=(b - a) // size, offset=self.start + a)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # non-writable buffer: we only read it
            t = torch.from_numpy(arr)
        if torch_dt == torch.bfloat16:
            t = t.view(torch.bfloat16)
        return t.view(shape)

    def scale(self, key: str) -> torch.Tensor | None:
        """The per-row decode factors of a float16 tensor, if it was stored scaled."""
        skey = key + SCALE_SUFFIX
        return self.tensor(skey) if skey in self.entries else None

    def decoded(self, key: str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """A tensor in ``dtype`` with its scale applied (a copy)."""
        t = self.tensor(key)
        s = self.scale(key)
        if s is None:
            return t.to(dtype, copy=True)
        return (t.float() * s.view(-1, *([1] * (t.dim() - 1)))).to(dtype)


def _factors(m: torch.Tensor) -> torch.Tensor:
    """Power-of-two factors that bring the row maxima ``m`` into [2**14, 2**15)."""
    e = torch.where(m > 0, 14 - torch.floor(torch.log2(m.clamp_min(1e-38))),
                    torch.zeros_like(m)).clamp(-126, 126)
    return torch.exp2(e)


def _row_max(flat: torch.Tensor) -> torch.Tensor:
    # amax and amin, not aminmax: two vectorised passes are ~5x faster than aminmax on CPU
    return torch.maximum(flat.amax(dim=1), -flat.amin(dim=1))


def row_scale(t: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(per-row power-of-two factors, count of non-finite values).

    The factors bring each row's largest finite |value| into [2**14, 2**15): float16 then keeps
    11 significant bits for everything down to 2**-15 of a row's maximum (without it, ~10-30 % of
    gradient values would be float16 subnormals and up to 15 % would flush to zero)."""
    flat = t.reshape(t.shape[0], -1)
    if flat.shape[1] == 0:
        return torch.ones(t.shape[0]), 0
    m = _row_max(flat)
    nonfinite = 0
    if not bool(torch.isfinite(m).all()):  # rare: inf / NaN somewhere; scale by finite values
        bad = ~torch.isfinite(flat)
        nonfinite = int(bad.sum())
        m = torch.where(bad, torch.zeros((), dtype=flat.dtype), flat.abs()).amax(dim=1)
    return _factors(m), nonfinite


def _scaled_half(t32: torch.Tensor, up: torch.Tensor) -> torch.Tensor:
    """``t32 * up`` (one factor per row) rounded to float16 in one pass (no float32 temporary)."""
    scaled = torch.empty(t32.shape, dtype=torch.float16)
    return torch.mul(t32, up.view(-1, *([1] * (t32.dim() - 1))), out=scaled)


def to_storage(t: torch.Tensor, dtype: str) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """(tensor in the storage dtype, per-row decode factors or None, non-finite count).

    float16 rows are scaled by a power of two (exact) before the cast; the stored factor
    (float32, one per row) multiplies them back on load."""
    if dtype == "float16":
        t32 = t.float()
        if t32.shape[0] == 0:
            return t32.to(torch.float16), torch.ones(0), 0
        up, nonfinite = row_scale(t32)
        return _scaled_half(t32, up), (1.0 / up).float().contiguous(), nonfinite
    nonfinite = 0 if bool(torch.isfinite(t).all()) else int((~torch.isfinite(t)).sum())
    return t.to(DTYPES[dtype]).contiguous(), None, nonfinite


def to_storage_many(tensors: list[torch.Tensor], dtype: str) -> list[tuple]:
    """:func:`to_storage` of each tensor (float32, same number of rows, none empty); the
    float16 factors of all of them computed at once (fewer small operations)."""
    if dtype != "float16" or not tensors or any(t.dtype != torch.float32 or t[0].numel() == 0
                                                for t in tensors):
        return [to_storage(t, dtype) for t in tensors]
    m = torch.stack([_row_max(t.reshape(t.shape[0], -1)) for t in tensors])
    if not bool(torch.isfinite(m).all()):  # rare: scale those tensors by their finite values
        return [to_storage(t, dtype) for t in tensors]
    up = _factors(m)
    down = (1.0 / up).float()
    return [(_scaled_half(t, u), d, 0) for t, u, d in zip(tensors, up, down)]


def write_safetensors(f: BinaryIO, tensors: dict[str, torch.Tensor],
                      metadata: dict[str, str]) -> tuple[int, str]:
    """Write a standard safetensors file to the open binary file ``f``, streaming the tensors (no
    copy of the whole file in memory); (size in bytes, SHA-256 hex)."""
    header: dict = {"__metadata__": metadata}
    order = sorted(tensors)
    offset = 0
    for key in order:
        t = tensors[key]
        n = t.numel() * t.element_size()
        header[key] = {"dtype": _TORCH_ST[t.dtype], "shape": list(t.shape),
                       "data_offsets": [offset, offset + n]}
        offset += n
    raw = json.dumps(header, separators=(",", ":")).encode("utf-8")
    raw += b" " * (-len(raw) % 8)
    h = hashlib.sha256()
    for chunk in (struct.pack("<Q", len(raw)), raw):
        f.write(chunk)
        h.update(chunk)
    for key in order:
        t = tensors[key].contiguous()
        if t.dtype == torch.bfloat16:
            t = t.view(torch.int16)
        buf = memoryview(t.numpy()).cast("B")
        f.write(buf)
        h.update(buf)
    return 8 + len(raw) + offset, h.hexdigest()


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


def write_net(path: Path, rec: dict, instances: list[dict[str, torch.Tensor]], dtype: str,
              settings: dict, network: dict[str, torch.Tensor] | None = None,
              staged: bool = False) -> Path | None:
    """Group one network's instances by shape, fill ``rec`` (shapes, group_rows, nonfinite,
    bytes, sha256) and write its shard atomically.  Cross-sample statistics (per instance, and
    the ``network`` ones) are small and precision-critical: they are stored as float32.
    ``staged``: leave the shard in a temporary file beside ``path`` and return that file's path,
    for :func:`gpnas.atomic.publish`."""
    tensors: dict[str, torch.Tensor] = {}
    shapes, rows_all, nonfinite = [], [], 0
    cross = [n for n in CROSS_INSTANCE if instances and n in instances[0]]
    for k, (key, rows) in enumerate(group_by_shape(instances).items()):
        def stacked(name):
            return torch.stack([instances[i][name] for i in rows])

        stored_all = to_storage_many([stacked(name) for name in STAT_NAMES], dtype)
        stored_all += [to_storage(stacked(name), "float32") for name in cross]
        for name, (stored, scale, bad) in zip(list(STAT_NAMES) + cross, stored_all):
            tensors[f"g{k}/{name}"] = stored
            if scale is not None:
                tensors[f"g{k}/{name}{SCALE_SUFFIX}"] = scale
            nonfinite += bad
        shapes.append({"act": list(key[0]), "bn": list(key[1]), "weight": list(key[2])})
        rows_all.append(rows)
    for name, t in (network or {}).items():
        tensors[network_key(name)] = t.float().contiguous()
    rec.update(shapes=shapes, group_rows=rows_all, nonfinite=nonfinite)
    # one metadata key, keys sorted: the same network's shard is byte-identical from run to run
    net = {k: v for k, v in rec.items() if k not in ("shard", "bytes", "sha256", "seconds")}
    meta = {"gpnas": json.dumps({"net": net, "settings": settings}, sort_keys=True)}
    with staged_file(path) as (f, tmp):
        size, digest = write_safetensors(f, tensors, meta)
    rec.update(bytes=size, sha256=digest)
    if staged:
        return tmp
    publish(tmp, path)
    return None
