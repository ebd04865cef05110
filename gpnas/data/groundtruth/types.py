"""The benchmark table: architectures of one space and their trained accuracy."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gpnas.data.spaces import get_space
from gpnas.errors import GpnasError


@dataclass
class Benchmark:
    """A table of (architecture, accuracy) of one space, with what the accuracy is."""

    space: str
    metric: str
    source: str
    archs: list[str]
    accuracy: np.ndarray
    note: str = ""
    _index: dict[str, int] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.accuracy = np.asarray(self.accuracy, dtype=np.float64)
        if len(self.archs) != len(self.accuracy):
            raise GpnasError(f"{self.source}: {len(self.archs)} architectures but "
                             f"{len(self.accuracy)} accuracies")

    def __len__(self) -> int:
        return len(self.archs)

    def index(self) -> dict[str, int]:
        if self._index is None:
            self._index = {a: i for i, a in enumerate(self.archs)}
        return self._index

    def lookup(self, arch: str) -> float:
        """The accuracy of ``arch`` (any valid encoding of the space); NaN when not in the table."""
        i = self.index().get(get_space(self.space).canonical(arch))
        return float("nan") if i is None else float(self.accuracy[i])

    def sample(self, n: int, seed: int) -> tuple[list[str], np.ndarray]:
        """``n`` distinct architectures drawn with ``seed`` (a prefix of one permutation, so a
        larger ``n`` with the same seed extends a smaller one)."""
        if n < 1:
            raise GpnasError(f"--nets must be at least 1, got {n}")
        if n > len(self):
            raise GpnasError(f"{self.space}: {n} networks asked, the benchmark ({self.source}) "
                             f"has {len(self)}")
        perm = np.random.default_rng(int(seed)).permutation(len(self))[:n]
        return [self.archs[i] for i in perm], self.accuracy[perm].copy()


def copy_benchmark(b: Benchmark) -> Benchmark:
    """A copy callers may change (cached tables are shared)."""
    return Benchmark(b.space, b.metric, b.source, list(b.archs), b.accuracy.copy(), b.note)
