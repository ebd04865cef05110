"""Ray glue that needs no cluster: the install hint, Ray imported only when asked for, the
lost-head watch, and the supervising parent of commands on Ray."""

import ast
import importlib.util
import os
import socket
import subprocess
import sys
from pathlib import Path

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


def test_a_store_shipped_to_a_node_is_checked_against_its_index(monkeypatch, tmp_path):
    """A node without the store's path gets its files; a shard that arrives damaged is refused
    and no copy is left for later workers."""
    import dataclasses
    import tempfile

    from gpnas.data.stats import remote
    from gpnas.data.stats.build import build_store

    store = build_store(tmp_path / "s", "nb201-cifar10",
                        ["|none~0|+|none~0|none~1|+|none~0|none~1|none~2|"], [10.0],
                        metric="test", progress=False)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "node"))
    monkeypatch.setattr(remote, "connect", lambda: type("FakeRay", (), {"get": staticmethod(
        lambda ref: ref)})())  # the object store holds the bytes themselves here
    rels = ["stats.json"] + [rec["shard"] for rec in store.nets]
    files = {rel: (store.path / rel).read_bytes() for rel in rels}
    spec = remote.StoreSpec(str(tmp_path / "elsewhere"), remote.fingerprint(store.path), files)
    damaged = dict(files, **{rels[1]: files[rels[1]][:-1] + b"x"})
    with pytest.raises(GpnasError, match="arrived damaged"):
        remote.open_store(dataclasses.replace(spec, files=damaged))
    assert not remote.copies_dir().exists() or not any(remote.copies_dir().iterdir())
    path, source = remote.open_store(spec)
    assert source == "shipped" and (Path(path) / rels[1]).read_bytes() == files[rels[1]]
    assert remote.open_store(spec) == (path, "copy")
