"""The Ray backend on a real two-node cluster on this machine (one module-scoped
``ray.cluster_utils.Cluster``, one CPU per node): stores, searches, racing scores and held-out
tests (cross-sample statistics, resumed) equal to the local ones, a worker killed
mid-generation, a lost head.  The last test kills the head."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the Ray backend needs the extra: pip install 'gpnas[ray]'")

from ray.cluster_utils import Cluster  # noqa: E402

import gpnas.evaluation.ray_backend as ray_backend  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from gpnas.cli import app  # noqa: E402
from gpnas.data.cluster import Watch  # noqa: E402
from gpnas.config import RunConfig  # noqa: E402
from gpnas.data.stats.build import build_store  # noqa: E402
from gpnas.data.stats.remote import SHIP_ENV, copies_dir, fingerprint, ray_runner  # noqa: E402
from gpnas.evaluation.engine import Engine, EngineConfig  # noqa: E402
from gpnas.evaluation.executor import ProcessExecutor, SerialExecutor  # noqa: E402
from gpnas.evaluation.heldout import score_heldout  # noqa: E402
from gpnas.evaluation.ray_backend import RayExecutor, heldout_runner  # noqa: E402
from gpnas.evaluation.task import Task  # noqa: E402
from gpnas.run.prepare import prepare  # noqa: E402
from gpnas.search.evaluator import Evaluator  # noqa: E402
from gpnas.search.loop import Search  # noqa: E402
from gpnas.nasm.programfile import load_program  # noqa: E402
from paths import REPO  # noqa: E402
from primitives import default_primitive_set, full_primitive_set  # noqa: E402
from representations.tree import TreeRepresentation  # noqa: E402
from representations.tree.genome import lower, parse  # noqa: E402

SPACE = "nb201-cifar10"
# cheap architectures (4..34 instances)
ARCHS = ["|nor_conv_1x1~0|+|none~0|skip_connect~1|+|none~0|avg_pool_3x3~1|skip_connect~2|",
         "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|",
         "|nor_conv_1x1~0|+|none~0|skip_connect~1|+|nor_conv_3x3~0|avg_pool_3x3~1|none~2|",
         "|skip_connect~0|+|nor_conv_1x1~0|none~1|+|none~0|none~1|nor_conv_1x1~2|",
         "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|none~0|none~1|none~2|",
         "|nor_conv_1x1~0|+|skip_connect~0|none~1|+|avg_pool_3x3~0|none~1|skip_connect~2|"]
ACC = [70.0, 10.0, 80.5, 75.0, 60.0, 72.5]
PSET = default_primitive_set()

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def cluster():
    c = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "include_dashboard": False})
    c.add_node(num_cpus=1)
    ray.init(address=c.address)
    yield c
    ray.shutdown()
    c.shutdown()


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return build_store(tmp_path_factory.mktemp("serial") / "s", SPACE, ARCHS, ACC, metric="test",
                       progress=False)


def _same_store(a, b):
    index = [json.loads((s.path / "stats.json").read_text()) for s in (a, b)]
    for rec in index[0]["nets"] + index[1]["nets"]:
        rec.pop("seconds")  # collection time, different in any two builds
    assert index[0] == index[1]
    for rec in a.nets:
        assert (a.path / rec["shard"]).read_bytes() == (b.path / rec["shard"]).read_bytes()


def test_ray_build_equals_the_serial_build_and_resumes_like_it(cluster, store, tmp_path):
    path = tmp_path / "ray"
    build_store(path, SPACE, ARCHS[:4], ACC[:4], metric="test", progress=False,
                runner=ray_runner())
    shard = path / "shards" / "000001.safetensors"
    shard.write_bytes(shard.read_bytes()[:500])  # a truncated shard is rebuilt in place
    built = build_store(path, SPACE, ARCHS, ACC, metric="test", progress=False,
                        runner=ray_runner())
    _same_store(store, built)


def test_heldout_on_ray_equals_local_with_cross_statistics_and_resumes(cluster):
    """Per-instance, network-level and cross-sample programs (NASWOT written in the DSL) score
    the same on Ray as locally; a test resumed from its saved blocks gives the same results."""
    pset = full_primitive_set()
    programs = [lower(parse(t, pset), pset) for t in
                ("numel(bn_out.data)", "frobenius(mul(weight, weight_grad.data))",
                 "log(sub(weight, weight))")]
    programs.append(load_program(REPO / "programs" / "naswot.json").program)
    acc = np.array(ACC[:3])

    def test(runner, **resume):
        return score_heldout(programs, SPACE, ARCHS[:3], acc, Engine(pset, EngineConfig()),
                             progress=False, block=2, workers=1, cross_batch=4, runner=runner,
                             **resume)

    saved = []
    local, remote = test(None), test(heldout_runner(), on_block=lambda n, s, inv: saved.append(
        (n, [x.copy() for x in s], list(inv))))
    assert [n for n, _, _ in saved] == [2, 3]
    resumed = test(heldout_runner(), done=saved[0])
    for a, b, c in zip(local, remote, resumed):
        assert a["invalid"] == b["invalid"] == c["invalid"]
        if a["invalid"] is None:
            np.testing.assert_array_equal(a["scores"], b["scores"])
            np.testing.assert_array_equal(a["scores"], c["scores"])
            assert a["kendall"] == b["kendall"] == c["kendall"]
    assert local[0]["invalid"] is None and local[2]["invalid"] is not None
    assert local[3]["invalid"] is None and np.isfinite(local[3]["scores"]).all()


def _search(executor, store, close=True):
    cfg = RunConfig(spaces=["a", "b"], generations=2, population=6, evolution_nets=6,
                    sample_nets=4, max_depth=4, seed=3).validate()
    acc = store.accuracies()
    pools = {"a": (np.arange(6), acc, np.ones(6)),
             "b": (np.arange(6), acc[[1, 0, 3, 2, 5, 4]], np.ones(6))}
    rep = TreeRepresentation(PSET, cfg.min_depth, cfg.max_depth, cfg.max_height)
    ev = Evaluator(executor, Engine(PSET), Task.from_store(store, [0, 1]), pools)
    try:
        state = Search(cfg, rep, ev, {"a": 6, "b": 6}).run()
    finally:
        if close:
            executor.close()
    return ([rep.text(g) for g in state.population],
            [(rep.text(g), e.fitness, e.per_space) for g, e in state.last],
            [(e.key, e.fitness) for e in state.hof.best], state.rng_state, ev.counters.evaluated)


def test_same_run_with_serial_process_and_ray_and_a_killed_worker(cluster, store, monkeypatch):
    stores = {"a": str(store.path), "b": str(store.path)}
    serial = _search(SerialExecutor(stores, EngineConfig()), store)
    assert serial[4] > 0
    assert _search(ProcessExecutor(stores, EngineConfig(), 2), store) == serial

    # the stores travel through the object store, as to nodes without a shared filesystem
    monkeypatch.setenv(SHIP_ENV, "1")
    copy = copies_dir() / fingerprint(store.path)
    shutil.rmtree(copy, ignore_errors=True)
    executor = RayExecutor(stores, EngineConfig())
    try:
        assert len(executor.actors) == 2  # one per cluster CPU, one per node
        assert {s for src in executor.sources for s in src.values()} <= {"shipped", "copy"}
        assert any("shipped" in src.values() for src in executor.sources)
        before = executor.pids()

        class KillOnce(Watch):
            """SIGKILLs the first actor while generation 1's chunks are in flight."""

            made = 0

            def __init__(self):
                super().__init__()
                KillOnce.made += 1  # one watch per scores() call, i.e. per generation
                self.armed = KillOnce.made == 2

            def ready(self, refs):
                if self.armed:
                    self.armed = False
                    os.kill(before[0], signal.SIGKILL)
                return super().ready(refs)

        monkeypatch.setattr(ray_backend, "Watch", KillOnce)
        assert _search(executor, store, close=False) == serial
        after = executor.pids()
        assert KillOnce.made == 3 and after[0] != before[0] and after[1] == before[1]

        # racing: the first `nets` networks of each space's sample, as serial on that prefix
        programs = [lower(parse(t, PSET), PSET) for t in
                    ("numel(bn_out.data)", "frobenius(mul(weight, weight_grad.data))",
                     "log(sub(weight, weight))")]
        sample = {"a": (0, 2, 4, 5), "b": (1, 3, 5, 0)}
        serial = SerialExecutor(stores, EngineConfig())
        serial.set_sample({sp: ids[:3] for sp, ids in sample.items()})
        executor.set_sample(sample)
        _same_scores(executor.scores(programs, nets=3), serial.scores(programs))
        serial.set_sample(sample)
        _same_scores(executor.scores(programs), serial.scores(programs))
    finally:
        executor.close()
        shutil.rmtree(copy, ignore_errors=True)


