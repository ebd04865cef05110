"""One writer per run directory and store, corrupt shards found by `gpnas run`, no temporary
file left behind, and a held-out test that survives kill -9."""

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest

from tiny_run import A_NONE, TINY_RUN, run_main
from gpnas.data.stats.store import StatsStore
from gpnas.run.rundir import RunDir

pytestmark = pytest.mark.usefixtures("one_thread")

A_POOL = "|avg_pool_3x3~0|+|none~0|none~1|+|none~0|none~1|none~2|"
HOLD = ("import sys, time\nfrom gpnas.atomic import dir_lock\n"
        "with dir_lock(sys.argv[1], 'folder'):\n    print('locked', flush=True)\n"
        "    time.sleep(120)\n")


def _env(cache) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("GPNAS_BENCH_DIR", "PYTHONPATH")}
    env.update(GPNAS_CACHE=str(cache), OMP_NUM_THREADS="1")
    return env


def _results(run):
    """What an interrupted and an uninterrupted run must agree on."""
    r = json.loads((run / "results.json").read_text())
    return r["generations"], [(c["label"], c["key"], c["test"]) for c in r["candidates"]]


def _main(monkeypatch, capsys, *args):
    code = run_main(*args)
    return code, capsys.readouterr().err


def test_a_second_writer_of_a_run_directory_exits_2_and_readers_still_work(
        tiny, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    shutil.copytree(tiny.run, run)
    monkeypatch.setenv("GPNAS_CACHE", str(tiny.cache))
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run)], stdout=subprocess.PIPE,
                              text=True, env=_env(tiny.cache))
    try:
        assert holder.stdout.readline().strip() == "locked"
        for args in (["run", "--resume", run, "--quiet"], ["run", *TINY_RUN, "--out", run]):
            code, err = _main(monkeypatch, capsys, *args)
            assert code == 2 and f"in use by another gpnas process (pid {holder.pid})" in err
        code, _ = _main(monkeypatch, capsys, "export", run, "--format", "json", "--out",
                        tmp_path / "best.json")
        assert code == 0 and (tmp_path / "best.json").exists()  # a reader needs no lock
    finally:
        holder.kill()
        holder.wait()
    assert _results(run) == _results(tiny.run)  # nothing was written by the refused writers


def test_a_second_build_of_a_store_waits_for_the_first_and_keeps_both_networks(
        tiny, tmp_path, capsys):
    from gpnas.data.stats.build import build_store

    store = tmp_path / "store"
    shutil.copytree(tiny.store, store)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(store)], stdout=subprocess.PIPE,
                              text=True, env=_env(tmp_path))
    done = []
    try:
        assert holder.stdout.readline().strip() == "locked"
        meta = StatsStore(store).settings
        second = threading.Thread(target=lambda: done.append(build_store(
            store, "nb201-cifar10", [A_POOL], metric=meta["metric"], progress=False)))
        second.start()
        time.sleep(1.0)
        assert second.is_alive() and not done  # waiting for the lock
    finally:
        holder.kill()
        holder.wait()
    second.join(600)
    assert f"in use by gpnas process {holder.pid}" in capsys.readouterr().err
    assert sorted(r["arch"] for r in done[0].nets) == sorted([A_NONE, A_POOL])
    assert StatsStore(store).verify() == []


FORK_AND_HOLD = ("import os, sys, time\nfrom gpnas.atomic import dir_lock\n"
                 "with dir_lock(sys.argv[1], 'folder'):\n    child = os.fork()\n"
                 "    if child == 0:\n        print(os.getpid(), flush=True)\n"
                 "        time.sleep(120)\n        os._exit(0)\n    time.sleep(120)\n")


