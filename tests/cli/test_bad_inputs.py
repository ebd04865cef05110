"""Fuzz table: every kind of file gpnas reads, corrupted (truncated, bytes flipped, wrong types,
out-of-range values, hostile paths), and bad command-line values, each run through the command
that reads it, in process.  Each must end with exit status 2 and one error line that names the
file (or the option), no traceback, and nothing written outside the folder it was meant for.
"""

import json
import shutil
import sys

import pytest

from tiny_run import A_NONE
from gpnas.cli import main
from gpnas.config import BENCH_DIR_ENV
from gpnas.run.rundir import digest

pytestmark = pytest.mark.usefixtures("one_thread")

MODELS = '''
import torch
from torch import nn


def small():
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                         nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4))


class Boom(nn.Module):
    def forward(self, x):
        raise RuntimeError("boom")


def boom():
    return Boom()


def mono():
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.BatchNorm2d(4))


def nopad():
    return nn.Sequential(nn.ReLU(), nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
'''
PROGRAM = {"format": "gpnas-program", "version": 1, "ir": [["weight"], ["frobenius", 0]]}


@pytest.fixture
def ctx(tiny, tmp_path, monkeypatch):
    """A case's world: a copy of the tiny run and store, a program file, a models module."""
    monkeypatch.setenv("GPNAS_CACHE", str(tiny.cache))
    monkeypatch.delenv(BENCH_DIR_ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fuzz_models.py").write_text(MODELS)
    shutil.copytree(tiny.run, tmp_path / "run")
    shutil.copytree(tiny.store, tmp_path / "store")
    (tmp_path / "prog.json").write_text(json.dumps(PROGRAM))
    (tmp_path / "victim.txt").write_text("keep me")
    return tmp_path


def edit_json(path, change):
    data = json.loads(path.read_text())
    out = change(data)
    path.write_text(json.dumps(data if out is None else out))


def truncate(path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


def flip(path, at=0.5):
    b = bytearray(path.read_bytes())
    i = int(len(b) * at)
    b[i: i + 8] = bytes(x ^ 0xFF for x in b[i: i + 8])
    path.write_bytes(bytes(b))


def checkpoint(run, change):
    """Change the state of checkpoint.json and re-seal it with a valid checksum."""
    def edit(ck):
        change(ck["state"])
        ck["state_sha256"] = digest(ck["state"])
    edit_json(run / "checkpoint.json", edit)


def chain(n, op="sigmoid"):
    return {"format": "gpnas-program", "version": 1,
            "ir": [["relu_in.data"]] + [[op, i] for i in range(n)]}


def nested(n):
    return "[" * n + '"weight"' + "]" * n


def write(name, text):
    def make(d):
        p = d / name
        p.write_bytes(text) if isinstance(text, bytes) else p.write_text(text)
    return make


RUN = ["run", "--generations", "1", "--population", "6", "--evolution-nets", "8",
       "--sample-nets", "4", "--test-nets", "4", "--quiet", "--out", "newrun"]
SCORE = ["score", "prog.json", "--model", "fuzz_models:small"]
BUILD = ["stats", "build", "--space", "nb201-cifar10", "--arch", A_NONE, "--out", "store",
         "--quiet"]
BENCH = ["stats", "build", "--space", "nb201-cifar10", "--nets", "2", "--out", "s2", "--quiet",
         "--bench-dir"]

# (id, set-up of the case folder, arguments, what the error line names)
CASES = [
    # -- configuration files (TOML / JSON) ------------------------------------------------------
    ("config-missing", None, RUN + ["--config", "nope.toml"], "nope.toml"),
    ("config-directory", lambda d: (d / "c.toml").mkdir(), RUN + ["--config", "c.toml"], "c.toml"),
    ("config-binary-toml", write("c.toml", b"\x00\xff\xfe\x80" * 64), RUN + ["--config", "c.toml"], "c.toml"),
    ("config-binary-json", write("c.json", b"\x89PNG\r\n\x1a\n\x00"), RUN + ["--config", "c.json"], "c.json"),
    ("config-null", write("c.json", "null"), RUN + ["--config", "c.json"], "c.json"),
    ("config-list", write("c.json", "[]"), RUN + ["--config", "c.json"], "c.json"),
    ("config-string-int", write("c.json", '{"population": "8"}'), RUN + ["--config", "c.json"], "population"),
    ("config-bool-int", write("c.json", '{"population": true}'), RUN + ["--config", "c.json"], "population"),
    ("config-float-int", write("c.toml", "population = 8.5\n"), RUN + ["--config", "c.toml"], "population"),
    ("config-zero-spaces", write("c.json", '{"sample_spaces": 0}'), RUN + ["--config", "c.json"], "sample_spaces"),
    ("config-negative-seed", write("c.toml", "seed = -1\n"), RUN + ["--config", "c.toml"], "seed"),
    ("config-negative-data-seed", write("c.toml", "data_seed = -3\n"), RUN + ["--config", "c.toml"], "data_seed"),
    ("config-huge-seed", write("c.toml", "stats_seed = 99999999999999\n"), RUN + ["--config", "c.toml"], "stats_seed"),
    ("config-huge-batch", write("c.json", '{"batch_size": 1000000}'), RUN + ["--config", "c.json"], "batch_size"),
    ("config-huge-workers", write("c.json", '{"workers": 100000}'), RUN + ["--config", "c.json"], "workers"),
    ("config-huge-height", write("c.json", '{"max_height": 1000}'), RUN + ["--config", "c.json"], "max_height"),
    ("config-nan", write("c.json", '{"crossover": NaN}'), RUN + ["--config", "c.json"], "crossover"),
    ("config-null-value", write("c.json", '{"population": null}'), RUN + ["--config", "c.json"], "population"),
    ("config-space-path", write("c.json", '{"spaces": ["x/../../escape"]}'), RUN + ["--config", "c.json"], "spaces"),
    ("config-metric-path", write("c.json", '{"metric": "../../x"}'), RUN + ["--config", "c.json"], "metric"),
    ("config-unknown-key", write("c.toml", "populaton = 8\n"), RUN + ["--config", "c.toml"], "populaton"),
    ("config-truncated-toml", write("c.toml", "population = "), RUN + ["--config", "c.toml"], "c.toml"),
    ("config-truncated-json", write("c.json", '{"population": 8'), RUN + ["--config", "c.json"], "c.json"),
    ("config-deep-json", write("c.json", nested(100_000)), RUN + ["--config", "c.json"], "c.json"),
    ("config-bool-string", write("c.json", '{"keep_introns": "yes"}'), RUN + ["--config", "c.json"], "keep_introns"),
    ("config-depths-crossed", write("c.json", '{"min_depth": 5, "max_depth": 3}'), RUN + ["--config", "c.json"], "c.json"),
    ("config-zero-generations", write("c.toml", "generations = 0\n"), RUN + ["--config", "c.toml"], "generations"),
    ("config-flipped", lambda d: (write("c.toml", "population = 8\nseed = 1\n")(d), flip(d / "c.toml", 0.2)), RUN + ["--config", "c.toml"], "c.toml"),
    # -- command-line numbers and lists --------------------------------------------------------
    ("run-negative-seed", None, RUN + ["--seed", "-1"], "--seed"),
    ("run-small-population", None, RUN + ["--population", "2"], "--population"),
    ("run-zero-batch", None, RUN + ["--batch-size", "0"], "--batch-size"),
    ("run-huge-batch", None, RUN + ["--batch-size", "100000"], "--batch-size"),
    ("run-zero-workers", None, RUN + ["--workers", "0"], "--workers"),
    ("run-negative-test-nets", None, RUN + ["--test-nets", "-5"], "--test-nets"),
    ("run-zero-generations", None, RUN + ["--generations", "0"], "--generations"),
    ("run-space-path", None, RUN + ["--space", "x/../y"], "--space"),
    ("run-empty-space", None, RUN + ["--space", ","], "--space"),
    ("run-bad-repr", None, RUN + ["--repr", "linear"], "--repr"),
    ("run-out-is-file", write("f", "x"), RUN[:-1] + ["f"], "f"),
    ("run-out-under-file", write("f", "x"), RUN[:-1] + ["f/run"], "f/run"),
    ("resume-a-file", write("f", "x"), ["run", "--resume", "f"], "f"),
    ("resume-nowhere", None, ["run", "--resume", "nowhere"], "nowhere"),
    ("resume-conflicting-flags", None, ["run", "--resume", "run", "--generations", "6", "--population", "20", "--seed", "9"], "--generations 6"),
    ("resume-with-config", write("c.toml", ""), ["run", "--resume", "run", "--config", "c.toml"], "--config"),
    ("score-zero-batch", None, SCORE + ["--batch-size", "0"], "--batch-size"),
    ("score-negative-seed", None, SCORE + ["--seed", "-1"], "--seed"),
    ("score-shape-1x1", None, ["score", "prog.json", "--model", "fuzz_models:nopad", "--input-shape", "3,1,1"], "model"),
    ("score-shape-zero", None, SCORE + ["--input-shape", "3,0,32"], "3,0,32"),
    ("score-shape-huge", None, SCORE + ["--input-shape", "60,4000,4000"], "60,4000,4000"),
    ("score-shape-text", None, SCORE + ["--input-shape", "three"], "three"),
    ("score-forward-raises", None, ["score", "prog.json", "--model", "fuzz_models:boom"], "boom"),
    ("score-channel-mismatch", None, ["score", "prog.json", "--model", "fuzz_models:mono"], "model"),
    ("score-no-module", None, ["score", "prog.json", "--model", "no_such_mod:f"], "no_such_mod"),
    ("score-no-colon", None, ["score", "prog.json", "--model", "fuzz_models"], "fuzz_models"),
    ("build-negative-seed", None, BUILD + ["--seed", "-1"], "--seed"),
    ("build-zero-threads", None, BUILD + ["--threads", "0"], "--threads"),
    ("build-zero-jobs", None, BUILD + ["--jobs", "0"], "--jobs"),
    ("build-zero-batch", None, BUILD + ["--batch-size", "0"], "--batch-size"),
    ("build-huge-batch", None, BUILD + ["--batch-size", "100000"], "--batch-size"),
    ("build-out-is-file", write("f", "x"), BUILD[:-2] + ["f", "--quiet"], "f"),
    ("baselines-empty-metrics", None, ["baselines", "--metrics", ","], "--metrics"),
    ("baselines-negative-seed", None, ["baselines", "--seed", "-1"], "--seed"),
    ("baselines-zero-batch", None, ["baselines", "--batch-size", "0"], "--batch-size"),
    ("ablate-zero-seeds", None, ["ablate", "--seeds", "0", "--out", "abl"], "--seeds"),
    ("ablate-empty-reprs", None, ["ablate", "--reprs", ",", "--out", "abl"], "--reprs"),
    ("ablate-negative-budget", None, ["ablate", "--budget", "-5", "--out", "abl"], "--budget"),
    ("ablate-zero-seconds", None, ["ablate", "--budget", "0s", "--out", "abl"], "--budget"),
    ("ablate-nan-budget", None, ["ablate", "--budget", "nans", "--out", "abl"], "--budget"),
    ("ablate-text-budget", None, ["ablate", "--budget", "lots", "--out", "abl"], "--budget"),
    ("ablate-out-is-file", write("f", "x"), ["ablate", "--seeds", "1", "--out", "f"], "f"),
    ("export-bad-format", None, ["export", "prog.json", "--format", "pdf"], "pdf"),
    ("export-out-under-file", write("f", "x"), ["export", "prog.json", "--format", "json", "--out", "f/x.json"], "f/x.json"),
    # -- a run directory: config.json, checkpoint.json, log.jsonl, test_progress.json ----------
    ("rundir-config-truncated", lambda d: truncate(d / "run/config.json"), ["run", "--resume", "run"], "config.json"),
    ("rundir-config-list", write("run/config.json", "[]"), ["run", "--resume", "run"], "config.json"),
    ("rundir-config-null", write("run/config.json", "null"), ["run", "--resume", "run"], "config.json"),
    ("rundir-config-string-int", lambda d: edit_json(d / "run/config.json", lambda c: c.update(population="6")), ["run", "--resume", "run"], "config.json"),
    ("rundir-config-edited", lambda d: edit_json(d / "run/config.json", lambda c: c.update(mutation=0.3)), ["run", "--resume", "run"], "config.json"),
    ("rundir-config-flipped", lambda d: flip(d / "run/config.json"), ["run", "--resume", "run"], "config.json"),
    ("rundir-config-unknown-key", lambda d: edit_json(d / "run/config.json", lambda c: c.update(speed=3)), ["run", "--resume", "run"], "config.json"),
    ("checkpoint-truncated", lambda d: truncate(d / "run/checkpoint.json"), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-flipped", lambda d: flip(d / "run/checkpoint.json"), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-edited-generation", lambda d: edit_json(d / "run/checkpoint.json", lambda c: c["state"].update(generation=0)), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-edited-rng", lambda d: edit_json(d / "run/checkpoint.json", lambda c: c["state"]["rng_state"]["state"].update(state=12345)), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-list", write("run/checkpoint.json", "[]"), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-sealed-wrong-type", lambda d: checkpoint(d / "run", lambda s: s.update(generation="1")), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-sealed-past-end", lambda d: checkpoint(d / "run", lambda s: s.update(generation=7)), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-sealed-bad-rng", lambda d: checkpoint(d / "run", lambda s: s.update(rng_state={"bit_generator": "MT19937"})), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-sealed-negative-rng", lambda d: checkpoint(d / "run", lambda s: s["rng_state"]["state"].update(inc=-1)), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-sealed-bad-genome", lambda d: checkpoint(d / "run", lambda s: s.update(population=[{"repr": "tree", "expr": ["bogus", "weight"]}])), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-sealed-huge-genome", lambda d: checkpoint(d / "run", lambda s: s.update(elites=[list(range(70_000))])), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-sealed-bad-fitness", lambda d: checkpoint(d / "run", lambda s: s["last"][0].__setitem__(1, "high")), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-sealed-bad-hof", lambda d: checkpoint(d / "run", lambda s: s.update(hof={"capacity": 0, "best": [], "pareto": []})), ["run", "--resume", "run"], "checkpoint.json"),
    ("checkpoint-other-config", lambda d: edit_json(d / "run/checkpoint.json", lambda c: c.update(config_sha256="0" * 64)), ["run", "--resume", "run"], "checkpoint.json"),
    ("log-garbage-line", lambda d: (d / "run/log.jsonl").write_text("garbage\n" + (d / "run/log.jsonl").read_text()), ["run", "--resume", "run"], "log.jsonl"),
    ("log-wrong-type", lambda d: (d / "run/log.jsonl").write_text('{"generation": "0"}\n'), ["run", "--resume", "run"], "log.jsonl"),
    ("log-missing-generation", lambda d: (d / "run/log.jsonl").write_text((d / "run/log.jsonl").read_text().splitlines()[1] + "\n"), ["run", "--resume", "run"], "log.jsonl"),
    ("log-binary", write("run/log.jsonl", b"\xff\xfe\x00garbage"), ["run", "--resume", "run"], "log.jsonl"),
    ("log-directory", lambda d: ((d / "run/log.jsonl").unlink(), (d / "run/log.jsonl").mkdir()), ["run", "--resume", "run"], "log.jsonl"),
    ("progress-truncated", lambda d: truncate(d / "run/test_progress.json"), ["run", "--resume", "run"], "test_progress.json"),
    ("progress-wrong-lengths", lambda d: edit_json(d / "run/test_progress.json", lambda p: [v.update(done=3) for v in p["spaces"].values()]), ["run", "--resume", "run"], "test_progress.json"),
    ("progress-space-path", lambda d: edit_json(d / "run/test_progress.json", lambda p: p["spaces"].update({"../x": {}})), ["run", "--resume", "run"], "test_progress.json"),
    ("lock-symlink", lambda d: ((d / "run/.gpnas.lock").unlink(missing_ok=True), (d / "run/.gpnas.lock").symlink_to(d / "victim.txt")), ["run", "--resume", "run"], ".gpnas.lock"),
    ("log-symlink", lambda d: ((d / "run/log.jsonl").unlink(), (d / "run/log.jsonl").symlink_to(d / "victim.txt")), ["run", "--resume", "run"], "log.jsonl"),
    # -- results.json, read by export and score -------------------------------------------------
    ("results-truncated", lambda d: truncate(d / "run/results.json"), ["export", "run"], "results.json"),
    ("results-no-candidates", write("run/results.json", '{"candidates": []}'), ["export", "run"], "results.json"),
    ("results-list", write("run/results.json", "[1, 2]"), ["export", "run"], "results.json"),
    ("results-label-type", lambda d: edit_json(d / "run/results.json", lambda r: r["candidates"][0].update(label=3)), ["export", "run"], "results.json"),
    ("results-candidate-string", lambda d: edit_json(d / "run/results.json", lambda r: r.update(candidates=["x"])), ["export", "run"], "results.json"),
    ("results-huge-batch", lambda d: edit_json(d / "run/results.json", lambda r: r["config"].update(batch_size=1000000)), ["score", "run", "--model", "fuzz_models:small"], "results.json"),
    ("results-string-batch", lambda d: edit_json(d / "run/results.json", lambda r: r["config"].update(batch_size="1")), ["export", "run"], "results.json"),
    ("results-bad-ir", lambda d: edit_json(d / "run/results.json", lambda r: r["candidates"][0].update(ir=[["weight"], ["bogus", 0]], genome=None)), ["export", "run"], "results.json"),
    ("results-huge-ir", lambda d: edit_json(d / "run/results.json", lambda r: r["candidates"][0].update(ir=chain(10_000)["ir"], genome=None)), ["export", "run"], "results.json"),
    ("results-test-type", lambda d: edit_json(d / "run/results.json", lambda r: r["candidates"][0].update(test={"nb201-cifar10": {"kendall": "high"}})), ["export", "run"], "results.json"),
    ("results-flipped", lambda d: flip(d / "run/results.json", 0.3), ["export", "run"], "results.json"),
    # -- program files, read by export and score --------------------------------------------------
    ("program-truncated", lambda d: truncate(d / "prog.json"), ["export", "prog.json"], "prog.json"),
    ("program-flipped", lambda d: flip(d / "prog.json", 0.1), ["export", "prog.json"], "prog.json"),
    ("program-null", write("prog.json", "null"), ["export", "prog.json"], "prog.json"),
    ("program-binary", write("prog.json", b"\x00\x01\x02\xff"), SCORE, "prog.json"),
    ("program-directory-name", lambda d: (d / "p.json").mkdir(), ["export", "p.json"], "p.json"),
    ("program-ir-string", write("prog.json", json.dumps(dict(PROGRAM, ir="abc"))), ["export", "prog.json"], "prog.json"),
    ("program-huge-batch", write("prog.json", json.dumps(dict(PROGRAM, batch_size=1000000))), SCORE, "prog.json"),
    ("program-zero-batch", write("prog.json", json.dumps(dict(PROGRAM, batch_size=0))), SCORE, "prog.json"),
    ("program-string-batch", write("prog.json", json.dumps(dict(PROGRAM, batch_size="1"))), ["export", "prog.json", "--format", "python"], "prog.json"),
    ("program-bad-to-scalar", write("prog.json", json.dumps(dict(PROGRAM, to_scalar="max"))), SCORE, "prog.json"),
    ("program-unknown-key", write("prog.json", json.dumps(dict(PROGRAM, colour="red"))), ["export", "prog.json"], "prog.json"),
    ("program-source-list", write("prog.json", json.dumps(dict(PROGRAM, source=[1]))), ["export", "prog.json"], "prog.json"),
    ("program-version", write("prog.json", json.dumps(dict(PROGRAM, version=9))), ["export", "prog.json"], "prog.json"),
    ("program-10000-levels", write("prog.json", json.dumps(chain(10_000))), ["export", "prog.json"], "prog.json"),
    ("program-10000-levels-score", write("prog.json", json.dumps(chain(10_000))), SCORE, "prog.json"),
    ("program-10000-nested-genome", write("prog.json", '{"format": "gpnas-program", "version": 1, "repr": "tree", "genome": {"repr": "tree", "expr": ' + nested(10_000) + "}}"), ["export", "prog.json"], "prog.json"),
    ("program-deep-tree-genome", write("prog.json", json.dumps({"format": "gpnas-program", "version": 1, "repr": "tree", "genome": {"repr": "tree", "expr": json.loads('["abs", ' * 300 + '"weight"' + "]" * 300)}})), ["export", "prog.json"], "prog.json"),
    ("program-bad-arg", write("prog.json", json.dumps(dict(PROGRAM, ir=[["weight"], ["frobenius", 7]]))), ["export", "prog.json"], "prog.json"),
    ("program-dead-code-output", write("prog.json", json.dumps(dict(PROGRAM, ir={"nodes": [["weight"]], "output": -1}))), ["export", "prog.json"], "prog.json"),
    ("program-over-cost-budget", write("prog.json", json.dumps(chain(1500, "exp"))), SCORE, "budget"),
    ("program-3000-latex", write("prog.json", json.dumps(chain(3000))), ["export", "prog.json", "--format", "latex"], "too large for a formula"),
    ("program-3000-sympy", write("prog.json", json.dumps(chain(3000))), ["export", "prog.json", "--format", "sympy"], "too large for a formula"),
    # -- the statistics store index (stats.json) and its shards ---------------------------------
    ("index-truncated", lambda d: truncate(d / "store/stats.json"), ["stats", "info", "store"], "stats.json"),
    ("index-list", write("store/stats.json", "[]"), ["stats", "info", "store"], "stats.json"),
    ("index-flipped", lambda d: flip(d / "store/stats.json", 0.05), ["stats", "info", "store"], "stats.json"),
    ("index-nets-object", lambda d: edit_json(d / "store/stats.json", lambda m: m.update(nets={})), ["stats", "info", "store"], "stats.json"),
    ("index-version", lambda d: edit_json(d / "store/stats.json", lambda m: m.update(version=2)), ["stats", "info", "store"], "stats.json"),
    ("index-shard-absolute", lambda d: edit_json(d / "store/stats.json", lambda m: m["nets"][0].update(shard=str(d / "victim.txt"))), BUILD, "stats.json"),
    ("index-shard-parent", lambda d: edit_json(d / "store/stats.json", lambda m: m["nets"][0].update(shard="../victim.txt")), BUILD, "stats.json"),
    ("index-shard-climb", lambda d: edit_json(d / "store/stats.json", lambda m: m["nets"][0].update(shard="shards/../../victim.txt")), BUILD, "stats.json"),
    ("index-shard-info", lambda d: edit_json(d / "store/stats.json", lambda m: m["nets"][0].update(shard="/etc/hostname")), ["stats", "info", "store"], "stats.json"),
    ("index-negative-bytes", lambda d: edit_json(d / "store/stats.json", lambda m: m["nets"][0].update(bytes=-1)), ["stats", "info", "store"], "stats.json"),
    ("index-huge-batch", lambda d: edit_json(d / "store/stats.json", lambda m: m["settings"].update(batch_size=1000000)), ["stats", "info", "store"], "stats.json"),
    ("index-rows", lambda d: edit_json(d / "store/stats.json", lambda m: m["nets"][0].update(group_rows=[[0, 0, 9]])), ["stats", "info", "store"], "stats.json"),
    ("index-huge-shape", lambda d: edit_json(d / "store/stats.json", lambda m: m["nets"][0]["shapes"][0].update(act=[16, 16000, 16000])), ["stats", "info", "store"], "stats.json"),
    ("index-id", lambda d: edit_json(d / "store/stats.json", lambda m: m["nets"][0].update(id=5)), ["stats", "info", "store"], "stats.json"),
    ("index-sha-type", lambda d: edit_json(d / "store/stats.json", lambda m: m["nets"][0].update(sha256=12)), ["stats", "info", "store"], "stats.json"),
    ("index-metric-path", lambda d: edit_json(d / "store/stats.json", lambda m: m["settings"].update(metric="../../x")), BUILD, "stats.json"),
    ("index-instances-type", lambda d: edit_json(d / "store/stats.json", lambda m: m["nets"][0].update(instances="4")), ["stats", "info", "store"], "stats.json"),
    # -- ground truth: CSV and NDS JSON ----------------------------------------------------------
    ("csv-metric-path", write("gt.csv", "arch,accuracy,metric\n" + A_NONE + ",50.0,x/../../../../escape\n"), RUN + ["--bench-dir", "gt.csv"], "gt.csv"),
    ("csv-accuracy-text", write("gt.csv", "arch,accuracy\n" + A_NONE + ",abc\n"), BENCH + ["gt.csv"], "gt.csv"),
    ("csv-accuracy-150", write("gt.csv", "arch,accuracy\n" + A_NONE + ",150\n"), BENCH + ["gt.csv"], "gt.csv"),
    ("csv-accuracy-nan", write("gt.csv", "arch,accuracy\n" + A_NONE + ",nan\n"), BENCH + ["gt.csv"], "gt.csv"),
    ("csv-accuracy-negative", write("gt.csv", "arch,accuracy\n" + A_NONE + ",-1\n"), BENCH + ["gt.csv"], "gt.csv"),
    ("csv-header-only", write("gt.csv", "arch,accuracy\n"), BENCH + ["gt.csv"], "gt.csv"),
    ("csv-empty", write("gt.csv", ""), BENCH + ["gt.csv"], "gt.csv"),
    ("csv-binary", write("gt.csv", b"\xff\xd8\xff\xe0\x00\x10JFIF"), BENCH + ["gt.csv"], "gt.csv"),
    ("csv-short-row", write("gt.csv", "arch,accuracy\n" + A_NONE + "\n"), BENCH + ["gt.csv"], "gt.csv"),
    ("csv-bad-arch", write("gt.csv", "arch,accuracy\n|x~0|,50\n"), BENCH + ["gt.csv"], "gt.csv"),
    ("nds-null", write("nds.json", "null"), ["stats", "build", "--space", "darts-cifar10", "--nets", "1", "--out", "s2", "--bench-dir", "nds.json"], "nds.json"),
    ("nds-records", write("nds.json", '[{"net": 3}]'), ["stats", "build", "--space", "darts-cifar10", "--nets", "1", "--out", "s2", "--bench-dir", "nds.json"], "nds.json"),
    ("nds-deep", write("nds.json", nested(50_000)), ["stats", "build", "--space", "darts-cifar10", "--nets", "1", "--out", "s2", "--bench-dir", "nds.json"], "nds.json"),
    ("nds-genotype-number", write("nds.json", '[{"net": {"genotype": 3}, "test_ep_top1": [5]}]'), ["stats", "build", "--space", "darts-cifar10", "--nets", "1", "--out", "s2", "--bench-dir", "nds.json"], "nds.json"),
    ("nds-concat-number", write("nds.json", '[{"net": {"genotype": {"normal_concat": 4}}, "test_ep_top1": [5]}]'), ["stats", "build", "--space", "darts-cifar10", "--nets", "1", "--out", "s2", "--bench-dir", "nds.json"], "nds.json"),
    ("nds-top-number", write("nds.json", '{"top": 3, "mid": []}'), ["stats", "build", "--space", "darts-cifar10", "--nets", "1", "--out", "s2", "--bench-dir", "nds.json"], "nds.json"),
    ("nds-error-text", write("nds.json", json.dumps([{"net": {"genotype": {"normal": [], "reduce": [], "normal_concat": [2, 3, 4, 5], "reduce_concat": [2, 3, 4, 5]}}, "test_ep_top1": ["x"]}])), ["stats", "build", "--space", "darts-cifar10", "--nets", "1", "--out", "s2", "--bench-dir", "nds.json"], "nds.json"),
]


def _files(root):
    """Every file under ``root`` with its size and modification time (lock files aside: a
    writer takes the lock of the folder it writes)."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in root.rglob("*") if p.is_file() and p.name != ".gpnas.lock"}


@pytest.mark.parametrize("setup, args, names", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(ctx, tiny, monkeypatch, capsys, setup, args, names):
    if setup is not None:
        setup(ctx)
    before, cache_before = _files(ctx), _files(tiny.cache)
    monkeypatch.setattr(sys, "argv", ["gpnas", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert exc.value.code == 2, err
    assert "Traceback" not in err
    assert lines and lines[-1].startswith("error: "), err
    assert names in lines[-1], lines[-1]
    # nothing written where it was not meant to be: the run / store named by --out may be
    # created (empty of results), nothing else changes
    after = _files(ctx)
    intended = ("newrun/", "s2/", "abl/")
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)
               and not k.startswith(intended) and not k.startswith("__pycache__")}
    assert changed == set(), changed
    assert _files(tiny.cache) == cache_before
    assert (ctx / "victim.txt").read_text() == "keep me"


@pytest.mark.parametrize("fmt", ["text", "json", "python"])
def test_a_3000_node_program_exports_without_a_formula(ctx, monkeypatch, capsys, fmt):
    (ctx / "prog.json").write_text(json.dumps(chain(3000)))
    monkeypatch.setattr(sys, "argv", ["gpnas", "export", "prog.json", "--format", fmt])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code in (0, None)
    text = capsys.readouterr().out
    assert "sigmoid" in text and len(text) < 2_000_000
    if fmt == "text":
        assert "too large for a formula" in text


def test_a_program_of_shared_nodes_is_shown_cut_not_expanded(ctx, monkeypatch, capsys):
    """4000 nodes that each use the one before twice: 2**4000 nodes as a tree."""
    bomb = {"format": "gpnas-program", "version": 1,
            "ir": [["weight"]] + [["add", i, i] for i in range(3999)] + [["frobenius", 3999]]}
    (ctx / "prog.json").write_text(json.dumps(bomb))
    monkeypatch.setattr(sys, "argv", ["gpnas", "export", "prog.json"])
    with pytest.raises(SystemExit) as exc:
        main()
    out = capsys.readouterr().out
    assert exc.value.code in (0, None) and "cut at 4000 characters" in out


def test_a_log_line_cut_by_a_kill_is_dropped(tiny, tmp_path):
    from gpnas.run.rundir import RunDir

    shutil.copytree(tiny.run, tmp_path / "run")
    log = tmp_path / "run" / "log.jsonl"
    log.write_text(log.read_text() + '{"generation": 2, "best_fi')
    assert [r["generation"] for r in RunDir(tmp_path / "run").log()] == [0, 1]
    RunDir(tmp_path / "run").checkpoint()  # consistent with the log


def test_scoring_refuses_a_program_whose_values_would_not_fit(ctx, monkeypatch):
    import gpnas.nasm.limits as limits
    from gpnas.errors import GpnasError
    from gpnas.nasm.score import build_model, load_factory, score_model

    monkeypatch.setattr(limits, "SCORE_MAX_BYTES", 10_000)
    net = build_model(load_factory("fuzz_models:small"))
    with pytest.raises(GpnasError, match="intermediate values"):
        score_model(net, ctx / "prog.json")


def test_count_of_bad_inputs():
    """The closing note of issue 18 counts these cases."""
    assert len(CASES) >= 150


@pytest.mark.parametrize("command, shown", [(["ablate"], "[default: 15]"),
                                            (["baselines"], "[default: one per core]"),
                                            (["run"], "[default: min]")])
def test_help_states_the_defaults_its_text_gives(monkeypatch, capsys, command, shown):
    """A help text's "[default: ...]" is printed, not taken for rich markup and dropped."""
    monkeypatch.setattr(sys, "argv", ["gpnas", *command, "--help"])
    monkeypatch.setenv("COLUMNS", "200")
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 0
    assert shown in capsys.readouterr().out
