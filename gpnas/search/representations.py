"""Choosing a program representation: from a run configuration, or from a program file's
representation name and DSL extensions."""

from __future__ import annotations

from primitives import NET, SCALAR, primitive_set

from gpnas.config import RunConfig
from gpnas.errors import GpnasError


def representation_for(name: str, dsl: tuple[str, ...] = (), **settings):
    """The representation ``name`` over the paper's DSL with the extensions ``dsl``.  With the
    ``network`` extension, programs are network-level: the tree's root and the sequential
    program's output are of type ``net``.  ``settings`` are the representation's own."""
    pset = primitive_set(*dsl)
    network = "network" in dsl
    if name == "tree":
        from representations.tree import TreeRepresentation

        return TreeRepresentation(pset, root_type=NET if network else None, **settings)
    if name == "sequential":
        from representations.sequential import SequentialRepresentation

        return SequentialRepresentation(pset, output_type=NET if network else SCALAR,
                                        **settings)
    raise GpnasError(f"representation {name!r} is not available")


def make_representation(cfg: RunConfig):
    """The representation a run searches with."""
    if cfg.repr == "tree":
        return representation_for("tree", cfg.dsl, min_depth=cfg.min_depth,
                                  max_depth=cfg.max_depth, max_height=cfg.max_height)
    return representation_for(cfg.repr, cfg.dsl, min_length=cfg.min_length,
                              max_length=cfg.max_length, length_limit=cfg.length_limit,
                              keep_introns=cfg.keep_introns)