def test_a_lock_is_free_once_its_holder_is_killed_though_its_forked_workers_live_on(tmp_path):
    """The statistics builder forks its workers while it holds the store's lock: a kill -9 of the
    builder must not leave the lock with its orphaned workers."""
    from gpnas.atomic import dir_lock

    holder = subprocess.Popen([sys.executable, "-c", FORK_AND_HOLD, str(tmp_path)],
                              stdout=subprocess.PIPE, text=True, env=_env(tmp_path))
    child = int(holder.stdout.readline())  # the forked child runs and speaks
    try:
        holder.kill()
        holder.wait()
        os.kill(child, 0)  # the forked worker is still alive
        with dir_lock(tmp_path, "folder"):  # and yet the lock is free
            pass
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(child, signal.SIGKILL)


def test_temporary_files_of_a_killed_writer_are_removed_by_the_next_one(tiny, tmp_path):
    store, run = tmp_path / "store", tmp_path / "run"
    shutil.copytree(tiny.store, store)
    shutil.copytree(tiny.run, run)
    orphans = [store / ".stats.json.tmp-4242-deadbeef",
               store / "shards" / ".000001.safetensors.tmp-4242-0badf00d",
               run / ".checkpoint.json.tmp-4242-12345678"]
    for p in orphans:
        p.write_bytes(b"\0" * 1000)
    keep = store / "shards" / "notes.txt"
    keep.write_text("not ours")
    assert run_main("stats", "build", "--space", "nb201-cifar10", "--arch", A_NONE, "--out",
                    store, "--quiet") == 0
    with RunDir(run).lock():
        pass
    assert [p.exists() for p in orphans] == [False, False, False] and keep.exists()


def test_run_finds_a_corrupt_shard_names_it_and_rebuilds_it(tiny, tmp_path, monkeypatch,
                                                            capsys):
    cache = tmp_path / "cache"
    shutil.copytree(tiny.cache, cache)
    shard = sorted(cache.glob("stats/*/shards/*.safetensors"))[3]
    data = bytearray(shard.read_bytes())
    mid = len(data) // 2
    data[mid: mid + 4096] = bytes(b ^ 0x5A for b in data[mid: mid + 4096])  # same size
    shard.write_bytes(bytes(data))
    monkeypatch.setenv("GPNAS_CACHE", str(cache))
    monkeypatch.delenv("GPNAS_BENCH_DIR", raising=False)
    code, err = _main(monkeypatch, capsys, "run", *TINY_RUN, "--test-nets", "0", "--out",
                      tmp_path / "run")
    assert code == 0, err
    assert str(shard) in " ".join(err.split()) and "SHA-256 differs" in err
    assert StatsStore(shard.parent.parent).verify() == []
    # the search saw the true statistics: the same programs as the run on an intact cache
    result = json.loads((tmp_path / "run" / "results.json").read_text())
    assert [c["key"] for c in result["candidates"]] == [k for _, k, _ in _results(tiny.run)[1]]


def test_kill_9_during_the_held_out_test_then_resume_equals_the_uninterrupted_run(
        tiny, tmp_path, monkeypatch):
    import gpnas.run.report as report

    def one_core():  # one held-out worker: its two blocks of 16 land one after the other
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    run, log = tmp_path / "run", tmp_path / "stderr.txt"
    with open(log, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "gpnas", "run", *TINY_RUN, "--out",
                                 str(run)], env=_env(tiny.cache), start_new_session=True,
                                stderr=stderr, preexec_fn=one_core)
    progress = run / "test_progress.json"
    deadline = time.monotonic() + 600
    while not progress.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.fail(f"the run ended before its test could be killed: {log.read_text()}")
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its collecting workers
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    assert not (run / "results.json").exists()
    assert json.loads(progress.read_text())["spaces"]["nb201-cifar10"]["done"] == 16

    started = []

    def recording(*args, done=None, **kwargs):
        started.append(done and done[0])
        return score_heldout(*args, done=done, **kwargs)

    score_heldout = report.score_heldout
    monkeypatch.setattr(report, "score_heldout", recording)
    monkeypatch.setenv("GPNAS_CACHE", str(tiny.cache))
    monkeypatch.delenv("GPNAS_BENCH_DIR", raising=False)
    assert run_main("run", "--resume", run, "--quiet") == 0
    assert started == [16]  # the test went on from the second block
    assert _results(run) == _results(tiny.run)
