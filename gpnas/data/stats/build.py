"""Building a statistics store: networks collected (in parallel worker processes) and written as
shards, resumably.

Writes are atomic (temporary file, then rename) and the index is rewritten every few seconds and at
the end, so a killed build leaves a valid store: :func:`build_store` on the same directory resumes
(it adopts finished shards that the index had not recorded yet, rebuilds missing or truncated
shards in place and appends the missing networks).
"""

from __future__ import annotations

import collections
import functools
import json
import math
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch
from rich.markup import escape

from primitives import STAT_NAMES
from primitives.cross import INSTANCE_TERMINALS as CROSS_INSTANCE
from primitives.cross import NETWORK_TERMINALS as CROSS_NETWORK

from gpnas import __version__
from gpnas.atomic import LOCK_NAME, dir_lock, publish, remove_orphans, write_atomic
from gpnas.console import err, progress_bar
from gpnas.data.spaces import get_space
from gpnas.data.stats.collect import check_order, collect_cross, collect_with_info
from gpnas.data.stats.images import describe_source, sample_images
from gpnas.data.stats.shards import DTYPES, Shard, instance_shape, sha256, write_net
from gpnas.data.stats.store import FORMAT, INDEX, SHARD_DIR, VERSION, StatsStore
from gpnas.errors import GpnasError
from gpnas.schemas import MAX_BATCH_SIZE, NetRecord, parse
from gpnas.threads import available_cores, torch_threads

INDEX_EVERY_S = 2.0
#: collection definition version: bump when collect() changes what it records
COLLECTOR = 1


def _settings(space: str, batch_size: int, seed: int, order: str, images_path, dtype: str,
              metric: str, cross_batch: int) -> dict:
    out = {"space": space, "batch_size": int(batch_size), "seed": int(seed), "order": order,
           "images": describe_source(images_path), "dtype": dtype, "metric": metric,
           "sep_policy": "first-conv", "collector": COLLECTOR}
    if cross_batch:  # (absent in stores without cross-sample statistics, as before them)
        out["cross_batch"] = int(cross_batch)
    return out


def _new_index(settings: dict) -> dict:
    cross = bool(settings.get("cross_batch"))
    return {"format": FORMAT, "version": VERSION, "gpnas": __version__,
            "torch": torch.__version__, "settings": settings,
            "tensor_names": list(STAT_NAMES) + (list(CROSS_INSTANCE) if cross else []),
            "network_names": list(CROSS_NETWORK) if cross else [], "nets": []}


def _write_index(out: Path, meta: dict) -> None:
    write_atomic(out / INDEX, json.dumps(meta, indent=1))


