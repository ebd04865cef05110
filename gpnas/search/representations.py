"""Choosing a program representation from a run configuration."""

from __future__ import annotations

from primitives import PrimitiveSet

from gpnas.config import RunConfig
from gpnas.errors import GpnasError


def make_representation(cfg: RunConfig, pset: PrimitiveSet):
    if cfg.repr == "tree":
        from representations.tree import TreeRepresentation

        return TreeRepresentation(pset, min_depth=cfg.min_depth, max_depth=cfg.max_depth,
                                  max_height=cfg.max_height)
    if cfg.repr == "sequential":
        from representations.sequential import SequentialRepresentation

        return SequentialRepresentation(pset, min_length=cfg.min_length,
                                        max_length=cfg.max_length,
                                        length_limit=cfg.length_limit,
                                        keep_introns=cfg.keep_introns)
    raise GpnasError(f"representation {cfg.repr!r} is not available")
