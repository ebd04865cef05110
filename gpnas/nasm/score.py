"""Score any ``torch.nn.Module`` with a NASM: statistics on the fly, then the engine.

The statistics are those the program evolved with: every ReLU -> Conv2d -> BatchNorm2d instance
(or Conv2d -> BatchNorm2d -> ReLU, the program's ``order``), the data / noise / perturbed inputs
of :func:`gpnas.data.stats.collect.collect`, the program's ``to_scalar`` on every instance and its
``aggregate`` over them.  ``images`` default to :func:`gpnas.data.stats.images.sample_images` of
``input_shape`` (the default offline photograph, ImageNet-normalised) with ``batch_size`` (the
program's own by default) and ``seed``.

This module imports only the standard library at load time (``gpnas.nasm.score`` is re-exported by
``import gpnas``); torch and the engine are imported when a model is scored.
"""

from __future__ import annotations

import importlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from gpnas.errors import GpnasError

MAX_PIXELS = 3 * 1024 * 1024  # values of one input image (C x H x W)


@dataclass
class ScoreResult:
    score: float
    instances: int
    values: list[float]  # per-instance values (to_scalar of the program), execution order;
    # empty for a network-level program

    def to_json(self) -> dict:
        return {"score": self.score, "instances": self.instances}


def parse_shape(text: str | Sequence[int]) -> tuple[int, ...]:
    """``"3,32,32"`` (or ``3x32x32``) -> (3, 32, 32)."""
    if not isinstance(text, str):
        shape = tuple(int(v) for v in text)
    else:
        parts = [p for p in text.replace("x", ",").replace(" ", "").split(",") if p]
        try:
            shape = tuple(int(p) for p in parts)
        except ValueError:
            raise GpnasError(f"--input-shape must be C,H,W integers, got {text!r}") from None
    if len(shape) != 3 or min(shape) < 1:
        raise GpnasError(f"the input shape must be C,H,W (three positive integers), got {text!r}")
    if shape[0] > 64 or max(shape[1:]) > 4096 or shape[0] * shape[1] * shape[2] > MAX_PIXELS:
        raise GpnasError(f"the input shape {text!r} is too large (at most 64 channels, 4096 "
                         f"pixels a side and {MAX_PIXELS} values an image)")
    return shape


def load_factory(spec: str):
    """``pkg.module:factory`` -> the callable (or module instance) it names."""
    if ":" not in spec:
        raise GpnasError(f"--model must look like pkg.module:factory, got {spec!r}")
    mod_name, _, attr = spec.partition(":")
    if not mod_name or not attr:
        raise GpnasError(f"--model must look like pkg.module:factory, got {spec!r}")
    cwd = os.getcwd()
    if cwd not in sys.path:  # like `python -m`: modules in the working directory are found
        sys.path.append(cwd)
    try:
        module = importlib.import_module(mod_name)
    except Exception as exc:
        raise GpnasError(f"cannot import module {mod_name!r} (--model {spec!r}) - "
                         f"{type(exc).__name__}: {exc}") from None
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise GpnasError(f"module {mod_name!r} has no attribute {attr!r} (--model {spec!r})")
        obj = getattr(obj, part)
    return obj


