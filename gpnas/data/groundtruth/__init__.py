"""Ground truth: benchmark tables (architecture -> trained accuracy) of the search spaces.

Sources, by what ``load_benchmark(space, bench_dir, metric)`` is given:

* no ``bench_dir`` and no ``GPNAS_BENCH_DIR``: the embedded default, ``nb201-cifar10`` only --
  AnalogNAS-Bench's ``baseline_accuracy`` (an independent 200-epoch CIFAR-10 training of all
  15,625 NB201 cells; Kendall tau 0.93 against NB201's own) read from the data file of the installed
  PyPI package ``analog-nasbench``.  The package itself is never imported (its ``__init__`` is
  broken); its pickle is read with an unpickler that admits only the package's two record classes
  (mapped to plain stand-ins) and a few builtins, so no code in the file can run.
* a directory (``--bench-dir DIR`` or ``GPNAS_BENCH_DIR``) with the layout of ``shared/benchdata``
  (see its PROVENANCE.md):

  ==================== ======== ============================================================
  space                metric   file (first found)
  ==================== ======== ============================================================
  nb201-*              test     ``nb201_nats_tss_csv/nats_bench.csv``,
                                ``derived/nb201_merged.csv``  (200-epoch test accuracy)
  nb201-*              valid    ``gennas_zero/nb201/{cifar10valid,cifar100,tinyimagenet}.json``,
                                ``derived/nb201_merged.csv``  (200-epoch validation accuracy)
  darts-cifar10        valid    ``naslib_zc/zc_nasbench301.json`` (NB301 via NASLib), else an
                                official NDS ``DARTS.json`` (also under ``nds_data/``)
  ==================== ======== ============================================================

  For NB201 CIFAR-10 "valid" is the ``cifar10-valid`` setting (trained on the train split only),
  "test" the ``cifar10`` setting (trained on train+valid).  The DARTS table publishes validation
  accuracy only: asking for "test" gives it too, and the metric name says ``valid``.
* a file as ``bench_dir``: ``*.csv`` -> :func:`load_csv_benchmark`, ``*.json`` ->
  :func:`load_nds_json`.

Accuracies are percent (float64).  ``Benchmark.archs`` are canonical encodings for
``Space.build``.
"""

from __future__ import annotations

import csv
import functools
import importlib.metadata
import json
import math
import os
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpnas.errors import GpnasError
from gpnas.data.spaces import get_space

ENV_VAR = "GPNAS_BENCH_DIR"
METRICS = ("test", "valid")

#: NASLib / AnalogNAS-Bench op ids (6-tuple encoding)
_NASLIB_OPS = {0: "skip_connect", 1: "none", 2: "nor_conv_3x3", 3: "nor_conv_1x1", 4: "avg_pool_3x3"}
#: GenNAS-Zero nested-list op ids
_GENNAS_OPS = {0: "none", 1: "skip_connect", 2: "nor_conv_1x1", 3: "nor_conv_3x3", 4: "avg_pool_3x3"}

_NATS_COLUMNS = {"nb201-cifar10": "CIFAR10TestAccuracy200Epochs",
                 "nb201-cifar100": "CIFAR100TestAccuracy200Epochs",
                 "nb201-imagenet16": "ImageNetTestAccuracy200Epochs"}
_MERGED_COLUMNS = {("nb201-cifar10", "test"): "test_acc_cifar10_200ep",
                   ("nb201-cifar100", "test"): "test_acc_cifar100_200ep",
                   ("nb201-imagenet16", "test"): "test_acc_imagenet16_200ep",
                   ("nb201-cifar10", "valid"): "val_acc_cifar10valid_200ep",
                   ("nb201-cifar100", "valid"): "val_acc_cifar100_200ep",
                   ("nb201-imagenet16", "valid"): "val_acc_imagenet16_200ep"}
_GENNAS_FILES = {"nb201-cifar10": "cifar10valid.json", "nb201-cifar100": "cifar100.json",
                 "nb201-imagenet16": "tinyimagenet.json"}


