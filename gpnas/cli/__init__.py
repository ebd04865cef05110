"""The ``gpnas`` command line."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import typer
from rich.table import Table

from primitives import PrimitiveError, default_primitive_set

from gpnas.console import err, out
from gpnas.errors import GpnasError
from gpnas.cli.stats import stats_app

app = typer.Typer(
    help="gpnas: discover zero-shot neural architecture scoring metrics (NASMs) by genetic "
    "programming, evaluated on statistics of randomly initialised networks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(stats_app, name="stats")


@app.callback()
def _root() -> None:
    """gpnas: genetic programming for zero-shot NAS metrics."""


@app.command()
def ops(as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table.")):
    """List the primitive operations: id, name, typed signatures, sympy form, cost."""
    import sympy

    pset = default_primitive_set()
    rows = []
    for op in sorted(pset.ops, key=lambda o: o.paper_id):
        args = sympy.symbols("A B")[: op.arity]
        rows.append({
            "id": op.paper_id,
            "name": op.name,
            "arity": op.arity,
            "kind": op.kind,
            "signatures": [str(s) for s in op.signatures],
            "sympy": str(op.sympy(*args)),
            "cost": op.cost,
            "doc": op.doc,
        })
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    table = Table(title=f"{len(rows)} primitive operations", show_lines=False)
    for col in ("id", "name", "signatures", "sympy", "cost"):
        table.add_column(col, overflow="fold")
    for r, op in zip(rows, sorted(pset.ops, key=lambda o: o.paper_id)):
        table.add_row(str(r["id"]), r["name"], _compact_signature(op), r["sympy"],
                      f"{r['cost']:g}")
    out.print(table)


def _opt(default, *names, help: str):
    return typer.Option(default, *names, help=help, show_default=False)


@app.command()
def run(
    repr_: str = _opt(None, "--repr", help="Program representation: tree | sequential "
                      "[default: tree]"),
    space: str = _opt(None, "--space", help="Comma-separated spaces to evolve and test on: "
                      "nb201-cifar10, nb201-cifar100, nb201-imagenet16, darts-cifar10 "
                      "[default: nb201-cifar10]"),
    bench_dir: str = _opt(None, "--bench-dir", help="Directory of benchmark ground truth "
                          "(layout of shared/benchdata); default $GPNAS_BENCH_DIR, else the "
                          "embedded analog-nasbench NB201 CIFAR-10 accuracies"),
    metric: str = _opt(None, "--metric", help="Ground-truth accuracy: test | valid [default: test]"),
    generations: int = _opt(None, "--generations", help="Generations [default: 15, paper]"),
    population: int = _opt(None, "--population", help="Population size N [default: 50, paper]"),
    evolution_nets: int = _opt(None, "--evolution-nets", help="Evolution pool per space "
                               "[default: 80, paper]"),
    sample_nets: int = _opt(None, "--sample-nets", help="Networks per sampled space per "
                            "generation [default: 20, paper]"),
    test_nets: int = _opt(None, "--test-nets", help="Held-out test networks per space "
                          "[default: 200; the paper protocol is 1000]"),
    batch_size: int = _opt(None, "--batch-size", help="Images per statistics batch [default: 1]"),
    bloat: str = _opt(None, "--bloat", help="Bloat control: parsimony | double-tournament | none "
                      "[default: parsimony]"),
    workers: int = _opt(None, "--workers", help="Local evaluation processes [default: 1]"),
    seed: int = _opt(None, "--seed", help="Seed of the run [default: 0]"),
    out: str = _opt(None, "--out", help="Run directory [default: runs/<repr>-<spaces>-s<seed>]"),
    resume: str = _opt(None, "--resume", help="Continue the interrupted run in this directory"),
    config: str = _opt(None, "--config", help="TOML or JSON file of configuration keys "
                       "(flags override it)"),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
):
    """Evolve a NASM (Algorithm 1 of EZNAS), test the winners on held-out networks.

    Writes config, per-generation log, checkpoints, results.json and plots to the run
    directory; --resume continues an interrupted run exactly.
    """
    from gpnas.config import RunConfig
    from gpnas.run.evolve import execute
    from gpnas.run.rundir import RunDir

    if resume:
        rundir = RunDir(resume)
        cfg = RunConfig.from_dict(rundir.config())
    else:
        base = RunConfig.from_file(config).to_dict() if config else RunConfig().to_dict()
        flags = {"repr": repr_, "spaces": space, "bench_dir": bench_dir, "metric": metric,
                 "generations": generations, "population": population,
                 "evolution_nets": evolution_nets, "sample_nets": sample_nets,
                 "test_nets": test_nets, "batch_size": batch_size, "bloat": bloat,
                 "workers": workers, "seed": seed}
        base.update({k: v for k, v in flags.items() if v is not None})
        if base.get("bench_dir") is None and os.environ.get("GPNAS_BENCH_DIR"):
            base["bench_dir"] = os.environ["GPNAS_BENCH_DIR"]
        cfg = RunConfig.from_dict(base)
        rundir = RunDir(out or _fresh_run_path(cfg)).create(cfg.to_dict())
    results = execute(cfg, rundir, resume=bool(resume), progress=not quiet)
    _print_results(results, rundir.path)


@app.command()
def ablate(
    reprs: str = typer.Option("tree,sequential", "--reprs", help="Variants to compare: tree, "
                              "sequential, sequential-introns (sequential without intron "
                              "removal)"),
    seeds: int = typer.Option(3, "--seeds", help="Seeds per variant (0..K-1)"),
    budget: str = typer.Option(None, "--budget", help="Same budget for every run: N "
                               "evaluations ('2000') or seconds ('600s'); default: the "
                               "configured generations"),
    space: str = _opt(None, "--space", help="Comma-separated spaces [default: nb201-cifar10]"),
    bench_dir: str = _opt(None, "--bench-dir", help="Benchmark directory (see gpnas run)"),
    generations: int = _opt(None, "--generations", help="Generations [default: 15]"),
    population: int = _opt(None, "--population", help="Population [default: 50]"),
    test_nets: int = _opt(None, "--test-nets", help="Held-out test networks per space "
                          "[default: 200]"),
    config: str = _opt(None, "--config", help="TOML/JSON file of run configuration keys"),
    out: str = typer.Option("runs/ablation", "--out", help="Ablation directory (re-running "
                            "resumes unfinished runs)"),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
):
    """Compare program representations under the same budget and data.

    Writes one run directory per variant and seed, then ablation.md (test tau mean ± std per
    space, program size / effective length, invalid rate, evaluations/s, wall time),
    ablation.json and ablation.png.
    """
    from gpnas.run.ablation import run_ablation
    from gpnas.config import RunConfig

    base = RunConfig.from_file(config).to_dict() if config else RunConfig().to_dict()
    flags = {"spaces": space, "bench_dir": bench_dir or os.environ.get("GPNAS_BENCH_DIR"),
             "generations": generations, "population": population, "test_nets": test_nets}
    base.update({k: v for k, v in flags.items() if v is not None})
    cfg = RunConfig.from_dict(base)
    max_evaluations = max_seconds = None
    if budget:
        try:
            if budget.endswith("s"):
                max_seconds = float(budget[:-1])
            else:
                max_evaluations = int(budget)
        except ValueError:
            raise GpnasError(f"--budget must be N (evaluations) or Ns (seconds), not {budget!r}")
        if cfg.generations == RunConfig().generations and generations is None:
            cfg.generations = 10_000  # the budget ends the runs
    variants = [v.strip() for v in reprs.split(",") if v.strip()]
    summary = run_ablation(cfg, variants, list(range(seeds)), Path(out), max_evaluations,
                           max_seconds, progress=not quiet)
    from gpnas.run.ablation import to_markdown

    out_md = to_markdown(summary)
    print(out_md)
    err.print(f"ablation written to {out}/ablation.md, ablation.json, ablation.png")


def _fresh_run_path(cfg) -> Path:
    """runs/<repr>-<spaces>-s<seed>, numbered -2, -3, ... when taken."""
    base = Path("runs") / f"{cfg.repr}-{'+'.join(cfg.spaces)}-s{cfg.seed}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def _print_results(results: dict, path) -> None:
    spaces = sorted(results["test_nets"])
    table = Table(title=f"held-out test ({', '.join(f'{s}: {n} nets' for s, n in results['test_nets'].items())})")
    table.add_column("program")
    table.add_column("size", justify="right")
    for s in spaces:
        table.add_column(f"{s} tau", justify="right")
        table.add_column("rho", justify="right")
    for c in results["candidates"]:
        cells = []
        for s in spaces:
            t = c["test"].get(s, {})
            cells += ([f"{t['kendall']:.3f}", f"{t['spearman']:.3f}"] if t.get("kendall") is not None
                      else [t.get("invalid") or "-", ""])
        table.add_row(c["label"], str(c["size"]), *cells)
    out.print(table)
    if results["candidates"]:
        out.print(f"[bold]best program[/]: {results['candidates'][0]['program']}")
    out.print(f"search {results['search_seconds']:.0f}s, test {results['test_seconds']:.0f}s; "
              f"results in {path}/results.json")


@app.command("export")
def export_cmd(
    source: str = typer.Argument(..., help="A run directory (its best program), its "
                                 "results.json, or a program file"),
    fmt: str = typer.Option("text", "--format", "-f", help="text | latex | sympy | python | json"),
    out_file: str = typer.Option(None, "--out", "-o", show_default=False,
                                 help="Write to this file instead of stdout"),
    simplify: bool | None = typer.Option(
        None, "--simplify/--no-simplify", show_default=False,
        help="Simplify the formula with sympy (the simplified program is kept only if it "
        "re-scores equal); default: on for text, latex, sympy; off for python, json"),
    candidate: str = typer.Option(None, "--candidate", show_default=False,
                                  help="Another candidate of a run: label (best-ever1) or index"),
    timeout: float = typer.Option(None, "--timeout", show_default=False,
                                  help="Seconds sympy may take (default 5)"),
):
    """Export a NASM: formula (text, LaTeX, sympy), a standalone torch module, or a program file."""
    from gpnas.nasm.export import export, write_export

    text = export(source, fmt, simplify=simplify, candidate=candidate, timeout=timeout)
    if out_file:
        err.print(f"wrote {write_export(text, out_file)}")
    else:
        sys.stdout.write(text)


@app.command("score")
def score_cmd(
    program: str = typer.Argument(..., help="A program file, or a run directory (its best "
                                  "program)"),
    model: str = typer.Option(..., "--model", help="pkg.module:factory returning an nn.Module"),
    input_shape: str = typer.Option("3,32,32", "--input-shape", help="C,H,W of the input"),
    batch_size: int = typer.Option(None, "--batch-size", show_default=False,
                                   help="Images per batch (default: the program's)"),
    seed: int = typer.Option(0, "--seed", help="Seed of model init, images and noise"),
    images: str = typer.Option(None, "--images", show_default=False,
                               help="Real images: CIFAR python batches or a folder of image "
                               "files (default: the built-in photograph)"),
    candidate: str = typer.Option(None, "--candidate", show_default=False,
                                  help="Another candidate of a run directory"),
    as_json: bool = typer.Option(False, "--json", help='Print {"score": ..., "instances": ...}'),
):
    """Score any torch model with a NASM (statistics collected on the fly)."""
    from gpnas.nasm.programfile import load_program
    from gpnas.nasm.score import build_model, load_factory, parse_shape, score_model

    pf = load_program(program, candidate=candidate)
    shape = parse_shape(input_shape)
    net = build_model(load_factory(model), seed, model)
    result = score_model(net, pf, input_shape=shape, seed=seed, batch_size=batch_size,
                         images_path=images)
    if as_json:
        print(json.dumps(result.to_json()))
    else:
        print(f"{result.score:.10g}")
        err.print(f"{result.instances} instances; program {pf.program.text()}")


def _compact_signature(op) -> str:
    """'(T, T) -> T  for T in act|bn|weight|scalar' instead of one line per overload."""
    ins = {s.inputs[0] for s in op.signatures}
    outs = {s.output for s in op.signatures}
    generic = "T" if len(ins) > 1 else next(iter(ins))
    args = ", ".join([generic] * op.arity)
    result = "T" if outs == ins and len(ins) > 1 else "|".join(sorted(outs))
    where = f"  T: {'|'.join(t for t in ('act', 'bn', 'weight', 'scalar') if t in ins)}"
    return f"({args}) -> {result}" + (where if len(ins) > 1 else "")


def _baselines_command():
    """``gpnas baselines`` (gpnas/baselines/cli.py): a light module; the metrics, torch work and
    scipy are imported only when the command runs."""
    from gpnas.cli.baselines import baselines

    return baselines


baselines_command = _baselines_command()
app.command("baselines")(baselines_command)


def main() -> None:
    """Entry point: user errors print a message and exit 2, never a traceback."""
    try:
        app()
    except (GpnasError, PrimitiveError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        sys.exit(2)
    except KeyboardInterrupt:
        err.print("[yellow]interrupted[/]")
        sys.exit(130)
