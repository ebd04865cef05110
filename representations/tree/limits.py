"""Static height limit (DEAP ``staticLimit`` semantics): a child taller than the limit is
replaced by (a copy of) its parent.  Trees are immutable, so the parent itself is the copy."""

from __future__ import annotations

from .genome import Tree

#: the paper's static height limit
DEFAULT_MAX_HEIGHT = 10


def static_limit(child: Tree, parent: Tree, max_height: int | None) -> Tree:
    """``child`` if ``max_height`` is None or ``child.height <= max_height``, else ``parent``."""
    if max_height is not None and child.height > max_height:
        return parent
    return child
