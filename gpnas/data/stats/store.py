"""The statistics store (the reader): the 22 tensors of every instance of many networks, on disk.

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

import math
import threading
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from primitives import STAT_NAMES

from gpnas.data.stats.collect import InstanceGroup
from primitives.cross import INSTANCE_TERMINALS as CROSS_INSTANCE

from gpnas.data.stats.shards import Shard, instance_shape, network_key, sha256
from gpnas.errors import GpnasError
from gpnas.schemas import StoreIndex, parse, read_json

FORMAT = "gpnas-stats"
VERSION = 1
INDEX = "stats.json"
SHARD_DIR = "shards"


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
        if not index.exists():
            raise GpnasError(f"{self.path} is not a statistics store ({INDEX} is missing)")
        meta = read_json(index, "statistics store index")
        if not isinstance(meta, dict) or meta.get("format") != FORMAT:
            raise GpnasError(f"{index} is not a gpnas statistics index")
        if meta.get("version") != VERSION:
            raise GpnasError(f"{index}: store format version {meta.get('version')!r} is not "
                             f"supported (this gpnas reads version {VERSION})")
        parse(StoreIndex, meta, str(index))
        self.settings: dict = dict(meta["settings"])
        self.tensor_names: list[str] = list(meta["tensor_names"])
        self.nets: list[dict] = list(meta["nets"])
        extra = self.tensor_names[len(STAT_NAMES):]
        if tuple(self.tensor_names[:len(STAT_NAMES)]) != STAT_NAMES or \
                extra != [n for n in CROSS_INSTANCE if n in extra]:
            raise GpnasError(f"{index}: the store's tensor names differ from this gpnas's")
        self.network_names: list[str] = list(meta.get("network_names", []))
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
    def cross_batch(self) -> int:
        """Images of the cross-sample statistics' batch (0: the store has none)."""
        return int(self.settings.get("cross_batch", 0))

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

    def conv_params(self) -> np.ndarray:
        """Conv weight elements of the instances of every network by id (``net_params``)."""
        return np.array([sum(len(rows) * math.prod(shp["weight"])
                             for rows, shp in zip(r["group_rows"], r["shapes"]))
                         for r in self.nets], dtype=np.float64)

    def arch_index(self) -> dict[str, int]:
        return {r["arch"]: i for i, r in enumerate(self.nets)}

    def shard_path(self, rec: dict) -> Path:
        """Where a network's shard is: inside the store's shards/ folder (the index is checked
        to name plain files there)."""
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

    def _open(self, rec: dict) -> Shard:
        return Shard(self.shard_path(rec), expect_bytes=rec["bytes"])

    # -- reading
    def load_groups(self, net_ids: Sequence[int], dtype: torch.dtype = torch.float32,
                    lazy: bool = False) -> list[InstanceGroup]:
        """The instances of the networks ``net_ids``, grouped by shape signature.

        ``InstanceGroup.net`` holds positions in ``net_ids``; rows are ordered by network, then by
        execution order.  Only these networks' shards are read (memory-mapped), each value copied
        once into ``dtype``.  With ``lazy`` a statistic is read only when it is first used (a
        search touches a fraction of them: memory follows what the programs read).
        """
        loader = _GroupLoader(self, [self._net(i) for i in net_ids], dtype)
        groups = []
        for g, shapes in enumerate(loader.shapes):
            if lazy:
                tensors = LazyStatistics(lambda name, g=g: loader.get(name)[g], shapes)
            else:
                tensors = {name: loader.get(name)[g] for name in shapes}
            groups.append(InstanceGroup(net=loader.nets[g], position=loader.positions[g],
                                        tensors=tensors))
        if not lazy:
            loader.cache.clear()
            loader.shards.clear()
        return groups

    def load_network(self, net_ids: Sequence[int]) -> dict[str, torch.Tensor]:
        """The per-network tensors (``input_grad.gram``) of these networks, stacked (float32)."""
        if not self.network_names:
            return {}
        recs = [self._net(i) for i in net_ids]
        out = {}
        for name in self.network_names:
            parts = []
            for rec in recs:
                shard = self._open(rec)
                parts.append(shard.decoded(network_key(name)))
                del shard
            out[name] = torch.stack(parts) if parts else torch.zeros(0)
        return out

    def load_net(self, net_id: int, dtype: torch.dtype = torch.float32,
                 ) -> list[dict[str, torch.Tensor]]:
        """One network's instances in execution order (as :func:`collect` returns them, the
        network's own tensors riding along in every instance)."""
        rec = self._net(net_id)
        shard = self._open(rec)
        rows: dict[int, dict[str, torch.Tensor]] = {}
        network = {name: shard.decoded(network_key(name)) for name in self.network_names}
        for k, idx in enumerate(rec["group_rows"]):
            tensors = {name: shard.decoded(f"g{k}/{name}", dtype) for name in self.tensor_names}
            for j, r in enumerate(idx):
                rows[int(r)] = {**{name: tensors[name][j] for name in self.tensor_names},
                                **network}
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
                    for name in self.tensor_names:
                        want = (n,) + instance_shape(name, shp, self.cross_batch)
                        got = shard.entries.get(f"g{k}/{name}")
                        if got is None or got[1] != want:
                            raise GpnasError(f"statistics shard {p} is corrupt (tensor "
                                             f"g{k}/{name}: {None if got is None else got[1]}, "
                                             f"expected {want})")
                del shard
                if deep and rec.get("sha256"):
                    if sha256(p) != rec["sha256"]:
                        raise GpnasError(f"statistics shard {p} is corrupt (SHA-256 differs from "
                                         "the one recorded when it was written)")
            except GpnasError as exc:
                problems.append(f"network {rec.get('id')}: {exc}")
        return problems