@dataclass
class Benchmark:
    """A table of (architecture, accuracy) of one space, with what the accuracy is."""

    space: str
    metric: str
    source: str
    archs: list[str]
    accuracy: np.ndarray
    note: str = ""
    _index: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.accuracy = np.asarray(self.accuracy, dtype=np.float64)
        if len(self.archs) != len(self.accuracy):
            raise GpnasError(f"{self.source}: {len(self.archs)} architectures but "
                             f"{len(self.accuracy)} accuracies")

    def __len__(self) -> int:
        return len(self.archs)

    def index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {a: i for i, a in enumerate(self.archs)}
        return self._index

    def lookup(self, arch: str) -> float:
        """The accuracy of ``arch`` (any valid encoding of the space); NaN when not in the table."""
        i = self.index().get(get_space(self.space).canonical(arch))
        return float("nan") if i is None else float(self.accuracy[i])

    def sample(self, n: int, seed: int) -> tuple[list[str], np.ndarray]:
        """``n`` distinct architectures drawn with ``seed`` (a prefix of one permutation, so a
        larger ``n`` with the same seed extends a smaller one)."""
        if n < 1:
            raise GpnasError(f"--nets must be at least 1, got {n}")
        if n > len(self):
            raise GpnasError(f"{self.space}: {n} networks asked, the benchmark ({self.source}) "
                             f"has {len(self)}")
        perm = np.random.default_rng(int(seed)).permutation(len(self))[:n]
        return [self.archs[i] for i in perm], self.accuracy[perm].copy()


def _copy(b: Benchmark) -> Benchmark:
    return Benchmark(b.space, b.metric, b.source, list(b.archs), b.accuracy.copy(), b.note)


# --------------------------------------------------------------------------- encodings

def naslib_tuple_to_arch(t) -> str:
    """NASLib 6-tuple (edges (1,2),(1,3),(1,4),(2,3),(2,4),(3,4)) -> NB201 arch string."""
    if len(t) != 6 or any(int(v) not in _NASLIB_OPS for v in t):
        raise GpnasError(f"bad NASLib NB201 tuple {t!r}")
    o = [_NASLIB_OPS[int(v)] for v in t]
    return f"|{o[0]}~0|+|{o[1]}~0|{o[3]}~1|+|{o[2]}~0|{o[4]}~1|{o[5]}~2|"


def gennas_nested_to_arch(nested) -> str:
    """GenNAS-Zero ``[[a], [b, c], [d, e, f]]`` -> NB201 arch string."""
    try:
        ok = [len(g) for g in nested] == [1, 2, 3]
        ops = [[_GENNAS_OPS[int(v)] for v in g] for g in nested]
    except (TypeError, KeyError, ValueError):
        ok = False
    if not ok:
        raise GpnasError(f"bad GenNAS-Zero NB201 encoding {nested!r}")
    return "+".join("|" + "|".join(f"{op}~{i}" for i, op in enumerate(g)) + "|" for g in ops)


# --------------------------------------------------------------------------- embedded default

class _AnbArchitecture:
    """Stand-in for analognasbench.data.Architecture (attributes only)."""


class _AnbDrift:
    """Stand-in for analognasbench.data.DriftMeasurement."""


class _AnbUnpickler(pickle.Unpickler):
    _SAFE_BUILTINS = {"tuple": tuple, "list": list, "dict": dict, "set": set,
                      "frozenset": frozenset, "int": int, "float": float, "str": str,
                      "bool": bool, "complex": complex, "bytes": bytes}

    def find_class(self, module, name):
        if module == "analognasbench.data" and name == "Architecture":
            return _AnbArchitecture
        if module == "analognasbench.data" and name == "DriftMeasurement":
            return _AnbDrift
        if module == "builtins" and name in self._SAFE_BUILTINS:
            return self._SAFE_BUILTINS[name]
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in an "
                                     "analog-nasbench data file")


def analognas_data_file() -> Path:
    """The installed ``analog-nasbench`` data file (``data.anb``)."""
    try:
        files = importlib.metadata.files("analog-nasbench") or []
    except importlib.metadata.PackageNotFoundError:
        raise GpnasError("the embedded NB201 CIFAR-10 ground truth needs the PyPI package "
                         "analog-nasbench==0.1.3 (pip install analog-nasbench==0.1.3), or pass "
                         f"--bench-dir / set {ENV_VAR}") from None
    for f in files:
        if f.name == "data.anb":
            p = Path(f.locate())
            if p.is_file():
                return p.resolve()
    raise GpnasError("analog-nasbench is installed but its data file data.anb is missing; "
                     f"reinstall it or pass --bench-dir / set {ENV_VAR}")