def build_model(factory, seed: int = 0, spec: str | None = None):
    """Call the factory (under ``torch.manual_seed(seed)``); check it gives an nn.Module."""
    import torch
    from torch import nn

    name = f"the factory {spec!r}" if spec else "the factory"
    if isinstance(factory, nn.Module):
        return factory
    if not callable(factory):
        raise GpnasError(f"{name} is not callable (a factory returning an nn.Module is needed)")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        try:
            model = factory()
        except Exception as exc:
            raise GpnasError(f"{name} failed: {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise GpnasError(f"{name} returned {type(model).__name__}, not a torch.nn.Module")
    return model


def score_model(model, program, *, images=None, input_shape: Sequence[int] | str = (3, 32, 32),
                seed: int = 0, batch_size: int | None = None, images_path: str | Path | None = None,
                order: str | None = None, to_scalar: str | None = None,
                aggregate: str | None = None, pset=None) -> ScoreResult:
    """Score ``model`` with ``program`` (a ProgramFile, Program, or a path / run directory).

    ``order`` / ``to_scalar`` / ``aggregate`` / ``batch_size`` default to the program file's.
    Raises :class:`GpnasError` when the model has no instance or the program gives no valid
    score on it.
    """
    import numpy as np
    import torch
    from torch import nn

    from primitives import full_primitive_set

    from gpnas.evaluation.engine import Engine, EngineConfig, InvalidProgram
    from gpnas.nasm.limits import SCORE_COST_BUDGET, SCORE_MAX_BYTES, peak_values
    from gpnas.nasm.programfile import as_program_file
    from gpnas.data.stats.collect import collect, collect_cross
    from gpnas.evaluation.task import Task

    pset = pset or full_primitive_set()
    pf = as_program_file(program, pset)
    if not isinstance(model, nn.Module):
        raise GpnasError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    order = order or pf.order
    if batch_size is not None and not (isinstance(batch_size, int) and 1 <= batch_size <= 256):
        raise GpnasError(f"the batch size must be an integer in 1..256, got {batch_size!r}")
    batch_size = batch_size or pf.batch_size
    cross = reads_cross_sample(pf.program)
    if cross and not pf.cross_batch:
        raise GpnasError("the program reads cross-sample statistics but its file gives no "
                         "cross_batch")
    need = max(batch_size, pf.cross_batch) if cross else batch_size
    if images is None:
        from gpnas.data.stats.images import sample_images

        images = sample_images(parse_shape(input_shape), need, seed, images_path)
    elif not torch.is_tensor(images):
        images = torch.as_tensor(np.asarray(images), dtype=torch.float32)
    if cross and (images.dim() != 4 or images.shape[0] < need):
        raise GpnasError(f"the program reads cross-sample statistics of {pf.cross_batch} images: "
                         f"give a batch of at least {need} images")
    try:
        instances = collect(model, images[:batch_size] if cross else images, seed=int(seed),
                            order=order)
        if cross and instances:
            extra, network, _ = collect_cross(model, images[:pf.cross_batch], seed=int(seed),
                                              order=order)
            for inst, more in zip(instances, extra):
                inst.update(more, **network)
    except GpnasError:
        raise
    except Exception as exc:  # the user's model failed on the input: say so in one line
        raise GpnasError(f"the model failed on a {tuple(images.shape)} input: "
                         f"{type(exc).__name__}: {exc}") from None
    if not instances:
        pattern = "ReLU -> Conv2d -> BatchNorm2d" if order == "rcb" else \
            "Conv2d -> BatchNorm2d -> ReLU"
        raise GpnasError(f"the model has no {pattern} instance (nn.ReLU, nn.Conv2d and "
                         "nn.BatchNorm2d modules called in that order); it cannot be scored")
    task = Task.from_instances("model", [instances], np.zeros(1))
    engine = Engine(pset, EngineConfig.of(pf, to_scalar=to_scalar, aggregate=aggregate,
                                          cost_budget=SCORE_COST_BUDGET, cache_bytes=0))
    prog = pf.program.pruned()
    row_bytes = max(t[0].numel() * 4 for g in task.groups for t in g.tensors.values())
    peak = peak_values(prog) * row_bytes * engine.threads
    if peak > SCORE_MAX_BYTES:
        raise GpnasError(f"scoring this model with the program would hold about "
                         f"{peak / 2**30:.1f} GiB of intermediate values (the limit is "
                         f"{SCORE_MAX_BYTES / 2**30:.0f} GiB): a smaller input or program is needed")
    try:
        score = float(engine.net_scores(prog, task)[0])
        if pf.network_level:
            return ScoreResult(score, len(instances), [])
        values = engine.instance_values(prog, task)
    except InvalidProgram as exc:
        raise GpnasError(f"the program gives no valid score on this model: {exc.reason}") from None
    except Exception as exc:  # (net_scores turns op failures into InvalidProgram; this is rarer)
        raise GpnasError(f"the program failed on this model: {type(exc).__name__}: {exc}") from None
    # rows are grouped by shape: put the values back in execution order
    order_idx = _execution_order(instances)
    per_row = values.double().tolist()
    return ScoreResult(score, len(instances), [per_row[i] for i in order_idx])


def reads_cross_sample(program) -> bool:
    """Whether a program reads a cross-sample statistic (the ``cross`` DSL extension)."""
    from primitives.cross import INSTANCE_TERMINALS, NETWORK_TERMINALS

    return any(n in INSTANCE_TERMINALS or n in NETWORK_TERMINALS for n in program.statistics)


def _execution_order(instances) -> list[int]:
    """Row of each instance (execution order) in the grouped task."""
    from gpnas.data.stats.trace import group_by_shape

    rows = [i for idx in group_by_shape(instances).values() for i in idx]  # row r: rows[r]
    where = {inst: r for r, inst in enumerate(rows)}
    return [where[i] for i in range(len(instances))]


def score(model, program, images=None, input_shape: Sequence[int] | str = (3, 32, 32),
          seed: int = 0, batch_size: int | None = None, **kwargs) -> float:
    """The NASM score of ``model`` (see :func:`score_model` for the arguments)."""
    return score_model(model, program, images=images, input_shape=input_shape, seed=seed,
                       batch_size=batch_size, **kwargs).score


__all__ = ["ScoreResult", "build_model", "load_factory", "parse_shape", "score", "score_model"]