class LazyStatistics(dict):
    """Statistic name -> the group's (L, ...) tensor, each read from the store on first use
    (thread-safe: the engine's blocks run in threads).  ``shapes`` gives every statistic's full
    shape without reading it."""

    def __init__(self, load, shapes: dict[str, tuple[int, ...]]):
        super().__init__()
        self._load, self.shapes, self._lock = load, shapes, threading.Lock()

    def __missing__(self, name: str) -> torch.Tensor:
        if name not in self.shapes:
            raise KeyError(name)
        with self._lock:
            if not dict.__contains__(self, name):
                dict.__setitem__(self, name, self._load(name))
        return dict.__getitem__(self, name)


class _GroupLoader:
    """The plan of which shard rows fill which group rows, and the per-statistic read."""

    def __init__(self, store: StatsStore, recs: list[dict], dtype: torch.dtype):
        self.store, self.recs, self.dtype = store, recs, dtype
        self.cache: dict[str, list[torch.Tensor]] = {}
        self.shards: dict[int, Shard] = {}  # opened (memory-mapped) once per network
        self._lock = threading.Lock()
        index: dict[tuple, int] = {}
        group_shapes: list[dict[str, tuple[int, ...]]] = []
        counts: list[int] = []
        self.plan: list[list[tuple[int, int, int, int]]] = []  # (group, local k, start, rows)
        for rec in recs:
            entry = []
            for k, shp in enumerate(rec["shapes"]):
                shapes = {c: tuple(int(v) for v in shp[c]) for c in ("act", "bn", "weight")}
                key = (shapes["act"], shapes["bn"], shapes["weight"])
                g = index.get(key)
                if g is None:
                    g = index[key] = len(group_shapes)
                    group_shapes.append(shapes)
                    counts.append(0)
                n = len(rec["group_rows"][k])
                entry.append((g, k, counts[g], n))
                counts[g] += n
            self.plan.append(entry)
        self.shapes = [{name: (counts[g],) + instance_shape(name, shp, store.cross_batch)
                        for name in store.tensor_names} for g, shp in enumerate(group_shapes)]
        self.nets = [torch.empty(c, dtype=torch.int64) for c in counts]
        self.positions = [torch.empty(c, dtype=torch.int64) for c in counts]
        for pos, (rec, entry) in enumerate(zip(recs, self.plan)):
            for g, k, a, n in entry:
                self.nets[g][a:a + n] = pos
                self.positions[g][a:a + n] = torch.as_tensor(rec["group_rows"][k],
                                                             dtype=torch.int64)

    def get(self, name: str) -> list[torch.Tensor]:
        """Statistic ``name`` of every group (read once)."""
        with self._lock:
            if name not in self.cache:
                self.cache[name] = self._read(name)
            return self.cache[name]

    def _read(self, name: str) -> list[torch.Tensor]:
        out = [torch.empty(shapes[name], dtype=self.dtype) for shapes in self.shapes]
        for i, (rec, entry) in enumerate(zip(self.recs, self.plan)):
            if i not in self.shards:
                self.shards[i] = self.store._open(rec)
            shard = self.shards[i]
            for g, k, a, n in entry:
                src = shard.tensor(f"g{k}/{name}")
                dst = out[g][a:a + n]
                if src.shape != dst.shape:
                    raise GpnasError(f"statistics shard {shard.path} is corrupt (tensor "
                                     f"g{k}/{name} has shape {tuple(src.shape)}, the index "
                                     f"says {tuple(dst.shape)})")
                scale = shard.scale(f"g{k}/{name}")
                if scale is None:
                    dst.copy_(src)
                elif self.dtype == torch.float32:
                    dst.copy_(src)  # (faster than one mixed-dtype multiply)
                    dst.mul_(scale.view(-1, *([1] * (dst.dim() - 1))))
                else:
                    dst.copy_(src.float() * scale.view(-1, *([1] * (dst.dim() - 1))))
        return out