@functools.lru_cache(maxsize=4)
def _load_anb(path: str, mtime: float) -> Benchmark:
    try:
        with open(path, "rb") as f:
            table = _AnbUnpickler(f).load()
    except Exception as exc:
        raise GpnasError(f"cannot read the analog-nasbench data file {path}: {exc}") from None
    if not isinstance(table, dict) or not table:
        raise GpnasError(f"{path}: not an analog-nasbench table")
    archs, acc = [], []
    for key, rec in table.items():
        try:
            archs.append(naslib_tuple_to_arch(key))
            acc.append(float(rec.__dict__["baseline_accuracy"]))
        except (GpnasError, KeyError, AttributeError, TypeError, ValueError):
            raise GpnasError(f"{path}: unexpected record for {key!r}") from None
    return Benchmark("nb201-cifar10", "test_acc_200ep_analognas",
                     f"analog-nasbench 0.1.3 baseline_accuracy ({path})", archs,
                     np.array(acc), note="independent 200-epoch CIFAR-10 training (AnalogNAS-Bench)")


def load_embedded() -> Benchmark:
    p = analognas_data_file()
    return _copy(_load_anb(str(p), p.stat().st_mtime))


# --------------------------------------------------------------------------- bench-dir layout

def _read_json(path: Path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except OSError as exc:
        raise GpnasError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GpnasError(f"{path} is not valid JSON ({exc})") from None


def _read_csv_rows(path: Path) -> tuple[list[str], list[dict]]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")]
    except OSError as exc:
        raise GpnasError(f"cannot read {path}: {exc.strerror or exc}") from None
    except (UnicodeDecodeError, csv.Error) as exc:
        raise GpnasError(f"{path} is not a readable CSV file ({exc})") from None
    if not rows:
        raise GpnasError(f"{path} is empty")
    header = [h.strip() for h in rows[0]]
    return header, [dict(zip(header, r)) for r in rows[1:]]


def _float(v, path: Path, row: int) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise GpnasError(f"{path}: row {row}: accuracy {v!r} is not a number") from None
    return x


def _nb201_from_csv(path: Path, space: str, arch_col: str, acc_col: str, metric: str,
                    source: str, note: str) -> Benchmark:
    header, rows = _read_csv_rows(path)
    for col in (arch_col, acc_col):
        if col not in header:
            raise GpnasError(f"{path}: column {col!r} missing (columns: {', '.join(header)})")
    sp = get_space(space)
    archs, acc = [], []
    for i, r in enumerate(rows, start=2):
        archs.append(sp.canonical(r[arch_col]))
        acc.append(_float(r[acc_col], path, i))
    return Benchmark(space, metric, source, archs, np.array(acc), note)


@functools.lru_cache(maxsize=16)
def _load_dir(root: str, space: str, metric: str) -> Benchmark:
    d = Path(root)
    sp = get_space(space)
    if sp.family == "nb201":
        merged = d / "derived" / "nb201_merged.csv"
        if metric == "test":
            nats = d / "nb201_nats_tss_csv" / "nats_bench.csv"
            if nats.is_file():
                return _nb201_from_csv(nats, space, "ArchitectureString", _NATS_COLUMNS[space],
                                       "test_acc_200ep", f"NATS-Bench tss ({nats})",
                                       "NAS-Bench-201 200-epoch test accuracy, seed mean")
            tried = [nats, merged]
        else:
            gen = d / "gennas_zero" / "nb201" / _GENNAS_FILES[space]
            if gen.is_file():
                data = _read_json(gen)
                if not isinstance(data, list):
                    raise GpnasError(f"{gen}: expected a list of [encoding, accuracy]")
                archs, acc = [], []
                for i, item in enumerate(data):
                    if not isinstance(item, (list, tuple)) or len(item) != 2:
                        raise GpnasError(f"{gen}: entry {i} is not [encoding, accuracy]")
                    archs.append(gennas_nested_to_arch(item[0]))
                    acc.append(_float(item[1], gen, i))
                note = "NAS-Bench-201 200-epoch validation accuracy"
                if space == "nb201-cifar10":
                    note += " (cifar10-valid setting: trained on the train split only)"
                return Benchmark(space, "valid_acc_200ep", f"GenNAS-Zero ({gen})", archs,
                                 np.array(acc), note)
            tried = [gen, merged]
        if merged.is_file():
            return _nb201_from_csv(merged, space, "arch_str", _MERGED_COLUMNS[(space, metric)],
                                   f"{metric}_acc_200ep", f"benchdata derived ({merged})",
                                   f"NAS-Bench-201 200-epoch {metric} accuracy")
    else:  # darts
        zc = d / "naslib_zc" / "zc_nasbench301.json"
        if zc.is_file():
            data = _read_json(zc)
            table = data.get("cifar10") if isinstance(data, dict) else None
            if not isinstance(table, dict):
                raise GpnasError(f"{zc}: expected {{'cifar10': {{arch: {{...}}}}}}")
            archs, acc = [], []
            for key, rec in table.items():
                archs.append(sp.canonical(key))
                if not isinstance(rec, dict) or "val_accuracy" not in rec:
                    raise GpnasError(f"{zc}: entry {key} has no val_accuracy")
                acc.append(_float(rec["val_accuracy"], zc, len(acc)))
            return Benchmark(space, "valid_acc_nb301", f"NASLib NB301 zero-cost file ({zc})",
                             archs, np.array(acc),
                             "NB301 validation accuracy (no test accuracy is published)")
        tried = [zc]
        for nds in (d / "DARTS.json", d / "nds_data" / "DARTS.json"):
            if nds.is_file():
                return load_nds_json(nds, space)
            tried.append(nds)
    raise GpnasError(f"benchmark directory {d} has no {metric} accuracy for {space}; looked for "
                     + ", ".join(str(t) for t in tried))


# --------------------------------------------------------------------------- public loaders

def load_csv_benchmark(path: str | Path, space: str) -> Benchmark:
    """A plain CSV: a header with columns ``arch`` and ``accuracy`` (percent), then one row per
    architecture in any valid encoding of ``space``.  An optional ``metric`` column names the
    metric (first row's value); lines starting with ``#`` are skipped."""
    path = Path(path)
    sp = get_space(space)
    header, rows = _read_csv_rows(path)
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
        acc.append(_float(r["accuracy"], path, i))
    if not archs:
        raise GpnasError(f"{path}: no rows")
    metric = (rows[0].get("metric") or "").strip() or "accuracy"
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
    data = _read_json(path)
    if isinstance(data, dict) and "top" in data and "mid" in data:
        data = list(data["top"]) + list(data["mid"])
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
        for key in ("normal_concat", "reduce_concat"):
            if list(geno.get(key, [])) != list(_darts.CONCAT):
                raise GpnasError(where + f"{key} {geno.get(key)!r} is not [2, 3, 4, 5]; not the "
                                 "DARTS space")
        archs.append(_darts.from_named(geno.get("normal"), geno.get("reduce"), space=sp.name,
                                       where=where))
        last = err[-1] if isinstance(err, list) and err else err
        a = 100.0 - _float(last, path, i)
        if not math.isfinite(a):
            raise GpnasError(where + "test_ep_top1 is not finite")
        acc.append(a)
    return Benchmark(sp.name, "test_acc_nds", f"NDS ({path})", archs, np.array(acc),
                     "100 - final-epoch test top-1 error; NDS width/depth not reproduced")


def resolve_bench_dir(bench_dir: str | Path | None) -> Path | None:
    if bench_dir is None:
        env = os.environ.get(ENV_VAR, "").strip()
        if not env:
            return None
        bench_dir = env
    p = Path(bench_dir).expanduser()
    if not p.exists():
        raise GpnasError(f"benchmark directory {p} does not exist")
    return p.resolve()


def load_benchmark(space: str, bench_dir: str | Path | None = None,
                   metric: str = "test") -> Benchmark:
    """The ground truth of ``space`` (see the module docstring for the sources)."""
    sp = get_space(space)
    if metric not in METRICS:
        raise GpnasError(f"unknown metric {metric!r}; use one of {', '.join(METRICS)}")
    d = resolve_bench_dir(bench_dir)
    if d is None:
        if sp.name != "nb201-cifar10":
            raise GpnasError(f"no ground truth for {sp.name} is built in (only nb201-cifar10 is); "
                             f"pass --bench-dir DIR (or set {ENV_VAR}) with the layout of "
                             "shared/benchdata")
        if metric != "test":
            raise GpnasError("the embedded nb201-cifar10 ground truth (analog-nasbench) has test "
                             f"accuracy only; pass --bench-dir DIR (or set {ENV_VAR}) for "
                             "validation accuracy")
        return load_embedded()
    if d.is_file():
        if d.suffix.lower() == ".csv":
            return load_csv_benchmark(d, sp.name)
        if d.suffix.lower() == ".json":
            return load_nds_json(d, sp.name)
        raise GpnasError(f"{d}: a benchmark file must be .csv (arch,accuracy) or an NDS .json")
    if sp.family == "darts":
        metric = "valid"  # the only one published; the metric name says so
    return _copy(_load_dir(str(d), sp.name, metric))


__all__ = ["Benchmark", "ENV_VAR", "METRICS", "gennas_nested_to_arch", "load_benchmark",
           "load_csv_benchmark", "load_embedded", "load_nds_json", "naslib_tuple_to_arch"]
