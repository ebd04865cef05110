"""Ray glue that needs no cluster: the install hint, Ray imported only when asked for, the
lost-head watch, and the supervising parent of commands on Ray."""

import ast
import importlib.util
import os
import socket
import subprocess
import sys

import pytest
from typer.testing import CliRunner

import gpnas.data.cluster as cluster
from gpnas.cli import app
from gpnas.cli.supervise import supervised
from gpnas.config import RunConfig
from gpnas.errors import GpnasError
from paths import REPO


def test_without_the_extra_executor_ray_says_how_to_install_it(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "ray" else real(name, *a))
    for args in (["run", "--executor", "ray", "--out", str(tmp_path / "r")],
                 ["stats", "build", "--space", "nb201-cifar10", "--arch",
                  "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|", "--out",
                  str(tmp_path / "s"), "--executor", "ray"]):
        result = CliRunner().invoke(app, args)
        assert isinstance(result.exception, GpnasError), result.output
        assert "pip install 'gpnas[ray]'" in str(result.exception)
    monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
    with pytest.raises(GpnasError, match=r"gpnas\[ray\]"):
        cluster.connect()


def test_ray_is_imported_only_inside_functions():
    """So `make run` and every command without --executor ray never load or start it."""
    for f in (REPO / "gpnas").rglob("*.py"):
        for node in ast.parse(f.read_text()).body:
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.split(".")[0] == "ray" for n in names), f


def test_the_default_path_does_not_load_ray():
    """Every command module and the whole run path import without Ray (`make run`)."""
    code = ("import sys, gpnas.cli, gpnas.run, gpnas.run.ablation, gpnas.cli.supervise, "
            "gpnas.evaluation.ray_backend, gpnas.data.stats.remote; "
            "from gpnas.evaluation.executor import make_executor; "
            "from gpnas.evaluation.engine import EngineConfig; "
            "make_executor({}, EngineConfig()).close(); "
            "assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_executor_settings_are_checked():
    assert RunConfig(executor="ray", ray_address="10.0.0.1:6379").validate()
    with pytest.raises(GpnasError, match="executor must be one of"):
        RunConfig(executor="dask").validate()
    with pytest.raises(GpnasError, match="ray_address needs executor = ray"):
        RunConfig(ray_address="auto").validate()


def test_a_silent_head_ends_the_wait(monkeypatch):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]

    class FakeRay:
        def wait(self, refs, num_returns, timeout):
            return [], refs

        def get_runtime_context(self):
            return type("Context", (), {"gcs_address": f"127.0.0.1:{port}"})()

    monkeypatch.setattr(cluster, "ray_module", FakeRay)
    monkeypatch.setattr(cluster, "HEAD_GRACE_S", 0.0)
    with pytest.raises(cluster.HeadLost, match=f"head at 127.0.0.1:{port}.*run the same command"):
        cluster.gather(["ref"])


def _dies():
    os._exit(1)  # as Ray ends a driver whose node lost its Ray


def _fails():
    raise GpnasError("bad input")


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="needs the ray extra")
def test_the_parent_reports_a_child_that_ray_ended():
    with pytest.raises(GpnasError, match=r"Ray ended the run's process \(exit status 1\).*"
                                         "resume me to continue"):
        supervised(_dies, continue_with="resume me")
    with pytest.raises(SystemExit) as stop:
        supervised(_fails, continue_with="-")  # the child printed its own one-line error
    assert stop.value.code == 2