def _same_scores(got, want):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert isinstance(g, str) == isinstance(w, str)
        if isinstance(w, str):
            assert g == w
        else:
            assert g.keys() == w.keys()
            for sp in w:
                np.testing.assert_array_equal(g[sp], w[sp])


def _children(parents: list[int]) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) in parents:
                out.append(int(stat.parent.name))
    return out


def test_lost_head_ends_the_run_with_exit_2_and_resume_finishes_it(cluster, tmp_path,
                                                                   monkeypatch):
    """Last in the module: it kills the cluster.  (That a resumed run equals an uninterrupted
    one is tested in tests/search and tests/run.)"""
    monkeypatch.setenv("GPNAS_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("GPNAS_BENCH_DIR", raising=False)
    tiny = {"generations": 3, "population": 6, "evolution_nets": 6, "sample_nets": 4,
            "test_nets": 2}
    prepare(RunConfig(**tiny).validate(), progress=False)  # the pool's statistics, cached here
    ray.shutdown()  # this process leaves the cluster: only the run below loses its head
    run = tmp_path / "run"
    flags = [x for k, v in tiny.items() for x in (f"--{k.replace('_', '-')}", str(v))]
    proc = subprocess.Popen(
        [sys.executable, "-m", "gpnas", "run", *flags, "--executor", "ray",
         "--ray-address", cluster.address, "--out", str(run), "--quiet"],
        env=dict(os.environ, GPNAS_RAY_HEAD_GRACE_S="2", COLUMNS="1000"), cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while proc.poll() is None and not (run / "checkpoint.json").exists():
        time.sleep(0.05)
    spawned = _children([p.process.pid for node in cluster.list_all_nodes()
                         for p in node.all_processes.get("raylet", [])])
    for node in cluster.list_all_nodes():  # the head first: the run's driver is attached to it
        cluster.remove_node(node)
    for pid in spawned:  # agents that the raylets started and their removal left behind
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 2 and "Traceback" not in stderr, stderr
    assert "head" in stderr and f"`gpnas run --resume {run}`" in stderr, stderr
    done = json.loads((run / "checkpoint.json").read_text())["state"]["generation"]
    assert 0 <= done <= 3

    resumed = CliRunner().invoke(app, ["run", "--resume", str(run), "--executor", "serial",
                                       "--quiet"])
    assert resumed.exit_code == 0, resumed.output
    log = [json.loads(x)["generation"] for x in (run / "log.jsonl").read_text().splitlines()]
    assert log == [0, 1, 2, 3] and (run / "results.json").exists()
