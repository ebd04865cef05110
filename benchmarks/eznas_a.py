"""EZNAS-A reproduced: Kendall tau of the paper's NASM on NB201 and DARTS networks.

    python benchmarks/eznas_a.py score --space nb201-cifar10 --nets 500 --bench-dir ../shared/benchdata
    python benchmarks/eznas_a.py report --bench-dir ../shared/benchdata

``score`` builds each network (``Space.build(arch, seed)``: gpnas's reference init, which is the
official code's init, or ``--init torch``: PyTorch's default init, no re-initialisation) and
computes, for every batch size of ``--batch-sizes``, EZNAS-A = mean over instances of
``frobenius(sigmoid(logdet(sign(x))))`` (``torch.logdet`` of the 4-D tensor, NaN -> 0) for:

* ``paper``: x = ``weight_grad.noise`` (the paper's input; the built-in ``eznas-a``);
* ``code``: x = ``relu_in_grad.data`` (the input the official ``verify_scores.py`` hands the
  program as ``ARG8``; the built-in ``eznas-a-code``);
* ``paper_pw`` (DARTS only): x = the weight gradient (noise input) of the POINTWISE conv of a
  separable / dilated conv, which the official code keeps (gpnas keeps the depthwise one).

Only what the formula needs is collected, directly with torch: a noise pass (conv weight
gradients) and a data pass (conv input gradients), as :mod:`gpnas.data.stats.trace` defines them
(same noise generator, train-mode BN, backward of the sum of the logits); the instances are those
the collector finds.  ``tests/baselines/test_eznas_a.py`` checks these scores equal the DSL
programs on the collected statistics.  Images: :func:`gpnas.data.stats.images.sample_images` of
the space (``--images`` for real data), one batch per batch size for every network.  Rows are
appended to ``--out/<space>-<init>.csv`` as they are computed, so a rerun resumes.

``report`` reads those files, computes Kendall tau-b / Spearman rho against test and validation
accuracy, and writes the tables into ``benchmarks/results/eznas_a.md`` between its table markers
(the text around them is kept).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gpnas.baselines.evaluate import rank_correlations  # noqa: E402
from gpnas.data.groundtruth import load_benchmark  # noqa: E402
from gpnas.data.spaces import get_space  # noqa: E402
from gpnas.data.stats.images import sample_images  # noqa: E402
from gpnas.data.stats.trace import instance_info  # noqa: E402

SPACES = ("nb201-cifar10", "nb201-cifar100", "nb201-imagenet16", "darts-cifar10")
SHORT = {"nb201-cifar10": "NB201 C10", "nb201-cifar100": "NB201 C100",
         "nb201-imagenet16": "NB201 IN16", "darts-cifar10": "DARTS C10 (NB301)"}
#: the published figures (official code, batch 16, NB201 validation accuracy; NDS DARTS: paper)
PUBLISHED = {"nb201-cifar10": "0.620", "nb201-cifar100": "0.617", "nb201-imagenet16": "-",
             "darts-cifar10": "0.547 (NDS DARTS)"}
BEGIN, END = "<!-- eznas_a tables: begin -->", "<!-- eznas_a tables: end -->"


# -- the formula, directly with torch ----------------------------------------------------------
def eznas_layer(x: torch.Tensor) -> float:
    """frobenius(sigmoid(logdet(sign(x)))) of one layer's tensor, as the official code writes
    it: torch.logdet of the 4-D tensor, NaN set to 0 (-inf kept: sigmoid makes it 0)."""
    v = torch.logdet(torch.sign(x.float()))
    v[v != v] = 0
    return float(torch.linalg.vector_norm(torch.sigmoid(v)))


def build(space: str, arch: str, seed: int, init: str) -> torch.nn.Module:
    sp = get_space(space)
    if init == "reference":
        return sp.build(arch, seed=seed)
    fam = sp._module()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return fam.build(fam.parse(arch, space=space), sp.num_classes)


def _pass(model, x, seed, convs, targets):
    """Forward (train mode) and backward of the sum of the outputs; the gradients of
    ``targets(conv, conv_input)`` for every conv, and the conv inputs."""
    inputs = {}
    hooks = [c.register_forward_pre_hook(lambda m, a: inputs.__setitem__(m, a[0])) for c in convs]
    try:
        with torch.random.fork_rng(devices=[]), torch.enable_grad():
            torch.manual_seed(seed)
            loss = model(x.detach().clone().requires_grad_(True)).float().sum()
    finally:
        for h in hooks:
            h.remove()
    ts = [targets(c, inputs[c]) for c in convs]
    return torch.autograd.grad(loss, ts, allow_unused=True), [inputs[c] for c in convs]


def net_scores(model, images: torch.Tensor, seed: int, pointwise: bool = False) -> dict:
    """EZNAS-A variants of one network for one image batch (see the module docstring)."""
    model.train()
    names = instance_info(model, images[:1]).convs
    modules = dict(model.named_modules())
    convs = [modules[n] for n in names]
    # the official code's conv of each instance: the pointwise one of a separable/dilated conv
    official = [modules[n[: -len("depthwise")] + "pointwise"] if n.endswith(".depthwise")
                else modules[n] for n in names] if pointwise else []
    weighted = list(dict.fromkeys(convs + official))
    noise = torch.randn(images.shape, generator=torch.Generator().manual_seed(int(seed)))
    wg, _ = _pass(model, noise, seed, weighted, lambda c, x: c.weight)
    ig, xs = _pass(model, images, seed, convs, lambda c, x: x)
    grad = dict(zip(weighted, wg))
    out = {"paper": np.mean([eznas_layer(grad[c]) for c in convs]),
           "code": np.mean([eznas_layer(g * (x > 0)) for g, x in zip(ig, xs)]),
           "instances": len(convs)}
    if pointwise:
        out["paper_pw"] = np.mean([eznas_layer(grad[c]) for c in official])
    return out


# -- score: incremental CSV ---------------------------------------------------------------------
def ground_truth(space: str, bench_dir, n: int, seed: int, archs_file=None):
    """The architectures (``n`` of one seeded permutation, or those of ``archs_file``, one per
    line) with their test and validation accuracy."""
    test = load_benchmark(space, bench_dir, "test")
    if archs_file:
        archs = [a for a in Path(archs_file).read_text().splitlines() if a.strip()]
        acc_test = np.array([test.lookup(a) for a in archs])
    else:
        archs, acc_test = test.sample(n, seed)
    if get_space(space).family == "darts":
        return archs, acc_test, acc_test, test
    valid = load_benchmark(space, bench_dir, "valid")
    return archs, acc_test, np.array([valid.lookup(a) for a in archs]), test


def score(args) -> None:
    space, bs = args.space, [int(b) for b in args.batch_sizes.split(",")]
    archs, acc_test, acc_valid, _ = ground_truth(space, args.bench_dir, args.nets, args.seed,
                                                 args.archs)
    path = Path(args.out) / f"{space}-{args.init}.csv"
    pointwise = get_space(space).family == "darts"
    variants = ["paper", "code"] + (["paper_pw"] if pointwise else [])
    cols = ["arch", "test", "valid", "params", "instances"] + \
        [f"{v}_b{b}" for b in bs for v in variants] + ["seconds"]
    done = set()
    if path.exists():
        with path.open() as f:
            done = {r["arch"] for r in csv.DictReader(f)}
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(",".join(cols) + "\n")
    images = {b: sample_images(space, b, args.seed, args.images) for b in bs}
    torch.set_num_threads(args.threads)
    todo = [i for i, a in enumerate(archs) if a not in done]
    print(f"{space} ({args.init} init): {len(done)} done, {len(todo)} to do", flush=True)
    t_start = time.time()
    with path.open("a", newline="") as f:
        w = csv.writer(f)
        for k, i in enumerate(todo):
            t0 = time.perf_counter()
            row = {"arch": archs[i], "test": acc_test[i], "valid": acc_valid[i]}
            model = build(space, archs[i], args.seed, args.init)
            for b in bs:
                s = net_scores(model, images[b], args.seed, pointwise)
                row.update({f"{v}_b{b}": s[v] for v in variants}, instances=s["instances"])
            row["params"] = sum(p.numel() for p in model.parameters())
            row["seconds"] = round(time.perf_counter() - t0, 3)
            w.writerow([row[c] for c in cols])
            f.flush()
            if (k + 1) % 25 == 0:
                rate = (time.time() - t_start) / (k + 1)
                print(f"  {k + 1}/{len(todo)}  {rate:.2f} s/net", flush=True)


# -- report -----------------------------------------------------------------------------------
def _read(path: Path) -> dict[str, np.ndarray]:
    with path.open() as f:
        rows = list(csv.DictReader(f))
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0] if k != "arch"} \
        if rows else {}


def _cell(scores, acc) -> str:
    r = rank_correlations(scores, acc)
    return "-" if r["kendall"] is None else f"{r['kendall']:.3f} ({r['spearman']:.3f})"


def _interval(scores, acc, resamples: int = 1000) -> str:
    """Kendall tau and its 95% bootstrap interval over the networks (seeded)."""
    rng = np.random.default_rng(0)
    taus = [rank_correlations(scores[i], acc[i])["kendall"]
            for i in rng.integers(0, len(acc), (resamples, len(acc)))]
    lo, hi = np.percentile([t for t in taus if t is not None], [2.5, 97.5])
    return f"{rank_correlations(scores, acc)['kendall']:.3f} [{lo:.3f}, {hi:.3f}]"


def report(args) -> None:
    out = Path(args.out)
    lines = [BEGIN, "",
             "Kendall tau-b (Spearman rho in brackets) of each score vs trained accuracy. "
             "`paper`: x = weight_grad.noise (built-in `eznas-a`); `code`: x = relu_in_grad.data "
             "(what the official verify_scores.py feeds, built-in `eznas-a-code`); `paper_pw`: "
             "weight_grad.noise of the pointwise conv of DARTS separable/dilated convs (the "
             "official layer choice); `params`: parameter count on the same networks.", ""]
    for init in ("reference", "torch"):
        files = [(s, out / f"{s}-{init}.csv") for s in SPACES if (out / f"{s}-{init}.csv").exists()]
        if not files:
            continue
        lines += [f"### {'gpnas reference init (= the official code init)' if init == 'reference' else 'PyTorch default init (no re-initialisation)'}", "",
                  "| space | networks | accuracy | batch | paper | code | paper_pw | params | published (official, batch 16) |",
                  "|---|---:|---|---:|---:|---:|---:|---:|---|"]
        for s, path in files:
            d = _read(path)
            if not d:
                continue
            n = len(d["test"])
            metrics = ["valid"] if get_space(s).family == "darts" else ["valid", "test"]
            batches = sorted({int(k.split("_b")[1]) for k in d if k.startswith("paper_b")})
            for m in metrics:
                for b in batches:
                    cells = [_cell(d[f"{v}_b{b}"], d[m]) if f"{v}_b{b}" in d else "-"
                             for v in ("paper", "code", "paper_pw")]
                    lines.append(f"| {SHORT[s]} | {n} | {m} | {b} | " + " | ".join(cells)
                                 + f" | {_cell(d['params'], d[m])} | "
                                 + (PUBLISHED[s] if m == "valid" else "-") + " |")
            secs = d["seconds"]
            lines.append(f"| | | | | | | | | {np.median(secs):.2f} s/net median |")
        lines += ["", "Kendall tau between each score and the parameter count (how much of it is "
                  "a size proxy):", "", "| space | batch | paper | code | paper_pw |",
                  "|---|---:|---:|---:|---:|"]
        for s, path in files:
            d = _read(path)
            for b in sorted({int(k.split("_b")[1]) for k in d if k.startswith("paper_b")}):
                lines.append(f"| {SHORT[s]} | {b} | " + " | ".join(
                    _cell(d[f"{v}_b{b}"], d["params"]).split(" ")[0] if f"{v}_b{b}" in d
                    else "-" for v in ("paper", "code", "paper_pw")) + " |")
        lines += ["", "Sampling error: Kendall tau at batch 16 vs validation accuracy with a 95% "
                  "bootstrap interval (1000 resamples of the networks, seed 0):", "",
                  "| space | networks | paper | code | params | published |",
                  "|---|---:|---:|---:|---:|---|"]
        for s, path in files:
            d = _read(path)
            lines.append(f"| {SHORT[s]} | {len(d['valid'])} | " + " | ".join(
                _interval(d[c], d["valid"]) if c in d else "-"
                for c in ("paper_b16", "code_b16", "params")) + f" | {PUBLISHED[s]} |")
        lines.append("")
    lines += [f"Written by `python benchmarks/eznas_a.py report` on {platform.node() or 'host'} "
              f"({time.strftime('%Y-%m-%d')}).", "", END]
    md = Path(args.md)
    text = md.read_text() if md.exists() else f"# EZNAS-A reproduced\n\n{BEGIN}\n{END}\n"
    if BEGIN not in text or END not in text:
        text += f"\n{BEGIN}\n{END}\n"
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    md.write_text(head + "\n".join(lines) + tail)
    print("\n".join(lines))


# -- the reproduction tables: EZNAS-A columns on their test networks -------------------------
TABLE_COLUMNS = {"eznas_a": "paper_b16", "eznas_a_code": "code_b16"}


def _bold_best(cells: list[str]) -> list[str]:
    """paper_tables' rule: bold every number within 5e-4 of the row's best."""
    def lead(c):
        try:
            return float(c.replace("**", "").split()[0])
        except (ValueError, IndexError):
            return None
    plain = [c.replace("**", "") for c in cells]
    vals = [lead(c) for c in plain]
    top = max((v for v in vals if v is not None), default=None)
    return [f"**{c}**" if v is not None and abs(v - top) < 5e-4 else c
            for c, v in zip(plain, vals)]


def tables(args) -> None:
    """Add the eznas_a / eznas_a_code columns to the reproduction tables: scores of the tables'
    test networks (``--out/<space>-reference.csv`` from ``score --archs``, batch 16) become rows
    of paper_tables' baseline cache, and Table 1 (tau and rho) gets the two columns after the
    other baselines, as a rerun of paper_tables.py with all baselines would write them."""
    repro = ROOT / "benchmarks/results/reproduce"
    rows_of = {}
    for space in SPACES:
        with (repro / f"scores_{space}.csv").open() as f:
            nets = [(r["arch"], float(r["accuracy"])) for r in csv.DictReader(f)]
        with (Path(args.out) / f"{space}-reference.csv").open() as f:
            mine = {r["arch"]: r for r in csv.DictReader(f)}
        acc = np.array([a for _, a in nets])
        rows_of[SHORT[space].split(" (")[0]] = {
            m: rank_correlations([float(mine[a][col]) for a, _ in nets], acc)
            for m, col in TABLE_COLUMNS.items()}
        cache = repro / "baseline_scores" / f"{space}.csv"
        with cache.open() as f:
            have = {(r["arch"], r["metric"]) for r in csv.DictReader(f)}
        with cache.open("a", newline="") as f:
            w = csv.writer(f)
            for a, _ in nets:
                for m, col in TABLE_COLUMNS.items():
                    if (a, m) not in have:
                        w.writerow([a, m, repr(float(mine[a][col])), mine[a]["seconds"]])
    md = repro / "tables.md"
    lines = md.read_text().split("\n")
    key = "kendall"
    for i, line in enumerate(lines):
        if line.startswith("Spearman rho:"):
            key = "spearman"
        if not line.startswith("| space | params"):
            continue
        cols = line.split(" | ")
        if "eznas_a" in cols:
            continue
        at = cols.index("zico") + 1
        end = len(cols) - (1 if "EZNAS (published)" in line else 0)  # cells that compete
        lines[i] = " | ".join(cols[:at] + list(TABLE_COLUMNS) + cols[at:])
        lines[i + 1] = lines[i + 1].replace("|---|", "|---|" + "---:|" * len(TABLE_COLUMNS), 1)
        j = i + 2
        while j < len(lines) and lines[j].startswith("| "):
            cells = [c.strip() for c in lines[j].strip().strip("|").split("|")]
            name = cells[0]
            if name in rows_of:
                new = [f"{rows_of[name][m][key]:.3f}" for m in TABLE_COLUMNS]
                body = cells[1:at] + new + cells[at:end]
                lines[j] = "| " + " | ".join([name] + _bold_best(body) + cells[end:]) + " |"
            else:
                lines[j] = "| " + " | ".join(cells[:at] + ["-"] * len(TABLE_COLUMNS)
                                             + cells[at:]) + " |"
            j += 1
    md.write_text("\n".join(lines))
    data = json.loads((repro / "tables.json").read_text())
    for space in SPACES:
        data["baselines"][space].update(rows_of[SHORT[space].split(" (")[0]])
    (repro / "tables.json").write_text(json.dumps(data, indent=1) + "\n")
    for name, r in rows_of.items():
        print(name, {m: (round(v["kendall"], 3), round(v["spearman"], 3)) for m, v in r.items()})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("what", choices=("score", "report", "tables"))
    ap.add_argument("--space", default="nb201-cifar10", choices=SPACES)
    ap.add_argument("--nets", type=int, default=500)
    ap.add_argument("--archs", default=None, help="score these architectures (one per line) "
                    "instead of --nets of a seeded permutation")
    ap.add_argument("--batch-sizes", default="1,16")
    ap.add_argument("--init", default="reference", choices=("reference", "torch"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bench-dir", default=None)
    ap.add_argument("--images", default=None)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks/results/eznas_a"))
    ap.add_argument("--md", default=str(ROOT / "benchmarks/results/eznas_a.md"))
    args = ap.parse_args()
    {"score": score, "report": report, "tables": tables}[args.what](args)


if __name__ == "__main__":
    main()
