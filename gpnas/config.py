"""Run configuration: every search hyper-parameter, as a flag and as a config-file key; and the
one list of each setting's allowed values."""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from gpnas.errors import GpnasError

REPRESENTATIONS = ("tree", "sequential")
BLOAT_CONTROLS = ("parsimony", "double-tournament", "none")
#: statistics collection order: ReLU-Conv-BN (the paper) or Conv-BN-ReLU (its appendix 2.8)
ORDERS = ("rcb", "cbr")
#: a tensor-valued program root -> one number per instance (``primitives.TO_SCALAR``)
TO_SCALARS = ("mean", "l2")
#: per-instance values -> one score per network (the paper's fixed form)
AGGREGATES = ("mean", "sum")
#: how a program becomes a network score: ``paper`` -- mean (or ``aggregate``) over instances of
#: ``to_scalar`` of a per-instance expression, as EZNAS; ``evolved`` -- the program is
#: network-level (the ``network`` DSL extension): aggregation, depth and size terms are evolved
AGGREGATIONS = ("paper", "evolved")
#: where fitness scores, statistics and held-out tests are computed; auto: serial with one
#: worker, else local processes; ray: Ray actors and tasks (``ray_address``, or a local Ray)
EXECUTORS = ("auto", "serial", "process", "ray")
#: environment variable naming the ground-truth directory (``--bench-dir``)
BENCH_DIR_ENV = "GPNAS_BENCH_DIR"
#: per-space fitness of a program (``gpnas.evaluation.fitness.FITNESS``)
FITNESSES = ("kendall", "spearman", "kendall-partial-size", "kendall-size-strata")
#: how the per-space fitnesses become one (``gpnas.evaluation.fitness.ACROSS_SPACES``): the
#: worst space (the paper) or their mean
ACROSS_SPACES = ("min", "mean")
#: hand-made proxies a run can test beside its candidates, on the same held-out networks
#: (``params``, ``flops``: gpnas.baselines; the others: the DSL programs of gpnas.baselines.dsl,
#: which need cross-sample statistics -- without them the hand-written baseline runs instead)
REFERENCES = ("params", "flops", "naswot", "jacov", "swap", "meco", "synflow", "zico",
              "jacob_cov", "grad_norm", "snip", "grasp", "fisher", "zen")
#: named starting points of a configuration; file keys and flags override them.  ``paper`` is
#: EZNAS's algorithm exactly (the defaults); ``discovery`` is gpnas's search for NASMs that beat
#: the hand-made proxies: network-level programs over cross-sample statistics, large racing
#: fitness samples averaged over the spaces, a validation pick and ensemble, and no functional
#: duplicates in selection.
PRESETS: dict[str, dict] = {
    "paper": {},
    "discovery": {"aggregation": "evolved", "cross_batch": 32, "evolution_nets": 200,
                  "sample_nets": 100, "rungs": 3, "across_spaces": "mean", "validation_nets": 200,
                  "ensemble": 8, "dedup": True,
                  "references": ["params", "flops", "naswot"]},
}


def dsl_of(aggregation: str, cross_batch: int = 0) -> tuple[str, ...]:
    """The DSL extensions (``primitives.EXTENSIONS``) of an aggregation form and a cross-sample
    batch (0: no cross-sample statistics)."""
    return (("network",) if aggregation == "evolved" else ()) + (("cross",) if cross_batch else ())


