"""Ground truth from single files: a plain CSV of (arch, accuracy), or an official NDS JSON;
and the readers the benchmark directory loader shares."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np

from gpnas.data.groundtruth.types import Benchmark
from gpnas.data.spaces import get_space
from gpnas import schemas
from gpnas.errors import GpnasError


def read_json(path: Path):
    return schemas.read_json(path, "ground-truth file")


def read_csv_rows(path: Path) -> tuple[list[str], list[dict]]:
    text = schemas.read_text(path, "ground-truth file")
    try:
        rows = [r for r in csv.reader(io.StringIO(text, newline=""))
                if r and not r[0].startswith("#")]
    except csv.Error as exc:
        raise GpnasError(f"{path} is not a readable CSV file ({exc})") from None
    if not rows:
        raise GpnasError(f"{path} is empty")
    header = [h.strip() for h in rows[0]]
    return header, [dict(zip(header, r)) for r in rows[1:]]


def accuracy_value(v, path: Path, row: int) -> float:
    """An accuracy (percent) of a ground-truth file: a finite number in [0, 100]."""
    return schemas.accuracy(v, f"{path}: row {row}")


def load_csv_benchmark(path: str | Path, space: str) -> Benchmark:
    """A plain CSV: a header with columns ``arch`` and ``accuracy`` (percent), then one row per
    architecture in any valid encoding of ``space``.  An optional ``metric`` column names the
    metric (first row's value); lines starting with ``#`` are skipped."""
    path = Path(path)
    sp = get_space(space)
    header, rows = read_csv_rows(path)
    for col in ("arch", "accuracy"):
        if col not in header:
            raise GpnasError(f"{path}: a benchmark CSV needs columns 'arch' and 'accuracy' "
                             f"(found: {', '.join(header)})")
    archs, acc = [], []
    for i, r in enumerate(rows, start=2):
        if r.get("arch") is None or r.get("accuracy") is None:
            raise GpnasError(f"{path}: row {i} is short")
        try:
            archs.append(sp.canonical(r["arch"]))
        except GpnasError as exc:
            raise GpnasError(f"{path}: row {i}: {exc}") from None
        acc.append(accuracy_value(r["accuracy"], path, i))
    if not archs:
        raise GpnasError(f"{path}: no rows")
    metric = (rows[0].get("metric") or "").strip() or "accuracy"
    schemas.metric_name(metric, f"{path}: row 2: column metric")
    return Benchmark(sp.name, metric, f"CSV ({path})", archs, np.array(acc))


def load_nds_json(path: str | Path, space: str = "darts-cifar10") -> Benchmark:
    """An official NDS JSON (``DARTS.json`` of the NDS data release).

    The file is a list of records (or ``{"top": [...], "mid": [...]}``); each has
    ``net.genotype`` (``normal``/``reduce`` lists of ``[op, input]``, ``*_concat``) and
    ``test_ep_top1`` (per-epoch top-1 test error, percent); accuracy = 100 - the last epoch's
    error.  Only DARTS-space records with concat [2, 3, 4, 5] map to ``darts-cifar10``.  NDS samples
    each network's width and depth too; gpnas builds every genotype at its fixed C=16, 8 cells.
    """
    from gpnas.data.spaces import darts as _darts

    path = Path(path)
    sp = get_space(space)
    if sp.family != "darts":
        raise GpnasError(f"{path}: NDS JSON files map to the darts space, not {sp.name}")
    data = read_json(path)
    if (isinstance(data, dict) and isinstance(data.get("top"), list)
            and isinstance(data.get("mid"), list)):
        data = data["top"] + data["mid"]
    if not isinstance(data, list) or not data:
        raise GpnasError(f"{path}: not an NDS file (expected a list of records)")
    archs, acc = [], []
    for i, rec in enumerate(data):
        where = f"{path}: record {i}: "
        try:
            geno = rec["net"]["genotype"]
            err = rec["test_ep_top1"]
        except (KeyError, TypeError):
            raise GpnasError(where + "needs net.genotype and test_ep_top1 (is this a cell-space "
                             "NDS file?)") from None
        if not isinstance(geno, dict):
            raise GpnasError(where + "net.genotype is not an object")
        for key in ("normal_concat", "reduce_concat"):
            if geno.get(key) != list(_darts.CONCAT):
                raise GpnasError(where + f"{key} {geno.get(key)!r} is not [2, 3, 4, 5]; not the "
                                 "DARTS space")
        try:
            archs.append(_darts.from_named(geno.get("normal"), geno.get("reduce"),
                                           space=sp.name))
        except GpnasError as exc:
            raise GpnasError(where + str(exc)) from None
        last = err[-1] if isinstance(err, list) and err else err
        acc.append(100.0 - schemas.accuracy(last, where + "test_ep_top1 (top-1 error)"))
    return Benchmark(sp.name, "test_acc_nds", f"NDS ({path})", archs, np.array(acc),
                     "100 - final-epoch test top-1 error; NDS width/depth not reproduced")