def _adopt(out: Path, rel: str, net_id: int, settings: dict, arch_ok) -> dict | None:
    """The record of a finished shard the index has not recorded (a killed build), or None."""
    p = out / rel
    if not p.is_file():
        return None
    try:
        shard = Shard(p)
        info = json.loads(shard.metadata.get("gpnas", "null"))
        rec = info["net"]
        if info["settings"] != settings:
            return None
        if not isinstance(rec, dict) or not arch_ok(rec.get("arch")):
            return None
        cross = int(settings.get("cross_batch", 0))
        names = list(STAT_NAMES) + (list(CROSS_INSTANCE) if cross else [])
        for k, shp in enumerate(rec["shapes"]):
            n = len(rec["group_rows"][k])
            for name in names:
                if shard.entries[f"g{k}/{name}"][1] != (n,) + instance_shape(name, shp, cross):
                    return None
        del shard
        rec.update(id=net_id, shard=rel, bytes=p.stat().st_size, sha256=sha256(p))
        parse(NetRecord, rec, str(p))
    except (GpnasError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return None
    return rec


#: shards whose SHA-256 this process checked: (path, inode, size, mtime) -> digest
_CHECKED: dict[tuple, str] = {}


def _shard_problem(out: Path, rec: dict, check_sum: bool) -> str | None:
    """Why a recorded shard must be rebuilt (missing, truncated, unreadable, or with
    ``check_sum`` a SHA-256 other than the index's: "corrupt ..."), or None."""
    p = out / rec["shard"]
    try:
        del_shard = Shard(p, expect_bytes=rec["bytes"])
        del del_shard
    except GpnasError:
        return "damaged"
    if not check_sum or not rec.get("sha256"):
        return None
    st = p.stat()
    key = (str(p), st.st_ino, st.st_size, st.st_mtime_ns)
    if key not in _CHECKED:
        _CHECKED[key] = sha256(p)
    if _CHECKED[key] != rec["sha256"]:
        return "corrupt (its SHA-256 differs from the one recorded when it was written)"
    return None


@functools.lru_cache(maxsize=8)
def _images(space: str, batch_size: int, seed: int, images_path: str | None) -> torch.Tensor:
    return sample_images(space, batch_size, seed, images_path)


def _collect_net(space: str, arch: str, batch_size: int, seed: int, order: str,
                 images_path: str | None, cross_batch: int, images: dict | None = None):
    """(instances, what the trace found, per-network tensors) of one network: the batch-1 (or
    ``batch_size``) statistics, and with ``cross_batch`` the cross-sample statistics of a batch
    of that many images (:mod:`.cross`) added to every instance.  ``images``: the image batches
    by size, when the caller has them (default: read from ``images_path``)."""
    sp = get_space(space)
    model = sp.build(sp.canonical(arch), seed=seed)

    def batch_of(n: int) -> torch.Tensor:
        return images[n] if images else _images(sp.name, int(n), int(seed), images_path)

    instances, info = collect_with_info(model, batch_of(batch_size), seed=seed, order=order,
                                        fused=True)
    if not cross_batch:
        return instances, info, {}
    batch = batch_of(cross_batch)
    cross, network, convs = collect_cross(model, batch, seed=seed, order=order)
    if convs != info.convs:
        raise GpnasError(f"{space} {arch}: the cross-sample pass found other instances than the "
                         "batch-1 pass")
    for inst, extra in zip(instances, cross):
        inst.update(extra)
    return instances, info, network


def net_statistics(space: str, arch: str, *, batch_size: int = 1, seed: int = 0,
                   order: str = "rcb", images_path: str | Path | None = None,
                   threads: int | None = 1, cross_batch: int = 0) -> list[dict[str, torch.Tensor]]:
    """One network's instances in memory (float32), exactly as :func:`build_store` collects them
    with the same settings (same network, images, noise and thread count): for held-out networks
    that need not go to disk.  Per-network tensors ride along in every instance."""
    with torch_threads(threads):
        instances, _, network = _collect_net(space, arch, batch_size, seed, order,
                                             None if images_path is None else str(images_path),
                                             cross_batch)
    for inst in instances:
        inst.update(network)
    return instances


def build_store(out: str | Path, space: str, archs: list[str], accuracies=None, *,
                metric: str, batch_size: int = 1, seed: int = 0, order: str = "rcb",
                images_path: str | Path | None = None, dtype: str = "float16",
                progress: bool = True, threads: int | None = 1, jobs: int | None = 1,
                cross_batch: int = 0, verify: bool = True, runner=None) -> StatsStore:
    """Create or extend the store ``out`` with the statistics of ``archs``.

    ``accuracies``: one per arch (percent; NaN/None = unknown), or None.  Networks already in the
    store are kept (their accuracy is not changed); missing, truncated or unreadable shards are
    rebuilt in place; the rest are built and appended.  An existing store built with other
    settings (space, batch size, seed, order, images, dtype, metric) is an error.  Each network is
    built with ``Space.build(arch, seed=seed)`` and collected on the same image batch
    (``sample_images(space, batch_size, seed, images_path)``) with ``collect(seed=seed)``, so its
    statistics depend only on (seed, arch, settings).  ``cross_batch`` > 1 adds the cross-sample
    statistics of a batch of that many images (``sample_images(space, cross_batch, seed)``).

    ``threads``: torch intra-op threads while collecting (restored afterwards; None = leave as
    is).  The default is 1: batch-1 convolutions of 32x32 images gain nothing from threads, and on
    a busy machine OpenMP threads that wait for each other made collection 20-40x slower.
    ``jobs`` > 1 collects in that many worker processes (each with ``threads`` threads); the
    results, and the store, are the same as with one (None: one per available core).  Shards are
    fsynced and renamed into place by a thread of this process, so collection never waits for
    the disk; the index only ever lists shards that are in place.  ``runner(jobs_list, jobs,
    threads)`` replaces the local job runner (records in job order, shards written and in
    place), e.g. :func:`gpnas.data.stats.remote.ray_runner`.

    ``verify``: check the SHA-256 of the shards of ``archs`` already in the store (each shard
    once per process while it is unchanged on disk) and rebuild those that differ.  One build
    writes a store at a time: a second one waits for the store's lock, then finds the work done.
    """
    sp = get_space(space)
    if dtype not in DTYPES:
        raise GpnasError(f"unknown storage dtype {dtype!r}; use one of {', '.join(DTYPES)}")
    check_order(order)
    if not 1 <= int(batch_size) <= MAX_BATCH_SIZE:
        raise GpnasError(f"batch size must be in 1..{MAX_BATCH_SIZE}, got {batch_size}")
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
    if cross_batch and not 2 <= int(cross_batch) <= MAX_BATCH_SIZE:
        raise GpnasError(f"the cross-sample batch needs 2..{MAX_BATCH_SIZE} images, got "
                         f"{cross_batch}")
    settings = _settings(sp.name, batch_size, seed, order, images_path, dtype, metric,
                         int(cross_batch))
    if out.exists() and not out.is_dir():
        raise GpnasError(f"--out {out} exists and is not a directory")
    if (out.is_dir() and not (out / INDEX).exists() and not (out / SHARD_DIR).is_dir()
            and any(p.name != LOCK_NAME for p in out.iterdir())):
        raise GpnasError(f"--out {out} is a non-empty directory that is not a statistics "
                         "store; choose an empty or new directory")
    try:
        (out / SHARD_DIR).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GpnasError(f"cannot create {out / SHARD_DIR}: {exc.strerror or exc}") from None
    with dir_lock(out, "statistics store", wait=True,
                  on_wait=lambda why: err.print(why, markup=False, soft_wrap=True)):
        if remove_orphans(out) + remove_orphans(out / SHARD_DIR):
            err.print(f"removed unfinished temporary files of a killed build in {out}",
                      markup=False, soft_wrap=True)
        return _build_locked(out, sp, settings, wanted, verify=verify, metric=metric,
                             batch_size=batch_size, seed=seed, order=order,
                             images_path=images_path, dtype=dtype, progress=progress,
                             threads=threads, jobs=jobs, runner=runner)


def _build_locked(out: Path, sp, settings: dict, wanted: dict[str, float | None], *, verify,
                  metric, batch_size, seed, order, images_path, dtype, progress, threads,
                  jobs, runner) -> StatsStore:
    """:func:`build_store` holding the store's lock."""
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
        meta = _new_index(settings)
    nets: list[dict] = meta["nets"]

    # adopt shards a killed build finished after its last index write
    adopted = 0
    while True:
        rel = f"{SHARD_DIR}/{len(nets):06d}.safetensors"
        rec = _adopt(out, rel, len(nets), settings, lambda a: isinstance(a, str))
        if rec is None:
            break
        nets.append(rec)
        adopted += 1

    # shards to rebuild in place (missing / wrong size / unreadable header / (verify) checksum)
    todo: list[tuple[int | None, str, float | None]] = []
    for i, rec in enumerate(nets):
        problem = _shard_problem(out, rec, verify and rec["arch"] in wanted)
        if problem:
            if problem.startswith("corrupt"):
                err.print(f"[yellow]note:[/] statistics shard {escape(str(out / rec['shard']))} "
                          f"is {problem}; rebuilding it", soft_wrap=True)
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
    jobs = available_cores() if jobs is None else jobs

    def place(rec: dict) -> None:
        if rec["id"] < len(nets):
            nets[rec["id"]] = rec
        else:
            nets.append(rec)

    with progress_bar(progress, transient=False) as bar, torch_threads(threads), \
            _Publisher() as publisher:
        task = bar.add_task(f"stats {sp.name}", total=len(jobs_list))
        try:
            if runner is None:
                records = _published(_run_jobs(jobs_list, jobs, threads), publisher, out)
            else:
                records = runner(jobs_list, jobs, threads)
            for done, rec in enumerate(records, start=1):
                place(rec)
                if time.monotonic() - last_write > INDEX_EVERY_S:
                    _write_index(out, meta)
                    last_write = time.monotonic()
                rate = done / max(time.monotonic() - t0, 1e-9)
                bar.update(task, advance=1, description=f"stats {sp.name} ({rate:.2f} nets/s)")
        finally:
            for ready in publisher.published(wait=True):
                place(ready)
            _write_index(out, meta)
    return StatsStore(out)


def _published(pairs, publisher: "_Publisher", out: Path):
    """Records of the (record, staged shard) ``pairs`` whose shards the publisher has put in
    place so far (the rest when the publisher is drained)."""
    for rec, staged in pairs:
        publisher.add(rec, staged, out / rec["shard"])
        yield from publisher.published()


class _Publisher:
    """Publishes (fsyncs and renames) staged shards in a thread, in the order they were added,
    and hands back the records of those that are in place."""

    def __init__(self):
        self._pool = ThreadPoolExecutor(1)
        self._pending: collections.deque = collections.deque()

    def __enter__(self) -> "_Publisher":
        return self

    def __exit__(self, *exc) -> None:
        self._pool.shutdown(wait=True)

    def add(self, rec: dict, staged: str, path: Path) -> None:
        self._pending.append((rec, self._pool.submit(publish, staged, path)))

    def published(self, wait: bool = False):
        """Records of the shards in place (all of them, waiting, with ``wait``)."""
        while self._pending and (wait or self._pending[0][1].done()):
            rec, done = self._pending.popleft()
            done.result()
            yield rec


def _make_net(*, space, arch, acc, net_id, metric, batch_size, seed, order, images_path, dtype,
              settings, rel, out, images=None, staged=False) -> dict | tuple[dict, str]:
    """Build and collect one network and write its shard; its record, or with ``staged``
    (its record, the staged file) -- see :func:`build_store`.  ``images``: the image batches by
    size, when the caller has them (default: read from ``images_path``)."""
    t = time.monotonic()
    instances, info, network = _collect_net(space, arch, batch_size, seed, order, images_path,
                                            int(settings.get("cross_batch", 0)), images)
    rec = {"id": net_id, "space": space, "arch": arch, "accuracy": acc, "metric": metric,
           "seed": seed, "batch_size": batch_size, "order": order, "instances": len(instances),
           "sep_instances": info.n_sep, "threads": torch.get_num_threads()}
    rec["shard"] = rel
    path = write_net(Path(out) / rel, rec, instances, dtype, settings, network, staged=staged)
    rec["seconds"] = round(time.monotonic() - t, 4)
    return (rec, str(path)) if staged else rec


def _worker_init(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(max(1, int(threads)))


def _worker(job: dict) -> tuple[dict, str]:
    return _make_net(**job, staged=True)


def _run_jobs(jobs_list: list[dict], jobs: int, threads: int | None):
    """(record, staged shard) pairs in job order: from this process, or from ``jobs`` worker
    processes (at most 2 x jobs networks in flight)."""
    if jobs <= 1 or len(jobs_list) <= 1:
        for job in jobs_list:
            yield _make_net(**job, staged=True)
        return
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


__all__ = ["build_store", "net_statistics"]
