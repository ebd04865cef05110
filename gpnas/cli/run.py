"""``gpnas run``: evolve a NASM, test it on held-out networks, write a run directory."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from gpnas.cli.options import opt
from gpnas.cli.supervise import supervised
from gpnas.console import out
from gpnas.errors import GpnasError


def run_command(
    preset: str = opt(None, "--preset", help="Starting point of the settings: paper (EZNAS's "
                      "algorithm exactly) | discovery (network-level programs over cross-sample "
                      "statistics, 100-network racing fitness averaged over the spaces, a "
                      "validation pick and a validation ensemble of up to 8 programs sized by "
                      "cross-validation, no duplicate "
                      "functions in selection, NASWOT / #params / FLOPs tested alongside); a "
                      "config file and flags override it [default: paper]"),
    repr_: str = opt(None, "--repr", help="Program representation: tree | sequential "
                      "[default: tree]"),
    space: str = opt(None, "--space", help="Comma-separated spaces to evolve and test on: "
                      "nb201-cifar10, nb201-cifar100, nb201-imagenet16, darts-cifar10 "
                      "[default: nb201-cifar10]"),
    bench_dir: str = opt(None, "--bench-dir", help="Directory of benchmark ground truth "
                          "(layout of shared/benchdata); default $GPNAS_BENCH_DIR, else the "
                          "embedded analog-nasbench NB201 CIFAR-10 accuracies"),
    metric: str = opt(None, "--metric", help="Ground-truth accuracy: test | valid [default: test]"),
    generations: int = opt(None, "--generations", help="Generations [default: 15, paper]"),
    population: int = opt(None, "--population", help="Population size N [default: 50, paper]"),
    evolution_nets: int = opt(None, "--evolution-nets", help="Evolution pool per space "
                               "[default: 80, paper]"),
    sample_nets: int = opt(None, "--sample-nets", help="Networks per sampled space per "
                            "generation [default: 20, paper]"),
    test_nets: int = opt(None, "--test-nets", help="Held-out test networks per space "
                          "[default: 200; the paper protocol is 1000]"),
    batch_size: int = opt(None, "--batch-size", help="Images per statistics batch [default: 1]"),
    aggregation: str = opt(None, "--aggregation", help="How a program scores a network: paper "
                           "(mean over instances of a per-instance expression, as EZNAS) | "
                           "evolved (network-level programs: layer aggregations, depth and size "
                           "terms are evolved) [default: paper]"),
    cross_batch: int = opt(None, "--cross-batch", help="Collect cross-sample statistics (NASWOT "
                           "codes kernel, Grams, channel covariance, input-gradient Gram) of a "
                           "batch of this many images and add their ops to the DSL (0: none) "
                           "[default: 0]"),
    fitness: str = opt(None, "--fitness", help="Per-space fitness: kendall | spearman | "
                       "kendall-partial-size (partial tau given log #params) | "
                       "kendall-size-strata (tau within size quartiles) [default: kendall]"),
    across_spaces: str = opt(None, "--across-spaces", help="Per-space fitnesses -> one: min "
                             "(the worst space, the paper) | mean [default: min]"),
    rungs: int = opt(None, "--rungs", help="Racing: every program on 1/2^(R-1) of the sample, "
                     "the better half on twice as many, ... (1: all on all) [default: 1]"),
    validation_nets: int = opt(None, "--validation-nets", help="Validation networks per space "
                               "that pick the final program (0: none) [default: 0]"),
    ensemble: int = opt(None, "--ensemble", help="Also report a rank ensemble of up to this many "
                        "programs, chosen greedily on the validation networks (0: none) "
                        "[default: 0]"),
    ensemble_folds: int = opt(None, "--ensemble-folds", help="Size the ensemble by K-fold "
                              "cross-validation on the validation networks: members are added "
                              "only while they help on networks they were not chosen on (0: "
                              "always --ensemble members while they help) [default: 5]"),
    dedup: bool = opt(None, "--dedup/--no-dedup", help="Select functionally equal programs "
                      "(same outputs on the probe) only once [default: off; on with --preset "
                      "discovery]"),
    seed_programs: str = opt(None, "--seed-programs", help="Comma-separated program files that "
                             "open the first generation (e.g. programs/naswot.json)"),
    references: str = opt(None, "--references", help="Proxies tested beside the candidates on "
                          "the same networks: params, flops, naswot, jacov, swap, meco"),
    bloat: str = opt(None, "--bloat", help="Bloat control: parsimony | double-tournament | none "
                      "[default: parsimony]"),
    workers: int = opt(None, "--workers", help="Evaluation processes, or with --executor ray "
                        "Ray actors [default: 1; ray: one per cluster CPU]"),
    executor: str = opt(None, "--executor", help="auto | serial | process | ray [default: auto: "
                         "serial with one worker, else processes]; on --resume it may change"),
    ray_address: str = opt(None, "--ray-address", help="Ray cluster to use with --executor ray "
                            "(host:port or auto) [default: start a local Ray]"),
    seed: int = opt(None, "--seed", help="Seed of the run [default: 0]"),
    out: str = opt(None, "--out", help="Run directory [default: runs/<repr>-<spaces>-s<seed>]"),
    resume: str = opt(None, "--resume", help="Continue the interrupted run in this directory"),
    config: str = opt(None, "--config", help="TOML or JSON file of configuration keys "
                       "(flags override it)"),
    quiet: bool = typer.Option(False, "--quiet", help="No progress output."),
):
    """Evolve a NASM (Algorithm 1 of EZNAS), test the winners on held-out networks.

    Writes config, per-generation log, checkpoints, results.json and plots to the run
    directory; --resume continues an interrupted run exactly (search or held-out test), with its
    own configuration: of the other flags only --workers, --executor and --ray-address may
    change.  One process writes a run directory at a time.
    """
    from gpnas.data.cluster import require_ray
    from gpnas.config import FLAGS, RunConfig
    from gpnas.run.rundir import RunDir

    flags = {"repr": repr_, "spaces": space, "bench_dir": bench_dir, "metric": metric,
             "generations": generations, "population": population,
             "evolution_nets": evolution_nets, "sample_nets": sample_nets,
             "test_nets": test_nets, "batch_size": batch_size, "bloat": bloat,
             "aggregation": aggregation, "cross_batch": cross_batch, "preset": preset,
             "fitness": fitness, "across_spaces": across_spaces, "rungs": rungs,
             "validation_nets": validation_nets, "ensemble": ensemble,
             "ensemble_folds": ensemble_folds,
             "dedup": dedup, "seed_programs": seed_programs, "references": references,
             "workers": workers, "executor": executor,
             "ray_address": ray_address, "seed": seed}
    if resume:
        if config or (out and Path(out) != Path(resume)):
            raise GpnasError("--resume continues a run with its own configuration: --config "
                             "and --out cannot be given with it")
        rundir = RunDir(resume)
        with rundir.lock():
            cfg = _resumed_config(rundir.run_config(), flags, FLAGS)
            rundir.checkpoint(), rundir.test_progress()  # every file checked before any work
            _execute(cfg, rundir, True, not quiet)
    else:
        cfg = RunConfig.from_sources(config, flags)
        if cfg.executor == "ray":
            require_ray()  # before the run directory is made
        rundir = RunDir(out or _fresh_run_path(cfg)).make()
        with rundir.lock():
            rundir.create(cfg.to_dict())
            _execute(cfg, rundir, False, not quiet)


def _execute(cfg, rundir, resume: bool, progress: bool) -> None:
    """The run; on Ray in a supervised child (it inherits this process's lock of the run)."""
    if cfg.executor == "ray":
        supervised(_work, cfg, rundir, resume, progress,
                   continue_with=f"`gpnas run --resume {rundir.path}` (with --executor serial "
                   "or process: without the cluster)")
    else:
        _work(cfg, rundir, resume, progress)


def _work(cfg, rundir, resume: bool, progress: bool) -> None:
    from gpnas.run import execute

    _print_results(execute(cfg, rundir, resume=resume, progress=progress), rundir.path)


#: settings that a resumed run may change: where the work runs does not change its results
RESUME_SAFE = ("workers", "executor", "ray_address")


def _resumed_config(cfg, flags: dict, names: dict):
    """The run's configuration with the flags given to --resume: those that change nothing
    (:data:`RESUME_SAFE`) applied, any other that differs from the run's an error naming it."""
    from dataclasses import replace

    from gpnas.config import split_spaces
    from gpnas.schemas import check_flags

    given = check_flags(split_spaces({k: v for k, v in flags.items() if v is not None}), names)
    differ = [k for k, v in given.items() if k not in RESUME_SAFE and v != getattr(cfg, k)]
    if differ:
        said = ", ".join(f"{names.get(k, '--' + k.replace('_', '-'))} {_show(given[k])} (the "
                         f"run has {_show(getattr(cfg, k))})" for k in differ)
        raise GpnasError(f"--resume keeps the run's configuration, and {said} differ from it; "
                         f"only {', '.join('--' + k for k in RESUME_SAFE)} may change")
    safe = {k: v for k, v in given.items() if k in RESUME_SAFE}
    if safe.get("executor", "ray") != "ray":
        safe.setdefault("ray_address", None)  # moved off the cluster
    return replace(cfg, **safe).validate()


def _show(value) -> str:
    return ",".join(value) if isinstance(value, list) else str(value)


def _fresh_run_path(cfg) -> Path:
    """runs/<repr>-<spaces>-s<seed>, numbered -2, -3, ... when taken."""
    base = Path("runs") / f"{cfg.repr}-{'+'.join(cfg.spaces)}-s{cfg.seed}"
    path, n = base, 1
    while path.exists():
        n += 1
        path = base.with_name(f"{base.name}-{n}")
    return path


def load_seeds(paths) -> dict:
    """Program files -> their IR programs (path -> Program), for the first generation."""
    from gpnas.nasm.programfile import load_program

    return {str(p): load_program(p).program for p in paths}


def _print_results(results: dict, path) -> None:
    spaces = sorted(results["test_nets"])
    table = Table(title=f"held-out test ({', '.join(f'{s}: {n} nets' for s, n in results['test_nets'].items())})")
    table.add_column("program")
    table.add_column("size", justify="right")
    for s in spaces:
        table.add_column(f"{s} tau", justify="right")
        table.add_column("rho", justify="right")
    ensemble = results.get("ensemble")
    for c in results["candidates"] + ([{**ensemble, "size": ""}] if ensemble else []):
        cells = []
        for s in spaces:
            t = c["test"].get(s, {})
            cells += ([f"{t['kendall']:.3f}", f"{t['spearman']:.3f}"] if t.get("kendall") is not None
                      else [t.get("invalid") or "-", ""])
        table.add_row(c["label"], str(c["size"]), *cells)
    for name, per_space in (results.get("references") or {}).items():
        cells = []
        for s in spaces:
            t = per_space.get(s, {})
            cells += ([f"{t['kendall']:.3f}", f"{t['spearman']:.3f}"] if t.get("kendall") is not None
                      else [t.get("invalid") or "-", ""])
        table.add_row(f"[dim]{name} (reference)[/]", "", *cells)
    out.print(table)
    if results["candidates"]:
        out.print(f"[bold]best program[/]: {results['candidates'][0]['program']}")
    if ensemble:
        out.print(f"[bold]validation ensemble[/] (log ranks summed, ranks the test networks "
                  f"together): {ensemble['program']}")
    out.print(f"search {results['search_seconds']:.0f}s, test {results['test_seconds']:.0f}s; "
              f"results in {path}/results.json")
