"""The statistics store: the 22 tensors of every instance of many networks, on disk.

Layout of a store directory::

    DIR/stats.json                  index: format, settings, tensor names, one record per network
    DIR/shards/000000.safetensors   one shard per network, tensors grouped by shape signature

A shard holds, for each shape group k of its network, the 22 tensors stacked over the group's
instances (execution order) under the keys ``g{k}/{name}`` (e.g. ``g0/weight_grad.noise``), in the
store's dtype (float16 by default; bfloat16 or float32 on request; collection always computes in
float32).  float16 tensors are stored with a per-row (per-instance) power-of-two scale, kept as
``g{k}/{name}#scale`` (float32, one factor per row): the scale is exact, keeps 11 significant bits
down to 2**-29 of each row's maximum and rules out overflow; without it about a tenth of all
gradient values would be float16 subnormals and some would flush to zero.  Shards are standard
safetensors files (no pickle) whose ``__metadata__`` repeats the network's record, so a shard
describes itself.  Readers memory-map the shards and copy only the requested networks, once, into
the compute dtype.

A network record (``StatsStore.nets[i]``) holds: ``id``, ``space``, ``arch``, ``accuracy``
(percent, ``None`` = unknown), ``metric``, ``seed``, ``batch_size``, ``order``, ``instances``,
``sep_instances`` (ReLU-Conv-Conv-BN ones), ``shapes`` (per group: ``act``, ``bn``, ``weight``
shapes), ``group_rows`` (per group: the execution-order indices of its rows), ``shard``,
``bytes``, ``sha256``, ``nonfinite`` (count of inf/NaN values collected), ``threads`` and
``seconds``.

Writes are atomic (temporary file, then rename) and the index is rewritten every few seconds and at
the end, so a killed build leaves a valid store: :func:`build_store` on the same directory resumes
(it adopts finished shards that the index had not recorded yet, rebuilds missing or truncated
shards in place and appends the missing networks).  A network's statistics depend only on
(seed, arch, settings), not on its position, so a store can grow and ids never change; its shard
is byte-identical in any store built with the same settings and torch thread count (``threads``
in the record; float32 reductions round differently with other thread counts, at the 1e-7
level).
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import mmap
import struct
import time
import warnings
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from primitives import STAT_NAMES, STATISTICS

from gpnas import __version__
from gpnas.atomic import atomic_file, write_atomic
from gpnas.errors import GpnasError
from gpnas.data.spaces import get_space
from gpnas.data.stats.collect import InstanceGroup, check_order, collect_with_info
from gpnas.data.stats.images import describe_source, sample_images

FORMAT = "gpnas-stats"
VERSION = 1
INDEX = "stats.json"
SHARD_DIR = "shards"
DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
_ST_DTYPE = {"F16": (np.float16, torch.float16, 2), "BF16": (np.uint16, torch.bfloat16, 2),
             "F32": (np.float32, torch.float32, 4)}
SCALE_SUFFIX = "#scale"  # per-row float32 decode factors of a float16 tensor
INDEX_EVERY_S = 2.0
#: collection definition version: bump when collect() changes what it records
COLLECTOR = 1


def _shape_class(name: str) -> str:
    return STATISTICS[name]  # "act" | "bn" | "weight"


# --------------------------------------------------------------------------- shard files

class _Shard:
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
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise GpnasError(f"statistics shard {path} is corrupt (unreadable header)") from None
            if not isinstance(header, dict):
                raise GpnasError(f"statistics shard {path} is corrupt (bad header)")
            self.metadata = header.pop("__metadata__", None) or {}
            self.start = 8 + n
            self.entries: dict[str, tuple[str, tuple[int, ...], int, int]] = {}
            for key, e in header.items():
                try:
                    dt = e["dtype"]
                    shape = tuple(int(v) for v in e["shape"])
                    a, b = (int(v) for v in e["data_offsets"])
                    ok = (dt in _ST_DTYPE and 0 <= a <= b
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


def _row_scale(t: torch.Tensor) -> tuple[torch.Tensor, int]:
    """(per-row power-of-two factors, count of non-finite values).

    The factors bring each row's largest finite |value| into [2**14, 2**15): float16 then keeps
    11 significant bits for everything down to 2**-15 of a row's maximum (without it, ~10-30 % of
    gradient values would be float16 subnormals and up to 15 % would flush to zero)."""
    flat = t.reshape(t.shape[0], -1)
    if flat.shape[1] == 0:
        return torch.ones(t.shape[0]), 0
    lo, hi = torch.aminmax(flat, dim=1)
    m = torch.maximum(hi, -lo)
    nonfinite = 0
    if not bool(torch.isfinite(m).all()):  # rare: inf / NaN somewhere; scale by finite values
        bad = ~torch.isfinite(flat)
        nonfinite = int(bad.sum())
        m = torch.where(bad, torch.zeros((), dtype=flat.dtype), flat.abs()).amax(dim=1)
    e = torch.where(m > 0, 14 - torch.floor(torch.log2(m.clamp_min(1e-38))),
                    torch.zeros_like(m)).clamp(-126, 126)
    return torch.exp2(e), nonfinite


def _to_storage(t: torch.Tensor, dtype: str) -> tuple[torch.Tensor, torch.Tensor | None, int]:
    """(tensor in the storage dtype, per-row decode factors or None, non-finite count).

    float16 rows are scaled by a power of two (exact) before the cast; the stored factor
    (float32, one per row) multiplies them back on load."""
    if dtype == "float16":
        t32 = t.float()
        if t32.shape[0] == 0:
            return t32.to(torch.float16), torch.ones(0), 0
        up, nonfinite = _row_scale(t32)
        scaled = t32.mul_(up.view(-1, *([1] * (t32.dim() - 1)))) if t32 is not t else \
            t32 * up.view(-1, *([1] * (t32.dim() - 1)))
        return scaled.to(torch.float16), (1.0 / up).float().contiguous(), nonfinite
    nonfinite = 0 if bool(torch.isfinite(t).all()) else int((~torch.isfinite(t)).sum())
    return t.to(DTYPES[dtype]).contiguous(), None, nonfinite


_TORCH_ST = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32"}


def _write_safetensors(path: Path, tensors: dict[str, torch.Tensor],
                       metadata: dict[str, str]) -> tuple[int, str]:
    """Write a standard safetensors file atomically, streaming the tensors (no copy of the whole
    file in memory); (size in bytes, SHA-256 hex)."""
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
    with atomic_file(path) as f:
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


# --------------------------------------------------------------------------- the store

class StatsStore:
    """A statistics store on disk (see the module docstring).

    ``StatsStore(path)`` reads the index and checks that every shard exists with the recorded
    size; anything missing, corrupt or truncated raises GpnasError naming the file.  Pass
    ``check_shards=False`` to open a damaged store (``verify()`` then lists the problems).
    """

    def __init__(self, path: str | Path, *, check_shards: bool = True):
        self.path = Path(path).expanduser()
        index = self.path / INDEX
        if not self.path.is_dir():
            raise GpnasError(f"statistics store {self.path} does not exist (build one with "
                             "`gpnas stats build`)")
        try:
            with open(index, encoding="utf-8") as f:
                meta = json.load(f)
        except FileNotFoundError:
            raise GpnasError(f"{self.path} is not a statistics store ({INDEX} is missing)") from None
        except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise GpnasError(f"statistics store index {index} is corrupt ({exc})") from None
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise GpnasError(f"{index} is not a gpnas statistics index")
        if meta.get("version") != VERSION:
            raise GpnasError(f"{index}: store format version {meta.get('version')} is not "
                             f"supported (this gpnas reads version {VERSION})")
        try:
            self.settings: dict = dict(meta["settings"])
            self.tensor_names: list[str] = list(meta["tensor_names"])
            self.nets: list[dict] = list(meta["nets"])
            for rec in self.nets:
                rec["shard"], rec["bytes"], rec["shapes"], rec["instances"]  # noqa: B018
        except (KeyError, TypeError):
            raise GpnasError(f"statistics store index {index} is corrupt (missing fields)") from None
        if tuple(self.tensor_names) != STAT_NAMES:
            raise GpnasError(f"{index}: the store's tensor names differ from this gpnas's")
        self.meta = meta
        if check_shards:
            for rec in self.nets:
                self._check_size(rec)

    # -- properties
    @property
    def dtype(self) -> str:
        return self.settings["dtype"]

    @property
    def batch_size(self) -> int:
        return int(self.settings["batch_size"])

    @property
    def space(self) -> str:
        return self.settings["space"]

    def __len__(self) -> int:
        return len(self.nets)

    def __repr__(self) -> str:
        return f"StatsStore({str(self.path)!r}, {len(self)} nets of {self.space}, {self.dtype})"

    def accuracies(self) -> np.ndarray:
        """Accuracy (percent) of every network by id; NaN where unknown."""
        return np.array([np.nan if r.get("accuracy") is None else float(r["accuracy"])
                         for r in self.nets], dtype=np.float64)

    def instances(self) -> list[int]:
        return [int(r["instances"]) for r in self.nets]

    def arch_index(self) -> dict[str, int]:
        return {r["arch"]: i for i, r in enumerate(self.nets)}

    def shard_path(self, rec: dict) -> Path:
        return self.path / rec["shard"]

    def disk_bytes(self) -> int:
        total = 0
        for p in [self.path / INDEX] + [self.shard_path(r) for r in self.nets]:
            try:
                total += p.stat().st_size
            except OSError:
                pass
        return total

    def _check_size(self, rec: dict) -> None:
        p = self.shard_path(rec)
        try:
            size = p.stat().st_size
        except FileNotFoundError:
            raise GpnasError(f"statistics shard {p} is missing (network {rec.get('id')}, "
                             f"{rec.get('arch')}); rerun `gpnas stats build` with the same "
                             "options to rebuild it") from None
        if size != rec["bytes"]:
            what = "truncated" if size < rec["bytes"] else "has the wrong size"
            raise GpnasError(f"statistics shard {p} is {what} ({size} bytes, the index says "
                             f"{rec['bytes']}); rerun `gpnas stats build` with the same options "
                             "to rebuild it")

    def _net(self, net_id) -> dict:
        try:
            i = int(net_id)
            if i < 0:
                raise IndexError
            return self.nets[i]
        except (IndexError, TypeError, ValueError):
            raise GpnasError(f"{self.path}: no network with id {net_id!r} (the store has "
                             f"{len(self)})") from None

    def _open(self, rec: dict) -> _Shard:
        return _Shard(self.shard_path(rec), expect_bytes=rec["bytes"])

    # -- reading
    def load_groups(self, net_ids: Sequence[int], dtype: torch.dtype = torch.float32,
                    ) -> list[InstanceGroup]:
        """The instances of the networks ``net_ids``, grouped by shape signature.

        ``InstanceGroup.net`` holds positions in ``net_ids``; rows are ordered by network, then by
        execution order.  Only these networks' shards are read (memory-mapped), each value copied
        once into ``dtype``.
        """
        recs = [self._net(i) for i in net_ids]
        sig_index: dict[tuple, int] = {}
        sig_shapes: list[dict[str, tuple[int, ...]]] = []
        counts: list[int] = []
        plan: list[list[tuple[int, int, int]]] = []  # per position: (global group, local k, rows)
        for rec in recs:
            entry = []
            for k, shp in enumerate(rec["shapes"]):
                shapes = {c: tuple(int(v) for v in shp[c]) for c in ("act", "bn", "weight")}
                key = (shapes["act"], shapes["bn"], shapes["weight"])
                g = sig_index.get(key)
                if g is None:
                    g = sig_index[key] = len(sig_shapes)
                    sig_shapes.append(shapes)
                    counts.append(0)
                n = len(rec["group_rows"][k])
                counts[g] += n
                entry.append((g, k, n))
            plan.append(entry)
        out = [{name: torch.empty((counts[g],) + sig_shapes[g][_shape_class(name)], dtype=dtype)
                for name in STAT_NAMES} for g in range(len(sig_shapes))]
        nets = [torch.empty(counts[g], dtype=torch.int64) for g in range(len(sig_shapes))]
        fill = [0] * len(sig_shapes)
        for pos, (rec, entry) in enumerate(zip(recs, plan)):
            shard = self._open(rec)
            for g, k, n in entry:
                a = fill[g]
                for name in STAT_NAMES:
                    src = shard.tensor(f"g{k}/{name}")
                    dst = out[g][name][a:a + n]
                    if src.shape != dst.shape:
                        raise GpnasError(f"statistics shard {shard.path} is corrupt (tensor "
                                         f"g{k}/{name} has shape {tuple(src.shape)}, the index "
                                         f"says {tuple(dst.shape)})")
                    scale = shard.scale(f"g{k}/{name}")
                    if scale is None:
                        dst.copy_(src)
                    elif dtype == torch.float32:
                        dst.copy_(src)  # (faster than one mixed-dtype multiply)
                        dst.mul_(scale.view(-1, *([1] * (dst.dim() - 1))))
                    else:
                        dst.copy_(src.float() * scale.view(-1, *([1] * (dst.dim() - 1))))
                nets[g][a:a + n] = pos
                fill[g] = a + n
            del shard
        return [InstanceGroup(net=nets[g], tensors=out[g]) for g in range(len(sig_shapes))]

    def load_net(self, net_id: int, dtype: torch.dtype = torch.float32,
                 ) -> list[dict[str, torch.Tensor]]:
        """One network's instances in execution order (as :func:`collect` returns them)."""
        rec = self._net(net_id)
        shard = self._open(rec)
        rows: dict[int, dict[str, torch.Tensor]] = {}
        for k, idx in enumerate(rec["group_rows"]):
            tensors = {name: shard.decoded(f"g{k}/{name}", dtype) for name in STAT_NAMES}
            for j, r in enumerate(idx):
                rows[int(r)] = {name: tensors[name][j] for name in STAT_NAMES}
        return [rows[i] for i in sorted(rows)]

    # -- checking
    def verify(self, deep: bool = True) -> list[str]:
        """Problems found: missing, truncated or corrupt shards, tensors that do not match the
        index, and (``deep``) shards whose SHA-256 differs from the one recorded at write time."""
        problems = []
        for rec in self.nets:
            p = self.shard_path(rec)
            try:
                shard = self._open(rec)
                for k, shp in enumerate(rec["shapes"]):
                    n = len(rec["group_rows"][k])
                    for name in STAT_NAMES:
                        want = (n,) + tuple(shp[_shape_class(name)])
                        got = shard.entries.get(f"g{k}/{name}")
                        if got is None or got[1] != want:
                            raise GpnasError(f"statistics shard {p} is corrupt (tensor "
                                             f"g{k}/{name}: {None if got is None else got[1]}, "
                                             f"expected {want})")
                del shard
                if deep and rec.get("sha256"):
                    if _sha256(p) != rec["sha256"]:
                        raise GpnasError(f"statistics shard {p} is corrupt (SHA-256 differs from "
                                         "the one recorded when it was written)")
            except GpnasError as exc:
                problems.append(f"network {rec.get('id')}: {exc}")
        return problems


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()


