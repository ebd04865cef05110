"""Static length limit (the linear analogue of DEAP's ``staticLimit``): a child longer than the
limit is replaced by its parent.  Genomes are immutable, so the parent itself is the copy."""

from __future__ import annotations

from .genome import Linear

#: default maximum total length (instructions, introns included) of a child of variation
DEFAULT_MAX_LENGTH = 64


def static_limit(child: Linear, parent: Linear, max_length: int | None) -> Linear:
    """``child`` if ``max_length`` is None or ``len(child) <= max_length``, else ``parent``."""
    if max_length is not None and len(child) > max_length:
        return parent
    return child
