"""Scoring any model with a NASM: the API and the CLI."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import gpnas
from gpnas.errors import GpnasError
from gpnas.nasm.programfile import ProgramFile, save_program
from gpnas.nasm.score import build_model, score_model
from nasm_helpers import ROOT, env, images, parse


def test_score_api_errors(model_dir):
    import userzoo

    p = parse("frobenius(weight_grad.noise)")
    with pytest.raises(GpnasError, match="no ReLU -> Conv2d -> BatchNorm2d instance"):
        gpnas.score(userzoo.no_instances(), p, input_shape=(3, 8, 8))
    with pytest.raises(GpnasError, match="not a torch.nn.Module"):
        build_model(userzoo.not_a_model)
    r = score_model(build_model(userzoo.factory), p, images=images())
    assert r.instances == 5 and len(r.values) == 5 and np.isclose(r.score, np.mean(r.values))


def _cli(*args, pythonpath=None):
    variables = env(os.pathsep.join(x for x in (str(pythonpath or ""), str(ROOT)) if x))
    return subprocess.Popen([sys.executable, "-m", "gpnas", *map(str, args)], cwd=ROOT,
                            env=variables,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_cli_score_json(tmp_path, model_dir):
    import userzoo

    pf = ProgramFile(parse("mul(log(abs(weight_grad.noise)), add(weight, weight))"))
    prog = save_program(tmp_path / "prog.json", pf)
    job = _cli("score", prog, "--model", "userzoo:factory", "--input-shape", "3,16,16",
               "--seed", 2, "--json", pythonpath=model_dir)
    want = gpnas.score(build_model(userzoo.factory, seed=2), pf, input_shape=(3, 16, 16), seed=2)
    out, err = job.communicate(timeout=120)
    assert job.returncode == 0, err
    got = json.loads(out)
    assert got["instances"] == 5 and got["score"] == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize("argv", [["export", "{bad}", "--format", "text"],
                                  ["score", "{bad}", "--model", "userzoo:factory"],
                                  ["score", "{good}", "--model", "userzoo:nothing"]])
def test_cli_errors_exit_2_without_traceback(tmp_path, model_dir, monkeypatch, capsys, argv):
    from gpnas.cli import main

    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "gpnas-program", "version": 1, "ir": [["weight"], ["bogus", 0]]}')
    good = save_program(tmp_path / "good.json", parse("frobenius(weight)"))
    argv = [a.format(bad=bad, good=good) for a in argv]
    monkeypatch.setattr(sys, "argv", ["gpnas", *argv])
    with pytest.raises(SystemExit) as info:
        main()
    assert info.value.code == 2
    captured = capsys.readouterr()
    err = "".join(captured.err.split())  # rich wraps (and may fold) long lines
    assert "error:" in err and "Traceback" not in captured.err + captured.out
    if "bad.json" in " ".join(argv):
        assert "bad.json" in err and "unknownop'bogus'" in err
    else:
        assert "noattribute'nothing'" in err
