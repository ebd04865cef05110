"""Statistics on Ray nodes: the build's networks collected as Ray tasks, and stores shipped to
workers that cannot read them.

* **Build.** :func:`ray_runner` is a job runner for :func:`~gpnas.data.stats.build.build_store`:
  each network is a Ray task that collects it and writes its shard on the worker's local disk;
  the shard's bytes come back through the object store and this process writes them into the
  store, so the store is the same (byte for byte) as a local build and needs no shared
  filesystem.  Tasks are retried when their worker dies.
* **Shipping.** A worker opens a store by its path when it can read that path and the index is
  the one this process sees (same SHA-256); otherwise it takes the store's files from the object
  store -- put there once, fetched once per node -- into a node-local copy under
  ``$TMPDIR/gpnas-stores/<index sha>`` that later workers on that node reuse.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from gpnas.atomic import write_atomic
from gpnas.data.cluster import RETRIES, connect, cpus, stream
from gpnas.data.stats.store import INDEX, SHARD_DIR, StatsStore
from gpnas.errors import GpnasError

#: "1": ship every store through the object store, even to workers that can read its path
SHIP_ENV = "GPNAS_RAY_SHIP_STORES"


# -- the build ---------------------------------------------------------------------------------
def _net_shard(job: dict, images) -> tuple[dict, bytes]:
    """On a worker: one network's record and shard bytes (written to, then read from, local
    disk by the same code as a local build)."""
    from gpnas.data.stats.build import _make_net
    from gpnas.threads import torch_threads

    threads = job.pop("threads")
    with tempfile.TemporaryDirectory(prefix="gpnas-shard-") as tmp, torch_threads(threads):
        (Path(tmp) / SHARD_DIR).mkdir()
        rec = _make_net(**dict(job, out=tmp), images=images)
        return rec, (Path(tmp) / rec["shard"]).read_bytes()


def ray_runner(address: str | None = None):
    """A job runner for ``build_store(runner=...)``: networks collected as Ray tasks on the
    cluster at ``address`` (None: a local Ray), shards written here, records in job order."""

    def run(jobs_list: list[dict], jobs: int, threads: int | None):
        from gpnas.data.stats.build import _images

        ray = connect(address)
        task = ray.remote(num_cpus=1, max_retries=RETRIES)(_net_shard)
        images = {}

        def submit(job):
            sizes = {job["batch_size"], int(job["settings"].get("cross_batch", 0))} - {0}
            key = (job["space"], job["seed"], job["images_path"], tuple(sorted(sizes)))
            if key not in images:  # the image batches: read here, sent once
                images[key] = ray.put({n: _images(job["space"], n, job["seed"],
                                                  job["images_path"]) for n in sizes})
            return task.remote(dict(job, threads=threads or 1), images[key])

        for job, (rec, data) in zip(jobs_list, stream(submit, jobs_list, 2 * cpus())):
            if hashlib.sha256(data).hexdigest() != rec["sha256"]:
                raise GpnasError(f"the shard of {rec['arch']} arrived damaged from its worker")
            write_atomic(Path(job["out"]) / rec["shard"], data)
            yield rec

    return run


# -- shipping stores ---------------------------------------------------------------------------
@dataclass(frozen=True)
class StoreSpec:
    """How a worker finds a store: its path here, its index's SHA-256, and (when shipped) the
    object refs of its files by relative path."""

    path: str
    fingerprint: str
    files: dict = field(default_factory=dict)  # relative path -> ObjectRef (fetched on need)
    ship: bool = False  # do not try the path

    @classmethod
    def of(cls, path: str | Path) -> "StoreSpec":
        return cls(str(path), fingerprint(path), ship=os.environ.get(SHIP_ENV) == "1")

    def shipped(self) -> "StoreSpec":
        """This spec with the store's files in the object store (one object per file)."""
        if self.files:
            return self
        ray = connect()
        store = StatsStore(self.path)
        rels = [INDEX] + [rec["shard"] for rec in store.nets]
        return replace(self, files={rel: ray.put((Path(self.path) / rel).read_bytes())
                                    for rel in rels})


def fingerprint(path: str | Path) -> str:
    """SHA-256 of a store's index: equal indexes record equal shards (sizes and digests)."""
    try:
        return hashlib.sha256((Path(path) / INDEX).read_bytes()).hexdigest()
    except OSError as exc:
        raise GpnasError(f"cannot read statistics store {path}: {exc.strerror or exc}") from None


def copies_dir() -> Path:
    return Path(tempfile.gettempdir()) / "gpnas-stores"


def open_store(spec: StoreSpec) -> tuple[str | None, str]:
    """On a worker: (a path of the store that this node can read, or None; where it came from:
    ``path``, ``copy`` (a node-local copy made before) or ``shipped``, or ``missing``)."""
    if not spec.ship and _matches(Path(spec.path), spec.fingerprint):
        return spec.path, "path"
    copy = copies_dir() / spec.fingerprint
    if _matches(copy, spec.fingerprint):
        return str(copy), "copy"
    if not spec.files:
        return None, "missing"
    ray = connect()
    index = ray.get(spec.files[INDEX])
    if hashlib.sha256(index).hexdigest() != spec.fingerprint:
        raise GpnasError(f"the index of statistics store {spec.path} arrived damaged")
    digests = {rec["shard"]: rec.get("sha256") for rec in json.loads(index)["nets"]}
    tmp = copy.with_name(f".{copy.name}-{os.getpid()}-{secrets.token_hex(4)}")
    (tmp / SHARD_DIR).mkdir(parents=True)
    (tmp / INDEX).write_bytes(index)
    for rel, ref in spec.files.items():  # one file in memory at a time
        if rel != INDEX:
            data = ray.get(ref)
            if digests.get(rel) and hashlib.sha256(data).hexdigest() != digests[rel]:
                shutil.rmtree(tmp, ignore_errors=True)
                raise GpnasError(f"the statistics shard {rel} of {spec.path} arrived damaged "
                                 "(its SHA-256 differs from the index's)")
            (tmp / rel).write_bytes(data)
    try:
        tmp.rename(copy)  # atomic: another worker of this node may have won the race
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return str(copy), "shipped"


def _matches(path: Path, digest: str) -> bool:
    try:
        return hashlib.sha256((path / INDEX).read_bytes()).hexdigest() == digest
    except OSError:
        return False
