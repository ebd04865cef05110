"""Side-by-side timing against an earlier revision of gpnas, in one run.

A benchmark that compares "new" with "the code as it was" extracts the earlier revision's source
tree (``git archive``) once and runs the same measurement script in a subprocess per side, with
that tree or this checkout first on ``sys.path``; it interleaves the sides (A B A B ...) and
reports medians, so that a shared machine's load falls on both alike.

    tree = baseline_tree("3825e87")       # a temporary directory with that revision's packages
    out = run_side(tree, __file__, ["--profile", "8"])   # the script's JSON answer

The script, started with ``--side TREE``, calls :func:`enter_side` before it imports gpnas.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the last commit on main before issue 17's branch was rebased onto it (collection, engine,
#: held-out test, baselines as they were; issue 17 first branched from 3825e87)
BEFORE_ISSUE_17 = "71d262f"


def baseline_tree(rev: str) -> Path:
    """The source tree of ``rev`` of this repository in a temporary directory (removed at exit)."""
    into = Path(tempfile.mkdtemp(prefix=f"gpnas-{rev}-"))
    atexit.register(shutil.rmtree, into, ignore_errors=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True,
                             capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def run_side(tree: Path, script: str, args: list[str], timeout: float = 3600) -> dict:
    """Run ``script --side tree args`` with this Python; its last stdout line, parsed as JSON."""
    proc = subprocess.run([sys.executable, script, "--side", str(tree), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
    if proc.returncode != 0:
        raise RuntimeError(f"{script} --side {tree} {' '.join(args)} failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def enter_side(tree: str) -> None:
    """Make ``tree``'s packages (gpnas, primitives, representations) the ones imported."""
    sys.path.insert(0, str(Path(tree).resolve()))


def load() -> str:
    """The 1, 5 and 15 minute load averages, for the record."""
    return " / ".join(f"{v:.1f}" for v in os.getloadavg())
