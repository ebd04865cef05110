"""End to end: `gpnas run` and `gpnas ablate` on the embedded default (tiny settings)."""

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

from gpnas.evaluation.ensemble import rank_ensemble

TINY = ["--generations", "1", "--population", "6", "--evolution-nets", "8", "--sample-nets",
        "4", "--test-nets", "5", "--quiet"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = dict(os.environ)
    e["GPNAS_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    e.pop("GPNAS_BENCH_DIR", None)
    return e


def gpnas(args, env, cwd):
    return subprocess.run([sys.executable, "-m", "gpnas", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=600)


def test_run_writes_a_complete_run_directory_and_resume_is_a_no_op(env, tmp_path):
    out = tmp_path / "run"
    r = gpnas(["run", "--repr", "tree", *TINY, "--out", str(out)], env, tmp_path)
    assert r.returncode == 0, r.stderr
    for f in ("config.json", "log.jsonl", "checkpoint.json", "results.json", "fitness.png",
              "test_scores.csv"):
        assert (out / f).exists(), f
    results = json.loads((out / "results.json").read_text())
    assert results["generations"] == 1
    assert [json.loads(x)["generation"] for x in (out / "log.jsonl").read_text().splitlines()] == [0, 1]
    best = results["candidates"][0]
    assert best["label"] == "final-top1" and best["program"]
    test = best["test"]["nb201-cifar10"]
    assert test["n"] == 5 and (test["invalid"] is not None or -1 <= test["kendall"] <= 1)
    assert "best program" in r.stdout
    again = gpnas(["run", "--resume", str(out), "--quiet"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert json.loads((out / "results.json").read_text())["candidates"][0]["key"] == best["key"]


def test_run_refuses_bad_input_without_traceback(env, tmp_path):
    r = gpnas(["run", "--repr", "tree", "--space", "nb999-mnist", *TINY, "--out", str(tmp_path / "x")], env, tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "nb999-mnist" in r.stderr
    r = gpnas(["run", "--resume", str(tmp_path / "nowhere")], env, tmp_path)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = gpnas(["run", "--repr", "linear", *TINY], env, tmp_path)
    assert r.returncode == 2 and "repr" in r.stderr


def test_ablate_compares_representations(env, tmp_path):
    out = tmp_path / "abl"
    r = gpnas(["ablate", "--reprs", "tree,sequential", "--seeds", "1", "--generations", "1",
               "--population", "6", "--test-nets", "5", "--out", str(out), "--quiet"]
              + ["--config", str(_tiny_config(tmp_path))], env, tmp_path)
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "ablation.json").read_text())
    assert set(summary["variants"]) == {"tree", "sequential"}
    assert (out / "ablation.png").exists() and "test tau nb201-cifar10" in (out / "ablation.md").read_text()
    seq = summary["variants"]["sequential"][0]
    assert seq["total_length"] is None or seq["total_length"] >= seq["size"]


def _tiny_config(tmp_path):
    f = tmp_path / "tiny.toml"
    f.write_text("evolution_nets = 8\nsample_nets = 4\n")
    return f


def test_discovery_preset_picks_by_validation_and_tests_references(env, tmp_path):
    """The discovery preset end to end (tiny): network-level programs over cross-sample
    statistics, racing, a validation pick, NASWOT (DSL) and #params beside it, a seed program."""
    out = tmp_path / "disc"
    seed = tmp_path / "seed.json"
    from gpnas.baselines.dsl import DSL, dsl_tree
    from gpnas.nasm.programfile import ProgramFile, save_program

    rep, tree = dsl_tree("naswot")
    save_program(seed, ProgramFile(rep.lower(tree), "tree", rep.to_json(tree), dsl=DSL,
                                   cross_batch=4))
    r = gpnas(["run", "--preset", "discovery", "--generations", "2", "--population", "8",
               "--evolution-nets", "16", "--validation-nets", "6", "--sample-nets", "16",
               "--ensemble-folds", "2", "--rungs", "2", "--test-nets", "5", "--cross-batch", "4", "--references",
               "params,naswot", "--seed-programs", str(seed), "--out", str(out), "--quiet"],
              env, tmp_path)
    assert r.returncode == 0, r.stderr
    results = json.loads((out / "results.json").read_text())
    cfg = results["config"]
    assert (cfg["preset"], cfg["aggregation"], cfg["dedup"]) == ("discovery", "evolved", True)
    best = results["candidates"][0]
    assert best["label"] == "validation-best" and set(best["validation"]) == {"nb201-cifar10"}
    assert set(results["references"]) == {"params", "naswot"}
    assert results["references"]["naswot"]["nb201-cifar10"]["n"] == 5
    log = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert [r[0] for r in log[0]["rungs"]] == [8, None] and log[0]["rungs"][1][1] <= \
        log[0]["rungs"][0][1]
    assert all(rec["distinct_functions"] <= rec["distinct_programs"] for rec in log)
    assert "naswot (reference)" in r.stdout
    # the validation ensemble: members among the tested candidates, its test tau that of the
    # members' log ranks summed over the test networks
    ens = results["ensemble"]
    assert 1 <= len(ens["members"]) <= cfg["ensemble"] == 8
    # sized by 2-fold cross-validation: a held-out score per size, at most the best size
    assert len(ens["size_scores"]) == len(ens["size_errors"]) == 8
    assert len(ens["members"]) <= int(np.argmax(ens["size_scores"])) + 1
    assert set(ens["members"]) <= {c["label"] for c in results["candidates"]}
    rows = list(csv.DictReader((out / "test_scores.csv").open()))
    assert len(rows) == 5 and "validation-ensemble" in rows[0]
    member = [[float(row[m]) for row in rows] for m in ens["members"]]
    acc = [float(row["accuracy"]) for row in rows]
    want = stats.kendalltau(rank_ensemble(member), acc).statistic
    assert ens["test"]["nb201-cifar10"]["kendall"] == pytest.approx(want)
    assert "validation-ensemble" in r.stdout
    r = gpnas(["export", str(out), "--candidate", ens["members"][-1], "--format", "text"],
              env, tmp_path)
    assert r.returncode == 0, r.stderr
