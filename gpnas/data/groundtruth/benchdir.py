"""Ground truth from a directory laid out like ``shared/benchdata`` (see its PROVENANCE.md)."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from gpnas.data.groundtruth.encodings import gennas_nested_to_arch
from gpnas.data.groundtruth.files import accuracy_value, read_csv_rows, read_json, load_nds_json
from gpnas.data.groundtruth.types import Benchmark
from gpnas.data.spaces import get_space
from gpnas.errors import GpnasError

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


def _nb201_from_csv(path: Path, space: str, arch_col: str, acc_col: str, metric: str,
                    source: str, note: str) -> Benchmark:
    header, rows = read_csv_rows(path)
    for col in (arch_col, acc_col):
        if col not in header:
            raise GpnasError(f"{path}: column {col!r} missing (columns: {', '.join(header)})")
    sp = get_space(space)
    archs, acc = [], []
    for i, r in enumerate(rows, start=2):
        if r.get(arch_col) is None or r.get(acc_col) is None:
            raise GpnasError(f"{path}: row {i} is short")
        archs.append(sp.canonical(r[arch_col]))
        acc.append(accuracy_value(r[acc_col], path, i))
    return Benchmark(space, metric, source, archs, np.array(acc), note)


@functools.lru_cache(maxsize=16)
def load_dir(root: str, space: str, metric: str) -> Benchmark:
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
                data = read_json(gen)
                if not isinstance(data, list):
                    raise GpnasError(f"{gen}: expected a list of [encoding, accuracy]")
                archs, acc = [], []
                for i, item in enumerate(data):
                    if not isinstance(item, (list, tuple)) or len(item) != 2:
                        raise GpnasError(f"{gen}: entry {i} is not [encoding, accuracy]")
                    archs.append(gennas_nested_to_arch(item[0]))
                    acc.append(accuracy_value(item[1], gen, i))
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
            data = read_json(zc)
            table = data.get("cifar10") if isinstance(data, dict) else None
            if not isinstance(table, dict):
                raise GpnasError(f"{zc}: expected {{'cifar10': {{arch: {{...}}}}}}")
            archs, acc = [], []
            for key, rec in table.items():
                archs.append(sp.canonical(key))
                if not isinstance(rec, dict) or "val_accuracy" not in rec:
                    raise GpnasError(f"{zc}: entry {key} has no val_accuracy")
                acc.append(accuracy_value(rec["val_accuracy"], zc, len(acc)))
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