# --------------------------------------------------------------------------- building

def _settings(space: str, batch_size: int, seed: int, order: str, images_path, dtype: str,
              metric: str) -> dict:
    return {"space": space, "batch_size": int(batch_size), "seed": int(seed), "order": order,
            "images": describe_source(images_path), "dtype": dtype, "metric": metric,
            "sep_policy": "first-conv", "collector": COLLECTOR}


def _new_index(settings: dict) -> dict:
    return {"format": FORMAT, "version": VERSION, "gpnas": __version__,
            "torch": torch.__version__, "settings": settings, "tensor_names": list(STAT_NAMES),
            "nets": []}


def _write_index(out: Path, meta: dict) -> None:
    write_atomic(out / INDEX, json.dumps(meta, indent=1))


def _write_net(path: Path, rec: dict, instances: list[dict[str, torch.Tensor]], dtype: str,
               settings: dict) -> None:
    """Group one network's instances by shape, fill ``rec`` (shapes, group_rows, nonfinite,
    bytes, sha256) and write its shard."""
    order: dict[tuple, list[int]] = {}
    for i, inst in enumerate(instances):
        key = tuple(tuple(inst[n].shape) for n in ("relu_in.data", "bn_out.data", "weight"))
        order.setdefault(key, []).append(i)
    tensors: dict[str, torch.Tensor] = {}
    shapes, rows_all, nonfinite = [], [], 0
    for k, (key, rows) in enumerate(order.items()):
        for name in STAT_NAMES:
            stacked = torch.stack([instances[i][name] for i in rows])
            stored, scale, bad = _to_storage(stacked, dtype)
            tensors[f"g{k}/{name}"] = stored
            if scale is not None:
                tensors[f"g{k}/{name}{SCALE_SUFFIX}"] = scale
            nonfinite += bad
        shapes.append({"act": list(key[0]), "bn": list(key[1]), "weight": list(key[2])})
        rows_all.append(rows)
    rec.update(shapes=shapes, group_rows=rows_all, nonfinite=nonfinite)
    # one metadata key, keys sorted: the same network's shard is byte-identical from run to run
    net = {k: v for k, v in rec.items() if k not in ("shard", "bytes", "sha256", "seconds")}
    meta = {"gpnas": json.dumps({"net": net, "settings": settings}, sort_keys=True)}
    size, digest = _write_safetensors(path, tensors, meta)
    rec.update(bytes=size, sha256=digest)


