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

import os
from pathlib import Path

from gpnas.config import BENCH_DIR_ENV
from gpnas.data.groundtruth.benchdir import load_dir
from gpnas.data.groundtruth.embedded import load_embedded
from gpnas.data.groundtruth.encodings import gennas_nested_to_arch, naslib_tuple_to_arch
from gpnas.data.groundtruth.files import load_csv_benchmark, load_nds_json
from gpnas.data.groundtruth.types import Benchmark, copy_benchmark
from gpnas.data.spaces import get_space
from gpnas.errors import GpnasError

METRICS = ("test", "valid")


def resolve_bench_dir(bench_dir: str | Path | None) -> Path | None:
    if bench_dir is None:
        env = os.environ.get(BENCH_DIR_ENV, "").strip()
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
                             f"pass --bench-dir DIR (or set {BENCH_DIR_ENV}) with the layout of "
                             "shared/benchdata")
        if metric != "test":
            raise GpnasError("the embedded nb201-cifar10 ground truth (analog-nasbench) has test "
                             f"accuracy only; pass --bench-dir DIR (or set {BENCH_DIR_ENV}) for "
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
    return copy_benchmark(load_dir(str(d), sp.name, metric))


__all__ = ["Benchmark", "METRICS", "gennas_nested_to_arch", "load_benchmark", "load_csv_benchmark",
           "load_embedded", "load_nds_json", "naslib_tuple_to_arch", "resolve_bench_dir"]