@dataclass
class RunConfig:
    """Defaults are the paper's (appendix 2.7) where it gives them."""

    repr: str = "tree"
    spaces: list[str] = field(default_factory=lambda: ["nb201-cifar10"])
    bench_dir: str | None = None
    metric: str = "test"
    seed: int = 0  # the search's RNG
    data_seed: int = 0  # which networks form the evolution pool and the test set (fixed, as
    # the paper's evolution and test task datasets: runs with other seeds share them)
    generations: int = 15
    population: int = 50
    tournament: int = 4
    elite: int = 3
    crossover: float = 0.4
    mutation: float = 0.4
    min_depth: int = 2
    max_depth: int = 6
    max_height: int = 10
    min_length: int = 5  # sequential: instructions of a random program
    max_length: int = 20
    length_limit: int = 64  # sequential: static limit on program length
    keep_introns: bool = False  # sequential: evaluate dead instructions too (ablation)
    bloat: str = "parsimony"
    evolution_nets: int = 80  # per space: the evolution task pool
    sample_spaces: int = 4  # s: spaces drawn per generation
    sample_nets: int = 20  # k: networks drawn per chosen space
    test_nets: int = 200  # per space, disjoint from the evolution pool (paper: 1000)
    batch_size: int = 1
    order: str = "rcb"
    stats_seed: int = 0  # seed of network initialisation and inputs
    to_scalar: str = "mean"  # the paper form's per-instance reduction
    aggregate: str = "mean"  # the paper form's reduction over instances
    aggregation: str = "paper"  # paper | evolved (network-level programs)
    cross_batch: int = 0  # images of the cross-sample statistics' batch (0: none)
    fitness: str = "kendall"  # per space
    across_spaces: str = "min"  # per-space fitnesses -> one (min: the paper; mean)
    rungs: int = 1  # successive-halving rungs of the fitness sample (1: all nets for everyone)
    validation_nets: int = 0  # per space: picks the final program (0: the last generation's top)
    ensemble: int = 0  # at most this many programs in the validation ensemble (0: none)
    ensemble_folds: int = 5  # cross-validation folds that size the ensemble (0: size = ensemble)
    dedup: bool = False  # functionally equal programs (same probe outputs) selected once
    seed_programs: list[str] = field(default_factory=list)  # program files opening generation 0
    references: list[str] = field(default_factory=list)  # proxies tested beside the candidates
    preset: str = "paper"  # the starting point of the configuration (see PRESETS)
    probe_nets: int = 2  # networks of the validity / equivalence probe
    workers: int = 1
    executor: str = "auto"
    ray_address: str | None = None  # a Ray cluster (host:port or auto); None: a local Ray

    def validate(self) -> "RunConfig":
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise GpnasError(f"invalid configuration: {msg}")

        need(self.repr in REPRESENTATIONS, f"repr must be one of {REPRESENTATIONS}")
        need(self.bloat in BLOAT_CONTROLS, f"bloat must be one of {BLOAT_CONTROLS}")
        need(bool(self.spaces), "at least one space is needed")
        need(self.generations >= 1, "generations must be >= 1")
        need(self.population >= 4, "population must be >= 4")
        need(0 <= self.elite < self.population, "elite must be in [0, population)")
        need(self.tournament >= 1, "tournament must be >= 1")
        need(0 <= self.crossover and 0 <= self.mutation and self.crossover + self.mutation <= 1,
             "crossover and mutation are probabilities summing to at most 1")
        need(1 <= self.min_depth <= self.max_depth <= self.max_height,
             "need 1 <= min_depth <= max_depth <= max_height")
        need(1 <= self.min_length <= self.max_length <= self.length_limit,
             "need 1 <= min_length <= max_length <= length_limit")
        need(self.sample_nets >= 2 and self.evolution_nets >= self.sample_nets,
             "need 2 <= sample_nets <= evolution_nets")
        need(self.test_nets >= 0 and self.batch_size >= 1 and self.workers >= 1,
             "test_nets >= 0, batch_size >= 1 and workers >= 1")
        need(self.order in ORDERS, f"order must be one of {ORDERS}")
        need(self.to_scalar in TO_SCALARS, f"to_scalar must be one of {TO_SCALARS}")
        need(self.aggregate in AGGREGATES, f"aggregate must be one of {AGGREGATES}")
        need(self.aggregation in AGGREGATIONS, f"aggregation must be one of {AGGREGATIONS}")
        need(self.cross_batch == 0 or 2 <= self.cross_batch <= 256,
             "cross_batch must be 0 (none) or 2..256 images")
        need(self.fitness in FITNESSES, f"fitness must be one of {FITNESSES}")
        need(self.across_spaces in ACROSS_SPACES, f"across_spaces must be one of {ACROSS_SPACES}")
        need(0 <= self.ensemble <= 8, "ensemble must be in 0..8 programs")
        need(self.ensemble == 0 or self.validation_nets > 0,
             "an ensemble is chosen on validation networks: it needs validation_nets > 0")
        need(self.ensemble_folds == 0 or 2 <= self.ensemble_folds <= 20,
             "ensemble_folds must be 0 (no cross-validation) or 2..20")
        need(self.ensemble == 0 or self.validation_nets >= 3 * self.ensemble_folds,
             "each cross-validation fold needs 3 or more validation networks: validation_nets "
             ">= 3 * ensemble_folds")
        need(1 <= self.rungs <= 8, "rungs must be in 1..8")
        need(self.validation_nets >= 0, "validation_nets must be >= 0")
        need(self.preset in PRESETS, f"preset must be one of {tuple(PRESETS)}")
        need(set(self.references) <= set(REFERENCES), f"references must be among {REFERENCES}")
        need(self.executor in EXECUTORS, f"executor must be one of {EXECUTORS}")
        need(self.ray_address is None or self.executor == "ray",
             "ray_address needs executor = ray")
        return self

    @property
    def dsl(self) -> tuple[str, ...]:
        """The DSL extensions the search uses (none: the paper's 34 operations)."""
        return dsl_of(self.aggregation, self.cross_batch)

    def rngs(self) -> tuple[np.random.Generator, np.random.Generator]:
        """Two independent streams: the data split (from data_seed) and the search (seed)."""
        return (np.random.default_rng(np.random.SeedSequence(self.data_seed).spawn(1)[0]),
                np.random.default_rng(np.random.SeedSequence(self.seed).spawn(2)[1]))

    def ensemble_rng(self) -> np.random.Generator:
        """The folds of the ensemble's cross-validation: a third stream of ``seed``."""
        return np.random.default_rng(np.random.SeedSequence(self.seed).spawn(3)[2])

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, where: str = "the run configuration") -> "RunConfig":
        """A configuration from its keys (each checked by :mod:`gpnas.schemas`); errors name
        ``where``."""
        from gpnas.schemas import check_config_keys

        config = cls(**check_config_keys(split_spaces(data), where))
        try:
            return config.validate()
        except GpnasError as exc:
            raise GpnasError(f"{where}: {exc}") from None

    @classmethod
    def from_sources(cls, file: str | Path | None = None, flags: dict | None = None,
                     env=os.environ) -> "RunConfig":
        """The configuration of a new run: the defaults, then the preset (named by the flags,
        else the file, else ``paper``), then ``$GPNAS_BENCH_DIR`` for ``bench_dir``, then the
        keys of ``file`` (TOML or JSON), then the ``flags`` that are not None; each overrides
        the one before, and each is checked where it comes from."""
        from gpnas.schemas import check_config_keys, check_flags

        keys = {}
        if file is not None:
            where = f"config file {file}"
            keys = check_config_keys(split_spaces(cls.read_file(file)), where)
        given = split_spaces({k: v for k, v in (flags or {}).items() if v is not None})
        preset = given.get("preset", keys.get("preset", "paper"))
        if preset not in PRESETS:
            raise GpnasError(f"unknown preset {preset!r}; known: {', '.join(PRESETS)}")
        data = {**cls().to_dict(), **PRESETS[preset], "preset": preset}
        if env.get(BENCH_DIR_ENV, "").strip():
            data["bench_dir"] = env[BENCH_DIR_ENV].strip()
        if file is not None:
            data.update(keys)
            cls.from_dict(data, where)  # consistent by itself
        data.update(check_flags(given, FLAGS))
        return cls.from_dict(data, "the command-line options")

    @staticmethod
    def read_file(path: str | Path) -> dict:
        """The keys of a TOML or JSON configuration file (checked by :meth:`from_sources`)."""
        from gpnas.schemas import read_json, read_text

        path = Path(path)
        if path.suffix == ".json":
            return read_json(path, "config file")
        try:
            return tomllib.loads(read_text(path, "config file"))
        except tomllib.TOMLDecodeError as exc:
            raise GpnasError(f"config file {path} is not valid TOML ({exc})") from None


#: the command-line flag of each setting, where it is not ``--`` + the key with dashes
FLAGS = {"spaces": "--space"}


def split_spaces(data):
    """``spaces``, ``seed_programs`` and ``references`` may be given as one comma-separated
    string."""
    if isinstance(data, dict):
        for key in ("spaces", "seed_programs", "references"):
            if isinstance(data.get(key), str):
                data = dict(data, **{key: [s.strip() for s in data[key].split(",") if s.strip()]})
    return data