def _adopt(out: Path, rel: str, settings: dict, arch_ok) -> dict | None:
    """The record of a finished shard the index has not recorded (a killed build), or None."""
    p = out / rel
    if not p.is_file():
        return None
    try:
        shard = _Shard(p)
        info = json.loads(shard.metadata.get("gpnas", "null"))
        rec = info["net"]
        if info["settings"] != settings:
            return None
        if not isinstance(rec, dict) or not arch_ok(rec.get("arch")):
            return None
        for k, shp in enumerate(rec["shapes"]):
            n = len(rec["group_rows"][k])
            for name in STAT_NAMES:
                if shard.entries[f"g{k}/{name}"][1] != (n,) + tuple(shp[_shape_class(name)]):
                    return None
        del shard
    except (GpnasError, ValueError, KeyError, TypeError, IndexError):
        return None
    rec.update(shard=rel, bytes=p.stat().st_size, sha256=_sha256(p))
    return rec


@functools.lru_cache(maxsize=8)
def _images(space: str, batch_size: int, seed: int, images_path: str | None) -> torch.Tensor:
    return sample_images(space, batch_size, seed, images_path)


class _Threads:
    """Set torch's intra-op thread count for a block (None: leave it)."""

    def __init__(self, n: int | None):
        self.n = n
        self.old = torch.get_num_threads()

    def __enter__(self):
        if self.n is not None:
            torch.set_num_threads(max(1, int(self.n)))

    def __exit__(self, *exc):
        torch.set_num_threads(self.old)


