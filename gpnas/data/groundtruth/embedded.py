"""The embedded default ground truth: AnalogNAS-Bench's NB201 CIFAR-10 accuracies.

The PyPI package ``analog-nasbench`` is never imported (its ``__init__`` is broken); its data
file is located with ``importlib.metadata`` and read with an unpickler that admits only the
package's two record classes (mapped to plain stand-ins) and a few builtins, so no code in the
file can run.
"""

from __future__ import annotations

import functools
import importlib.metadata
import pickle
from pathlib import Path

import numpy as np

from gpnas.config import BENCH_DIR_ENV
from gpnas.data.groundtruth.encodings import naslib_tuple_to_arch
from gpnas.data.groundtruth.types import Benchmark, copy_benchmark
from gpnas.errors import GpnasError


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
                         f"--bench-dir / set {BENCH_DIR_ENV}") from None
    for f in files:
        if f.name == "data.anb":
            p = Path(f.locate())
            if p.is_file():
                return p.resolve()
    raise GpnasError("analog-nasbench is installed but its data file data.anb is missing; "
                     f"reinstall it or pass --bench-dir / set {BENCH_DIR_ENV}")


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
    return copy_benchmark(_load_anb(str(p), p.stat().st_mtime))
