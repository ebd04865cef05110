"""Schemas of every file gpnas reads, and the ranges of every number it accepts.

Each file is checked when it is loaded, with pydantic in strict mode (``"8"`` is not a number,
``true`` is not 1, ``null`` is not a list), against the model of its kind below: the run
configuration (config files and a run's ``config.json``), ``checkpoint.json``, ``log.jsonl``
records, ``results.json``, program files, test progress and the statistics store index
``stats.json``.  Ground-truth tables are checked value by value (:func:`accuracy`,
:func:`metric_name`).  Every problem is one :class:`~gpnas.errors.GpnasError` line naming the file
and the field, e.g. ``config.toml: population: Input should be a valid integer (got '8')``.

Sizes read from files have upper bounds (a batch size of a million would not finish), names that
become parts of paths are plain names (:data:`Name`, :data:`ShardName`), and the command-line
options use the same ranges (:func:`check_option`).  A new field is one line in its model; a new
:class:`~gpnas.config.RunConfig` field is checked by its type with no line here, and gets a range
with one line in :data:`RUN_RANGES`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Optional

from pydantic import (AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field,
                      StringConstraints, ValidationError, create_model, model_validator)

from gpnas.config import (ACROSS_SPACES, AGGREGATES, AGGREGATIONS, BLOAT_CONTROLS, EXECUTORS,
                          FITNESSES, ORDERS, PRESETS, REFERENCES, REPRESENTATIONS, TO_SCALARS, RunConfig)
from gpnas.errors import GpnasError

MAX_SEED = 2**32 - 1
MAX_BATCH_SIZE = 256  # images per statistics batch: memory grows linearly with it
MAX_PROCESSES = 256  # worker processes, threads
MAX_NETS = 1_000_000
MAX_PROGRAM_NODES = 4096  # evolved programs have tens to hundreds of nodes
MAX_GENOME_VALUES = 65536  # numbers and names in a genome's JSON
MAX_FILE_BYTES = 256 * 2**20  # a JSON file gpnas reads whole
MAX_INSTANCES = 100_000  # layer instances of one network
MAX_DIM = 2**24  # one tensor dimension in a store index

Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]
BatchSize = Annotated[int, Field(ge=1, le=MAX_BATCH_SIZE)]
Processes = Annotated[int, Field(ge=1, le=MAX_PROCESSES)]
Count = Annotated[int, Field(ge=0)]
Repeats = Annotated[int, Field(ge=1, le=1000)]  # seeds of an ablation
Real = Annotated[float, Field(allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1)]
Accuracy = Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)]
#: a name that may become one component of a path (cache directories, metric names)
NAME = r"^[A-Za-z0-9][A-Za-z0-9_.+-]{0,63}$"
Name = Annotated[str, StringConstraints(pattern=NAME)]
#: a shard's place in its store: a plain file name inside ``shards/``
SHARD = r"^shards/[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$"
ShardName = Annotated[str, StringConstraints(pattern=SHARD)]
SHA256 = r"^[0-9a-f]{64}$"
Sha256 = Annotated[str, StringConstraints(pattern=SHA256)]
_PATTERNS = {NAME: "must be a plain name (letters, digits, _ . + -; at most 64)",
             SHARD: "must be a plain file name inside the store's shards/ folder",
             SHA256: "must be 64 lowercase hex digits"}
Nodes = Annotated[list, Field(min_length=1, max_length=MAX_PROGRAM_NODES)]


def _bounded(value: Any) -> Any:
    """A genome (a representation's JSON) of at most :data:`MAX_GENOME_VALUES` values."""
    count, stack = 0, [value]
    while stack:
        v = stack.pop()
        count += 1
        if count > MAX_GENOME_VALUES:
            raise ValueError(f"a genome has at most {MAX_GENOME_VALUES} values")
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
    return value


Genome = Annotated[Any, AfterValidator(_bounded)]
Repr = Literal[REPRESENTATIONS]  # type: ignore[valid-type]
Bloat = Literal[BLOAT_CONTROLS]  # type: ignore[valid-type]
Order = Literal[ORDERS]  # type: ignore[valid-type]
ToScalar = Literal[TO_SCALARS]  # type: ignore[valid-type]
Aggregate = Literal[AGGREGATES]  # type: ignore[valid-type]
Aggregation = Literal[AGGREGATIONS]  # type: ignore[valid-type]
Executor = Literal[EXECUTORS]  # type: ignore[valid-type]
#: a Ray cluster's address: host:port, ray://host:port or auto
RayAddress = Optional[Annotated[str, StringConstraints(min_length=1, max_length=255)]]
Dsl = Annotated[list[Name], Field(max_length=16)]  # DSL extensions (checked against primitives)


def _not_one(v: int) -> int:
    if v == 1:
        raise ValueError("a cross-sample batch is 0 (none) or 2 images or more")
    return v


#: images of the cross-sample statistics: 0 (none) or 2..MAX_BATCH_SIZE
CrossBatch = Annotated[int, Field(ge=0, le=MAX_BATCH_SIZE), AfterValidator(_not_one)]


class Strict(BaseModel):
    """A file's model: strict types, unknown keys refused."""

    model_config = ConfigDict(strict=True, extra="forbid")


class Open(BaseModel):
    """A record whose other keys are free (informational, read by nothing)."""

    model_config = ConfigDict(strict=True, extra="allow")


# -- the run configuration ----------------------------------------------------------------------
#: the range (or set of values) of each setting; a setting not listed is checked by its type
RUN_RANGES: dict[str, Any] = {
    "repr": Repr,
    "spaces": Annotated[list[Name], Field(min_length=1, max_length=16)],
    "metric": Name,
    "seed": Seed, "data_seed": Seed, "stats_seed": Seed,
    "generations": Annotated[int, Field(ge=1, le=100_000)],
    "population": Annotated[int, Field(ge=4, le=100_000)],
    "tournament": Annotated[int, Field(ge=1, le=100_000)],
    "elite": Annotated[int, Field(ge=0, le=100_000)],
    "crossover": Fraction, "mutation": Fraction,
    "min_depth": Annotated[int, Field(ge=1, le=20)],
    "max_depth": Annotated[int, Field(ge=1, le=20)],
    "max_height": Annotated[int, Field(ge=1, le=20)],
    "min_length": Annotated[int, Field(ge=1, le=1000)],
    "max_length": Annotated[int, Field(ge=1, le=1000)],
    "length_limit": Annotated[int, Field(ge=1, le=1000)],
    "bloat": Bloat,
    "evolution_nets": Annotated[int, Field(ge=2, le=MAX_NETS)],
    "sample_spaces": Annotated[int, Field(ge=1, le=64)],
    "sample_nets": Annotated[int, Field(ge=2, le=MAX_NETS)],
    "test_nets": Annotated[int, Field(ge=0, le=MAX_NETS)],
    "batch_size": BatchSize,
    "order": Order,
    "to_scalar": ToScalar,
    "aggregate": Aggregate,
    "aggregation": Aggregation,
    "cross_batch": CrossBatch,
    "fitness": Literal[FITNESSES],  # type: ignore[valid-type]
    "across_spaces": Literal[ACROSS_SPACES],  # type: ignore[valid-type]
    "ensemble": Annotated[int, Field(ge=0, le=8)],
    "ensemble_folds": Annotated[int, Field(ge=0, le=20)],
    "rungs": Annotated[int, Field(ge=1, le=8)],
    "validation_nets": Annotated[int, Field(ge=0, le=MAX_NETS)],
    "seed_programs": Annotated[list[Annotated[str, Field(min_length=1, max_length=4096)]],
                               Field(max_length=1000)],
    "references": Annotated[list[Literal[REFERENCES]],  # type: ignore[valid-type]
                            Field(max_length=len(REFERENCES))],
    "preset": Literal[tuple(PRESETS)],  # type: ignore[valid-type]
    "probe_nets": Annotated[int, Field(ge=1, le=1000)],
    "workers": Processes,
    "executor": Executor,
    "ray_address": RayAddress,
}


def _keys_model(name: str, extra: str) -> type[BaseModel]:
    """The keys of :class:`RunConfig`, each optional (a file may set a few), typed by the
    dataclass's annotations narrowed by :data:`RUN_RANGES`."""
    hints = typing.get_type_hints(RunConfig)
    # a default is not validated: a key a file leaves out is fine, an explicit null is not
    # (unless the setting's type allows None)
    fields = {f.name: (RUN_RANGES.get(f.name, hints[f.name]), None)
              for f in dataclasses.fields(RunConfig)}
    return create_model(name, __config__=ConfigDict(strict=True, extra=extra), **fields)


#: a configuration file or a run's config.json (unknown keys refused)
RunConfigKeys = _keys_model("RunConfigKeys", "forbid")
#: the configuration recorded in results.json (keys of other gpnas versions ignored)
RecordedConfig = _keys_model("RecordedConfig", "ignore")


def check_config_keys(data: Any, where: str) -> dict:
    """``data`` as configuration keys; GpnasError naming ``where`` and the key."""
    if not isinstance(data, dict):
        raise GpnasError(f"{where}: must hold a table of configuration keys, not "
                         f"{_kind(data)}")
    unknown = sorted(set(map(str, data)) - {f.name for f in dataclasses.fields(RunConfig)})
    if unknown:
        raise GpnasError(f"{where}: unknown configuration key(s) {unknown}")
    parse(RunConfigKeys, data, where)
    return dict(data)


# -- run directories ----------------------------------------------------------------------------
class HofEntry(Strict):
    key: str
    genome: Genome
    fitness: Real
    size: Count
    text: str
    generation: Count


class HallOfFameState(Strict):
    capacity: Annotated[int, Field(ge=1, le=1000)]
    best: list[HofEntry]
    pareto: list[HofEntry]


class PcgState(Strict):
    state: Count
    inc: Count


class RngState(Strict):
    """numpy's PCG64 bit generator state."""

    bit_generator: Literal["PCG64"]
    state: PcgState
    has_uint32: Annotated[int, Field(ge=0, le=1)]
    uinteger: Count


def _named(*names: str, required: int | None = None):
    """A JSON list read as an object with these field names (errors then name the field); the
    first ``required`` (default: all) must be there, the others may be left out."""
    least = len(names) if required is None else required
    return BeforeValidator(lambda v: dict(zip(names, v)) if isinstance(v, list)
                           and least <= len(v) <= len(names) else v)


class Evaluated(Strict):
    """An entry of ``last``: ``[genome, fitness, per_space, reason, nets, rung]`` (the racing
    fields are absent from checkpoints written before racing)."""

    genome: Genome
    fitness: Optional[Real]
    per_space: Optional[dict[str, Optional[float]]]
    reason: Optional[str]
    nets: Optional[Annotated[int, Field(ge=1, le=MAX_NETS)]] = None
    rung: Annotated[int, Field(ge=0, le=8)] = 0


class SearchState(Strict):
    generation: Annotated[int, Field(ge=0, le=100_000)]
    population: list[Genome]
    elites: list[Genome]
    last: list[Annotated[Evaluated, _named("genome", "fitness", "per_space", "reason", "nets",
                                           "rung", required=4)]]
    rng_state: RngState
    hof: HallOfFameState
    elapsed: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    evaluations: Count


class Checkpoint(Strict):
    """``checkpoint.json``: the search state with its checksum and that of the configuration it
    belongs to (the canonical JSON of ``config.json``)."""

    format: Literal["gpnas-checkpoint"]
    version: Literal[2]
    config_sha256: Sha256
    state_sha256: Sha256
    state: dict[str, Any]


class LogRecord(Open):
    """One line of ``log.jsonl`` (the fields gpnas reads back; the others are informational)."""

    generation: Annotated[int, Field(ge=0, le=100_000)]
    best_fitness: Optional[float] = None
    median_fitness: Optional[float] = None
    invalid_rate: Fraction = 0.0
    evaluations: Count = 0


class TestEntry(Open):
    kendall: Optional[float] = None
    spearman: Optional[float] = None
    n: Count = 0
    invalid: Optional[str] = None


class Candidate(Open):
    label: str
    program: str = ""
    key: Optional[str] = None
    genome: Genome = None
    ir: Any = None
    test: dict[str, TestEntry] = {}


class Results(Open):
    """``results.json`` as program loading reads it."""

    config: dict[str, Any] = {}
    candidates: Annotated[list[Candidate], Field(min_length=1)]


class SpaceProgress(Strict):
    """The held-out test of one space so far: the first ``done`` networks, per program."""

    archs_sha256: Sha256
    keys: list[str]
    done: Count
    scores: list[list[float]]
    invalid: list[Optional[str]]

    @model_validator(mode="after")
    def _lengths(self):
        if not len(self.scores) == len(self.invalid) == len(self.keys):
            raise ValueError("keys, scores and invalid need one entry per program")
        if any(len(s) != self.done for s in self.scores):
            raise ValueError("every program needs one score per tested network")
        return self


class TestProgress(Strict):
    """``test_progress.json``: the held-out test of a run, block by block."""

    format: Literal["gpnas-test-progress"]
    version: Literal[1]
    spaces: dict[Name, SpaceProgress]


# -- program files ------------------------------------------------------------------------------
class DeadCodeProgram(Strict):
    nodes: Nodes
    output: Count


class ProgramFileKeys(Strict):
    """A program file (:mod:`gpnas.nasm.programfile`); a new key is one line here."""

    format: Literal["gpnas-program"]
    version: Literal[1]
    repr: Optional[Repr] = None
    genome: Genome = None
    ir: Optional[Nodes | DeadCodeProgram] = None
    key: Optional[str] = None
    text: str = ""
    to_scalar: ToScalar = "mean"
    aggregate: Aggregate = "mean"
    order: Order = "rcb"
    batch_size: BatchSize = 1
    dsl: Dsl = []
    cross_batch: CrossBatch = 0
    source: Optional[dict[str, Any]] = None


class ProgramSettings(Strict):
    """The settings of a candidate of results.json, as its program file would hold them."""

    ir: Optional[Nodes | DeadCodeProgram] = None
    to_scalar: ToScalar = "mean"
    aggregate: Aggregate = "mean"
    order: Order = "rcb"
    batch_size: BatchSize = 1
    dsl: Dsl = []
    cross_batch: CrossBatch = 0


# -- the statistics store index -----------------------------------------------------------------
Shape = Annotated[list[Annotated[int, Field(ge=0, le=MAX_DIM)]], Field(max_length=8)]


class GroupShapes(Strict):
    act: Shape
    bn: Shape
    weight: Shape


class StoreSettings(Open):
    space: Name
    batch_size: BatchSize
    seed: Seed
    order: Order
    dtype: Literal["float16", "bfloat16", "float32"]
    metric: Name


class NetRecord(Open):
    """One network of ``stats.json``."""

    id: Count
    arch: str
    accuracy: Optional[Real] = None
    instances: Annotated[int, Field(ge=0, le=MAX_INSTANCES)]
    shapes: list[GroupShapes]
    group_rows: list[list[Count]]
    shard: ShardName
    bytes: Annotated[int, Field(ge=8)]
    sha256: Optional[Sha256] = None

    @model_validator(mode="after")
    def _consistent(self):
        if len(self.shapes) != len(self.group_rows):
            raise ValueError("shapes and group_rows need one entry per group")
        rows = sorted(r for g in self.group_rows for r in g)
        if rows != list(range(self.instances)):
            raise ValueError(f"group_rows must number the {self.instances} instances once each")
        # a tensor of each shape class fits in the shard (>= 2 bytes a value): what a reader
        # allocates for the network is then bounded by the shard's real size
        elements = sum(len(rows) * (math.prod(s.act) + math.prod(s.bn) + math.prod(s.weight))
                       for s, rows in zip(self.shapes, self.group_rows))
        if 2 * elements > self.bytes:
            raise ValueError(f"its shapes need more than the shard's {self.bytes} bytes")
        return self


class StoreIndex(Open):
    """``stats.json`` of a statistics store (:mod:`gpnas.data.stats.store`)."""

    format: Literal["gpnas-stats"]
    version: Literal[1]
    settings: StoreSettings
    tensor_names: list[str]
    nets: list[NetRecord]

    @model_validator(mode="after")
    def _ids(self):
        for i, rec in enumerate(self.nets):
            if rec.id != i:
                raise ValueError(f"nets[{i}] has id {rec.id}")
        shards = [r.shard for r in self.nets]
        if len(set(shards)) != len(shards):
            raise ValueError("two networks share a shard")
        return self


# -- checking -----------------------------------------------------------------------------------
def parse(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    """``data`` validated by ``model``; the first problem as one GpnasError line naming
    ``where`` and the field."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        loc, msg = _first_error(exc)
        raise GpnasError(f"{where}: {'.'.join(loc) or 'the file'}: {msg}") from None
    except RecursionError:
        raise GpnasError(f"{where}: nested too deeply") from None


def check_flags(flags: dict, names: dict[str, str]) -> dict:
    """Settings given on the command line (key -> value), each checked as in a file; an error
    names the flag (``names``: key -> flag where it is not ``--`` + the key with dashes)."""
    for key, value in flags.items():
        try:
            RunConfigKeys.model_validate({key: value})
        except ValidationError as exc:
            loc, msg = _first_error(exc)
            flag = names.get(key, "--" + key.replace("_", "-"))
            raise GpnasError(f"{flag}: {'.'.join(loc[1:]) + ': ' if loc[1:] else ''}{msg}") from None
    return flags


def _first_error(exc: ValidationError) -> tuple[list[str], str]:
    """(field path, message) of the first problem (of a union's branches, the one that got
    furthest into the value)."""
    errors = exc.errors(include_url=False)
    e = max(errors, key=lambda e: (len(e["loc"]), -errors.index(e)))
    loc = [str(p) for p in e["loc"] if not _is_branch(p)]
    msg = _PATTERNS.get((e.get("ctx") or {}).get("pattern"), e["msg"].removeprefix("Value error, "))
    got = "" if e["type"] in ("missing", "extra_forbidden") else f" (got {_short(e.get('input'))})"
    return loc, msg + got


def _is_branch(part) -> bool:
    """Path entries pydantic adds for the branches of a union (``list[...]``, a model's name,
    ``function-after``)."""
    return isinstance(part, str) and ("[" in part or part.startswith("function-")
                                      or isinstance(globals().get(part), type))


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "null",
            bool: "a boolean"}.get(type(value), type(value).__name__)


def check_option(flag: str, value, kind: Any) -> None:
    """A command-line option's value in the range of ``kind`` (one of this module's types);
    None (not given) passes."""
    if value is not None:
        model = create_model("Option", __config__=ConfigDict(strict=True), value=(kind, ...))
        try:
            model.model_validate({"value": value})
        except ValidationError as exc:
            raise GpnasError(f"{flag}: {exc.errors(include_url=False)[0]['msg']} "
                             f"(got {value!r})") from None


def accuracy(value: Any, where: str) -> float:
    """An accuracy (percent) read from a ground-truth file: a finite number in [0, 100]."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise GpnasError(f"{where}: accuracy {_short(value)} is not a number") from None
    if not (math.isfinite(x) and 0.0 <= x <= 100.0):
        raise GpnasError(f"{where}: accuracy {_short(value)} is not a percentage in [0, 100]")
    return x


def metric_name(value: Any, where: str) -> str:
    """A metric name read from a file (it becomes part of a cache directory's name)."""
    parse(create_model("Metric", __config__=ConfigDict(strict=True), metric=(Name, ...)),
          {"metric": value}, where)
    return value


def path_name(name: str, what: str) -> str:
    """``name`` when it can be one component of a path (a cache directory derived from data),
    else a GpnasError: it must never climb out of its folder or name another."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}", name):
        raise GpnasError(f"{what} {name!r} cannot name a directory (letters, digits and _ . + - "
                         "only)")
    return name


def read_json(path: str | Path, what: str = "file") -> Any:
    """The JSON value of a file; one GpnasError line naming it when it is missing, a directory,
    unreadable, binary, larger than :data:`MAX_FILE_BYTES`, not JSON or nested too deeply."""
    text = read_text(path, what)
    path = Path(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise GpnasError(f"{what} {path} is corrupt: {path.name} is not valid JSON ({exc})") from None
    except RecursionError:
        raise GpnasError(f"{what} {path} is corrupt: nested too deeply") from None


def read_text(path: str | Path, what: str = "file") -> str:
    """A text file's contents (see :func:`read_json` for the errors)."""
    path = Path(path)
    try:
        if path.is_dir():
            raise GpnasError(f"{path} is a directory, not a {what}")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise GpnasError(f"{path} is too large for a {what} ({size} bytes; at most "
                             f"{MAX_FILE_BYTES})")
        return path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise GpnasError(f"{what} {path} not found") from None
    except OSError as exc:
        raise GpnasError(f"cannot read {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise GpnasError(f"{path} is not a text file (not UTF-8)") from None
