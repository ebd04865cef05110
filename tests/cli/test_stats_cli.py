"""``gpnas stats build`` / ``gpnas stats info``."""

import json
import sys

import pytest
from typer.testing import CliRunner

from gpnas.config import BENCH_DIR_ENV
from gpnas.cli import app, main
from paths import BENCHDATA

needs_benchdata = pytest.mark.skipif(
    not BENCHDATA.is_dir(),
    reason=f"benchmark data not found at {BENCHDATA} (../shared/benchdata from the repo root)")

A_NONE = "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"
A_LIGHT = "|nor_conv_1x1~0|+|none~0|skip_connect~1|+|none~0|avg_pool_3x3~1|skip_connect~2|"

runner = CliRunner()


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    monkeypatch.delenv(BENCH_DIR_ENV, raising=False)


def _run_main(monkeypatch, capsys, *args):
    """The real entry point (user errors -> message, exit 2), in process."""
    monkeypatch.setattr(sys, "argv", ["gpnas", *args])
    with pytest.raises(SystemExit) as exc:
        main()
    cap = capsys.readouterr()
    return exc.value.code, cap.out, cap.err


def test_build_and_info_with_the_embedded_default(tmp_path):
    out = tmp_path / "s"
    r = runner.invoke(app, ["stats", "build", "--space", "nb201-cifar10", "--arch", A_LIGHT,
                            "--arch", A_NONE, "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["stats", "info", str(out), "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["nets"] == 2 and d["instances"] == [19, 4]
    assert len(d["tensors"]) == 22 and d["tensors"][0] == "weight"
    assert d["dtype"] == "float16" and d["batch_size"] == 1 and d["order"] == "rcb"
    assert d["metric"] == "test_acc_200ep_analognas" and d["accuracy"]["known"] == 2
    assert d["disk_bytes"] > 0 and d["problems"] == []
    r = runner.invoke(app, ["stats", "info", str(out)])
    assert r.exit_code == 0 and "nb201-cifar10" in r.stdout and "instances" in r.stdout
    # --nets samples the benchmark; a second build with more nets extends the same store
    out2 = tmp_path / "n"
    for n in (1, 2):
        r = runner.invoke(app, ["stats", "build", "--space", "nb201-cifar10", "--nets", str(n),
                                "--out", str(out2), "--batch-size", "2", "--seed", "1",
                                "--quiet"])
        assert r.exit_code == 0, r.output
    d = json.loads(runner.invoke(app, ["stats", "info", str(out2), "--json"]).stdout)
    assert d["nets"] == 2 and d["batch_size"] == 2


def test_info_reports_a_truncated_shard(tmp_path):
    out = tmp_path / "s"
    r = runner.invoke(app, ["stats", "build", "--space", "nb201-cifar10", "--arch", A_NONE,
                            "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    shard = next((out / "shards").glob("*.safetensors"))
    shard.write_bytes(shard.read_bytes()[:500])
    r = runner.invoke(app, ["stats", "info", str(out), "--json"])
    assert r.exit_code == 1
    (problem,) = json.loads(r.stdout)["problems"]
    assert str(shard) in problem and "truncated" in problem


@pytest.mark.parametrize("args, message", [
    (["stats", "build", "--space", "nb201-cifar1", "--nets", "1", "--out", "X"],
     "unknown search space 'nb201-cifar1'"),
    (["stats", "build", "--space", "nb201-cifar10", "--out", "X"], "either --nets N or"),
    (["stats", "build", "--space", "nb201-cifar10", "--arch", "|x~0|", "--out", "X"],
     "bad NAS-Bench-201 architecture"),
    (["stats", "build", "--space", "darts-cifar10", "--nets", "2", "--out", "X"],
     "--bench-dir"),
    (["stats", "build", "--space", "nb201-cifar10", "--nets", "2", "--order", "xyz",
      "--out", "X"], "unknown collection order"),
    (["stats", "info", "X"], "does not exist"),
])
def test_user_errors_exit_2_without_traceback(monkeypatch, capsys, tmp_path, args, message):
    args = [str(tmp_path / "out") if a == "X" else a for a in args]
    code, _, err = _run_main(monkeypatch, capsys, *args)
    assert code == 2
    assert message in " ".join(err.split())
    assert "Traceback" not in err


def test_settings_mismatch_exits_2(monkeypatch, capsys, tmp_path):
    out = str(tmp_path / "s")
    r = runner.invoke(app, ["stats", "build", "--space", "nb201-cifar10", "--arch", A_NONE,
                            "--out", out, "--quiet"])
    assert r.exit_code == 0, r.output
    code, _, err = _run_main(monkeypatch, capsys, "stats", "build", "--space", "nb201-cifar10",
                             "--arch", A_NONE, "--out", out, "--order", "cbr", "--quiet")
    assert code == 2 and "other settings" in err


@needs_benchdata
def test_build_darts_from_benchdata(tmp_path):
    out = tmp_path / "d"
    r = runner.invoke(app, ["stats", "build", "--space", "darts-cifar10", "--nets", "1",
                            "--bench-dir", str(BENCHDATA), "--out", str(out), "--quiet"])
    assert r.exit_code == 0, r.output
    d = json.loads(runner.invoke(app, ["stats", "info", str(out), "--json"]).stdout)
    assert d["nets"] == 1 and d["metric"] == "valid_acc_nb301"
    assert 14 <= d["instances"][0] <= 142 and d["sep_instances"][0] <= d["instances"][0]
    assert 91.0 < d["accuracy"]["min"] < 95.0
