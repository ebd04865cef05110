"""The program file: a NASM as users keep it (JSON), and loading one from anywhere.

Format (version 1)::

    {"format": "gpnas-program", "version": 1,
     "repr": "tree" | "sequential" | null,     representation of "genome" (null: IR only)
     "genome": ... | null,                     the representation's own JSON
     "ir": [...],                              Program.to_json(): the authoritative program
     "key": "...",                             its structural key (checked on load)
     "text": "...",                            readable form (informational)
     "to_scalar": "mean" | "l2", "aggregate": "mean" | "sum",
     "order": "rcb" | "cbr", "batch_size": 1,  how statistics were collected when it evolved
     "dsl": ["network", ...],                  DSL extensions of the genome (absent: none)
     "cross_batch": 0,                         images of the cross-sample statistics (0: none)
     "source": {...}}                          optional provenance: run dir, label, test taus

A program whose root is of type ``net`` (the ``network`` extension) is network-level: it makes
its own network score, and ``to_scalar`` / ``aggregate`` do not apply to it.

:func:`load_program` reads such a file, a run directory (its best candidate, or another by
label), or a run's ``results.json``; every problem is a :class:`~gpnas.errors.GpnasError` naming
the file and what is wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gpnas.config import dsl_of
from gpnas.errors import GpnasError
from gpnas.nasm.limits import program_text
from gpnas.schemas import (ProgramFileKeys, ProgramSettings, RecordedConfig, Results, parse,
                           read_json)

FORMAT = "gpnas-program"
VERSION = 1



@dataclass
class ProgramFile:
    """A program with everything needed to score a model with it."""

    program: Any  # representations.ir.Program
    repr: str | None = None
    genome: Any = None
    text: str = ""
    to_scalar: str = "mean"
    aggregate: str = "mean"
    order: str = "rcb"
    batch_size: int = 1
    source: dict = field(default_factory=dict)
    path: Path | None = None
    dsl: tuple[str, ...] = ()  # DSL extensions of the genome's representation
    cross_batch: int = 0  # images of the cross-sample statistics it evolved with (0: none)

    def __post_init__(self) -> None:
        if not self.text:
            self.text = program_text(self.program)
        self.dsl = tuple(self.dsl)

    @property
    def network_level(self) -> bool:
        """Whether the program makes its own network score (a root of type ``net``)."""
        return self.program.type == "net"

    def to_json(self) -> dict:
        return {"format": FORMAT, "version": VERSION, "repr": self.repr, "genome": self.genome,
                "ir": self.program.to_json(), "key": self.program.key, "text": self.text,
                "to_scalar": self.to_scalar, "aggregate": self.aggregate, "order": self.order,
                "batch_size": int(self.batch_size), "dsl": list(self.dsl),
                "cross_batch": int(self.cross_batch),
                "source": dict(self.source)}

    def describe(self) -> str:
        if self.source.get("builtin"):
            return f"built-in {self.source['builtin']}"
        where = self.source.get("run_dir") or (str(self.path) if self.path else "")
        label = self.source.get("label")
        return f"{where}{f' [{label}]' if label else ''}" or "program"


def save_program(path: str | Path, program, *, repr: str | None = None, genome: Any = None,
                 text: str = "", to_scalar: str = "mean", aggregate: str = "mean",
                 order: str = "rcb", batch_size: int = 1, source: dict | None = None) -> Path:
    """Write a program file; ``program`` is a Program or a :class:`ProgramFile` (then the
    keyword arguments are ignored).  Returns the path."""
    if isinstance(program, ProgramFile):
        pf = program
    else:
        pf = ProgramFile(program, repr, genome, text, to_scalar, aggregate, order, batch_size,
                         source or {})
    _check_settings(pf.to_json(), "the program")
    path = Path(path)
    if path.parent and not path.parent.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(pf.to_json(), indent=2) + "\n")
    return path


# -- loading ----------------------------------------------------------------------------------
def load_program(source: str | Path, pset=None, candidate: str | int | None = None) -> ProgramFile:
    """A program file, a run directory / its ``results.json`` (best candidate, or the one named
    by ``candidate``: a label such as ``best-ever1`` or an index), or a built-in name
    (``eznas-a``, ``eznas-a-code``: :func:`builtin_program`)."""
    from primitives import full_primitive_set

    pset = pset or full_primitive_set()
    path = Path(source)
    if not path.exists():
        pf = builtin_program(str(source), pset)
        if pf is not None:
            return pf
        raise GpnasError(f"{path} does not exist (expected a program file, a run directory or "
                         "its results.json)")
    if path.is_dir():
        results = path / "results.json"
        if not results.is_file():
            raise GpnasError(f"{path} is a directory without results.json: not a finished "
                             "gpnas run directory")
        return _from_results(read_json(results, "run's results.json"), results, pset, candidate)
    data = read_json(path, "program file")
    if isinstance(data, dict) and data.get("format") == FORMAT:
        if candidate is not None:
            raise GpnasError(f"{path}: a program file holds one program; --candidate applies "
                             "to run directories")
        return _from_dict(data, str(path), pset, path)
    if isinstance(data, dict) and "candidates" in data:
        return _from_results(data, path, pset, candidate)
    raise GpnasError(f"{path} is not a gpnas program file (no \"format\": \"{FORMAT}\") nor a "
                     "run's results.json")


def builtin_program(name: str, pset=None) -> ProgramFile | None:
    """The built-in program ``name`` (EZNAS-A, written in the DSL: see
    :mod:`gpnas.baselines.eznas_a` for the official code's conventions), or None."""
    from gpnas.baselines import eznas_a

    key = eznas_a.builtin_name(name)
    if key is None:
        return None
    pset = pset or eznas_a.primitive_set()
    try:
        genome = eznas_a.tree(key, pset)
    except Exception as exc:  # a primitive set without the grid extension
        raise GpnasError(f"{key} needs the DSL extension(s) {list(eznas_a.EXTENSIONS)}: "
                         f"{exc}") from None
    from representations.tree import lower, to_json

    return ProgramFile(lower(genome, pset), "tree", to_json(genome), "", "mean", "mean", "rcb",
                       eznas_a.BATCH_SIZE, {"builtin": key}, dsl=eznas_a.EXTENSIONS)


def _check_settings(data: dict, where: str) -> None:
    """The keys of a program file (or a candidate's settings) by their schema
    (:class:`gpnas.schemas.ProgramFileKeys`), and its DSL extensions known here."""
    from primitives import EXTENSIONS

    if "format" in data:
        parse(ProgramFileKeys, data, where)
    else:
        parse(ProgramSettings, {k: v for k, v in data.items()
                                if k in ProgramSettings.model_fields}, where)
    unknown = [e for e in data.get("dsl", []) if e not in EXTENSIONS]
    if unknown:
        raise GpnasError(f"{where}: dsl must be a list of DSL extensions ({list(EXTENSIONS)}), "
                         f"got {data.get('dsl')!r}")


def _representation(name: str | None, dsl):
    """The representation to decode a genome with, or None when not available here."""
    from gpnas.search.representations import representation_for

    if name not in ("tree", "sequential"):
        return None
    try:
        return representation_for(name, tuple(dsl))
    except Exception:  # needs settings we do not have: IR only
        return None


def _program(data: dict, where: str, pset):
    """The Program of a file/candidate entry: from "ir" (checked against "key" and the genome),
    or lowered from the genome when there is no IR."""
    from primitives import PrimitiveError
    from representations.ir import Program

    ir, genome, repr_ = data.get("ir"), data.get("genome"), data.get("repr")
    dsl = data.get("dsl", [])
    program = None
    if ir is not None:
        try:
            program = Program.from_json(ir, pset)
        except PrimitiveError as exc:
            raise GpnasError(f"{where}: invalid program in \"ir\": {exc}") from None
    if genome is not None:
        rep = _representation(repr_, dsl)
        lowered = None
        if rep is not None:
            try:
                lowered = rep.lower(rep.from_json(genome))
            except PrimitiveError as exc:
                if repr_ == "tree" or program is None:
                    raise GpnasError(f"{where}: invalid {repr_} genome: {exc}") from None
            except Exception as exc:  # another representation's decoder, other settings
                if program is None:
                    raise GpnasError(f"{where}: cannot decode the {repr_} genome ({exc})") from None
        if program is None:
            program = lowered
        elif (repr_ == "tree" and lowered is not None
              and lowered.pruned().key != program.pruned().key):
            # (other representations may lower with settings of their run: IR is authoritative)
            raise GpnasError(f"{where}: \"genome\" and \"ir\" are different programs "
                             f"({program_text(lowered, 200)} vs {program_text(program, 200)})")
    if program is None:
        raise GpnasError(f"{where}: no program: needs \"ir\" (or a \"genome\" with its \"repr\")")
    key = data.get("key")
    if key is not None and key != program.key:
        raise GpnasError(f"{where}: the program does not match its recorded key {key!r} "
                         "(edited or corrupt)")
    return program


def _from_dict(data: dict, where: str, pset, path: Path | None) -> ProgramFile:
    version = data.get("version")
    if version != VERSION:
        raise GpnasError(f"{where}: unsupported program file version {version!r} (this gpnas "
                         f"reads version {VERSION})")
    _check_settings(data, where)
    source = data.get("source") or {}
    program = _program(data, where, pset)
    return ProgramFile(program, data.get("repr"), data.get("genome"), data.get("text") or "",
                       data.get("to_scalar", "mean"), data.get("aggregate", "mean"),
                       data.get("order", "rcb"), int(data.get("batch_size", 1)), source, path,
                       tuple(data.get("dsl", [])), int(data.get("cross_batch", 0)))


def _from_results(data: dict, path: Path, pset, candidate) -> ProgramFile:
    if isinstance(data, dict) and not data.get("candidates"):
        raise GpnasError(f"{path}: the run has no candidate programs")
    parse(Results, data, str(path))
    parse(RecordedConfig, data.get("config") or {}, f"{path}: config")
    cands = data["candidates"]
    if candidate is None:
        idx = 0
    elif isinstance(candidate, int) or str(candidate).isdigit():
        idx = int(candidate)
        if not 0 <= idx < len(cands):
            raise GpnasError(f"{path}: candidate {idx} out of range (0..{len(cands) - 1})")
    else:
        labels = [c.get("label") for c in cands if isinstance(c, dict)]
        if candidate not in labels:
            raise GpnasError(f"{path}: no candidate {candidate!r}; candidates: "
                             f"{', '.join(map(str, labels))}")
        idx = labels.index(candidate)
    cand = cands[idx]
    if not isinstance(cand, dict):
        raise GpnasError(f"{path}: candidate {idx} is not an object")
    cfg = data.get("config") or {}
    where = f"{path} (candidate {cand.get('label', idx)})"
    entry = {"ir": cand.get("ir"), "genome": cand.get("genome"), "key": cand.get("key"),
             "repr": cfg.get("repr"), "to_scalar": cfg.get("to_scalar", "mean"),
             "aggregate": cfg.get("aggregate", "mean"), "order": cfg.get("order", "rcb"),
             "batch_size": cfg.get("batch_size", 1), "cross_batch": cfg.get("cross_batch", 0),
             "dsl": list(dsl_of(cfg.get("aggregation", "paper"), cfg.get("cross_batch", 0)))}
    _check_settings(entry, where)
    program = _program(entry, where, pset)
    test = {sp: {k: v for k, v in (t or {}).items() if k in ("kendall", "spearman", "n", "invalid")}
            for sp, t in (cand.get("test") or {}).items()}
    source = {"run_dir": str(path.parent.resolve()), "label": cand.get("label", str(idx)),
              "test": test, "spaces": cfg.get("spaces"), "stats_seed": cfg.get("stats_seed"),
              "seed": cfg.get("seed")}
    return ProgramFile(program, entry["repr"], entry["genome"], cand.get("program") or "",
                       entry["to_scalar"], entry["aggregate"], entry["order"],
                       int(entry["batch_size"]), source, path, tuple(entry["dsl"]),
                       int(entry["cross_batch"]))


def as_program_file(obj, pset=None) -> ProgramFile:
    """A ProgramFile from a ProgramFile, a Program (default settings) or a path/name."""
    if isinstance(obj, ProgramFile):
        return obj
    from representations.ir import Program

    if isinstance(obj, Program):
        return ProgramFile(obj)
    if isinstance(obj, (str, Path)):
        return load_program(obj, pset)
    raise GpnasError(f"expected a program (Program, ProgramFile or a path), got "
                     f"{type(obj).__name__}")


__all__ = ["FORMAT", "ProgramFile", "VERSION", "as_program_file", "builtin_program",
           "load_program", "save_program"]