def net_statistics(space: str, arch: str, *, batch_size: int = 1, seed: int = 0,
                   order: str = "rcb", images_path: str | Path | None = None,
                   threads: int | None = 1) -> list[dict[str, torch.Tensor]]:
    """One network's instances in memory (float32), exactly as :func:`build_store` collects them
    with the same settings (same network, images, noise and thread count): for held-out networks
    that need not go to disk."""
    sp = get_space(space)
    arch = sp.canonical(arch)
    images = _images(sp.name, int(batch_size), int(seed),
                     None if images_path is None else str(images_path))
    with _Threads(threads):
        return collect_with_info(sp.build(arch, seed=seed), images, seed=seed, order=order)[0]


def _progress(enabled: bool):
    from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn,
                               TimeElapsedColumn, TimeRemainingColumn)

    from gpnas.console import err

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TimeElapsedColumn(), TimeRemainingColumn(),
                    console=err, disable=not enabled, transient=False)


def build_store(out: str | Path, space: str, archs: list[str], accuracies=None, *,
                metric: str, batch_size: int = 1, seed: int = 0, order: str = "rcb",
                images_path: str | Path | None = None, dtype: str = "float16",
                progress: bool = True, threads: int | None = 1, jobs: int = 1) -> StatsStore:
    """Create or extend the store ``out`` with the statistics of ``archs``.

    ``accuracies``: one per arch (percent; NaN/None = unknown), or None.  Networks already in the
    store are kept (their accuracy is not changed); missing, truncated or unreadable shards are
    rebuilt in place; the rest are built and appended.  An existing store built with other
    settings (space, batch size, seed, order, images, dtype, metric) is an error.  Each network is
    built with ``Space.build(arch, seed=seed)`` and collected on the same image batch
    (``sample_images(space, batch_size, seed, images_path)``) with ``collect(seed=seed)``, so its
    statistics depend only on (seed, arch, settings).

    ``threads``: torch intra-op threads while collecting (restored afterwards; None = leave as
    is).  The default is 1: batch-1 convolutions of 32x32 images gain nothing from threads, and on
    a busy machine OpenMP threads that wait for each other made collection 20-40x slower.
    ``jobs`` > 1 collects in that many worker processes (each with ``threads`` threads); the
    results, and the store, are the same as with one.
    """
    sp = get_space(space)
    if dtype not in DTYPES:
        raise GpnasError(f"unknown storage dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    check_order(order)
    if int(batch_size) < 1:
        raise GpnasError(f"batch size must be at least 1, got {batch_size}")
    archs = [sp.canonical(a) for a in archs]
    if accuracies is None:
        accuracies = [None] * len(archs)
    accuracies = list(accuracies)
    if len(accuracies) != len(archs):
        raise GpnasError(f"{len(archs)} architectures but {len(accuracies)} accuracies")
    wanted: dict[str, float | None] = {}
    for a, acc in zip(archs, accuracies):
        acc = None if acc is None or not math.isfinite(float(acc)) else float(acc)
        wanted.setdefault(a, acc)

    out = Path(out).expanduser()
    settings = _settings(sp.name, batch_size, seed, order, images_path, dtype, metric)
    if (out / INDEX).exists():
        store = StatsStore(out, check_shards=False)
        diff = {k: (store.settings.get(k), v) for k, v in settings.items()
                if store.settings.get(k) != v}
        if diff:
            raise GpnasError(f"statistics store {out} was built with other settings: "
                             + "; ".join(f"{k}: store has {a!r}, this build asks {b!r}"
                                         for k, (a, b) in diff.items())
                             + ". Use another --out or the store's settings.")
        meta = store.meta
    else:
        if out.exists() and not out.is_dir():
            raise GpnasError(f"--out {out} exists and is not a directory")
        if out.exists() and any(out.iterdir()) and not (out / SHARD_DIR).is_dir():
            raise GpnasError(f"--out {out} is a non-empty directory that is not a statistics "
                             "store; choose an empty or new directory")
        meta = _new_index(settings)
    try:
        (out / SHARD_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GpnasError(f"cannot create {out / SHARD_DIR}: {exc.strerror or exc}") from None
    nets: list[dict] = meta["nets"]

    # adopt shards a killed build finished after its last index write
    adopted = 0
    while True:
        rel = f"{SHARD_DIR}/{len(nets):06d}.safetensors"
        rec = _adopt(out, rel, settings, lambda a: isinstance(a, str))
        if rec is None:
            break
        rec["id"] = len(nets)
        nets.append(rec)
        adopted += 1

    # shards to rebuild in place (missing / wrong size / unreadable header)
    todo: list[tuple[int | None, str, float | None]] = []
    for i, rec in enumerate(nets):
        try:
            del_shard = _Shard(out / rec["shard"], expect_bytes=rec["bytes"])
            del del_shard
        except GpnasError:
            todo.append((i, rec["arch"], rec.get("accuracy")))
    have = {rec["arch"] for rec in nets}
    todo += [(None, a, acc) for a, acc in wanted.items() if a not in have]
    if adopted or todo or not (out / INDEX).exists():
        _write_index(out, meta)
    if not todo:
        return StatsStore(out)

    # the image batch, once here: a bad --images path fails before any work starts
    _images(sp.name, int(batch_size), int(seed), None if images_path is None else str(images_path))
    jobs_list = []
    next_id = len(nets)
    for pos, arch, acc in todo:
        if pos is None:
            net_id, rel = next_id, f"{SHARD_DIR}/{next_id:06d}.safetensors"
            next_id += 1
        else:
            net_id, rel = pos, nets[pos]["shard"]
        jobs_list.append(dict(space=sp.name, arch=arch, acc=acc, net_id=net_id, metric=metric,
                              batch_size=int(batch_size), seed=int(seed), order=order,
                              images_path=None if images_path is None else str(images_path),
                              dtype=dtype, settings=settings, rel=rel, out=str(out)))
    last_write = time.monotonic()
    t0 = time.monotonic()
    with _progress(progress) as bar, _Threads(threads):
        task = bar.add_task(f"stats {sp.name}", total=len(jobs_list), rate="")
        try:
            for done, rec in enumerate(_run_jobs(jobs_list, jobs, threads), start=1):
                if rec["id"] < len(nets):
                    nets[rec["id"]] = rec
                else:
                    nets.append(rec)
                if time.monotonic() - last_write > INDEX_EVERY_S:
                    _write_index(out, meta)
                    last_write = time.monotonic()
                rate = done / max(time.monotonic() - t0, 1e-9)
                bar.update(task, advance=1, rate=f"{rate:.2f} nets/s")
        finally:
            _write_index(out, meta)
    return StatsStore(out)


def _make_net(*, space, arch, acc, net_id, metric, batch_size, seed, order, images_path, dtype,
              settings, rel, out) -> dict:
    """Build and collect one network and write its shard; its record."""
    t = time.monotonic()
    sp = get_space(space)
    images = _images(space, batch_size, seed, images_path)
    instances, info = collect_with_info(sp.build(arch, seed=seed), images, seed=seed, order=order)
    rec = {"id": net_id, "space": space, "arch": arch, "accuracy": acc, "metric": metric,
           "seed": seed, "batch_size": batch_size, "order": order, "instances": len(instances),
           "sep_instances": info.n_sep, "threads": torch.get_num_threads()}
    rec["shard"] = rel
    _write_net(Path(out) / rel, rec, instances, dtype, settings)
    rec["seconds"] = round(time.monotonic() - t, 4)
    return rec


def _worker_init(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))


def _worker(job: dict) -> dict:
    return _make_net(**job)


def _run_jobs(jobs_list: list[dict], jobs: int, threads: int | None):
    """Records in job order: from this process, or from ``jobs`` worker processes (at most
    2 x jobs networks in flight)."""
    if jobs <= 1 or len(jobs_list) <= 1:
        for job in jobs_list:
            yield _make_net(**job)
        return
    import collections
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    # fork where there is one (Linux): workers start at once and need no `if __name__ ==
    # "__main__"` guard in the caller's script; they only compute and write their shard
    method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(jobs_list)),
                               mp_context=multiprocessing.get_context(method),
                               initializer=_worker_init, initargs=(threads,))
    try:
        pending = collections.deque()
        it = iter(jobs_list)
        for job in it:
            pending.append(pool.submit(_worker, job))
            if len(pending) >= 2 * jobs:
                break
        while pending:
            result = pending.popleft().result()
            job = next(it, None)
            if job is not None:
                pending.append(pool.submit(_worker, job))
            yield result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["DTYPES", "StatsStore", "build_store", "net_statistics"]
