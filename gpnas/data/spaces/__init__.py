"""Search spaces: an architecture encoding -> a randomly initialised ``torch.nn.Module``.

Four spaces are registered (:data:`SPACES`):

============================ ======== ======= ========== =========================================
name                         family   classes input      architecture encoding
============================ ======== ======= ========== =========================================
``nb201-cifar10``            nb201    10      3x32x32    ``|op~0|+|op~0|op~1|+|op~0|op~1|op~2|``
``nb201-cifar100``           nb201    100     3x32x32    same
``nb201-imagenet16``         nb201    120     3x16x16    same (ImageNet16-120)
``darts-cifar10``            darts    10      3x32x32    NB301 compact ``[[(input, op)*8], [...]]``
============================ ======== ======= ========== =========================================

Every network is initialised as the reference implementation does (:func:`reference_init`):
Kaiming-normal (fan_out, ReLU gain) conv weights, BatchNorm weight 1 / bias 0, Linear weights
N(0, 0.01) and bias 0.  ``Space.build(arch, seed=s)`` draws that initialisation from
``torch.manual_seed(s)`` inside a forked RNG, so the same (arch, seed) gives the same network.

Any other ``torch.nn.Module`` can be scored too: :func:`gpnas.data.stats.collect.collect` takes any
model; :func:`reference_init` gives it the same initialisation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from gpnas.errors import GpnasError

#: per-channel normalisation of the datasets, as the NAS-Bench-201 / DARTS training code used
_CIFAR10_MEAN = (125.3 / 255, 123.0 / 255, 113.9 / 255)
_CIFAR10_STD = (63.0 / 255, 62.1 / 255, 66.7 / 255)
_CIFAR100_MEAN = (129.3 / 255, 124.1 / 255, 112.4 / 255)
_CIFAR100_STD = (68.2 / 255, 65.4 / 255, 70.4 / 255)
_IMAGENET16_MEAN = (122.68 / 255, 116.66 / 255, 104.01 / 255)
_IMAGENET16_STD = (63.22 / 255, 61.26 / 255, 65.09 / 255)
_DARTS_CIFAR_MEAN = (0.49139968, 0.48215827, 0.44653124)
_DARTS_CIFAR_STD = (0.24703233, 0.24348505, 0.26158768)


def reference_init(model: nn.Module) -> nn.Module:
    """Initialise ``model`` in place as the reference implementation (DESIGN section 2).

    Conv2d: Kaiming-normal, mode fan_out, ReLU gain, bias 0.  BatchNorm: weight 1, bias 0.
    Linear: N(0, 0.01), bias 0.  Uses the global torch RNG (seed it, or use ``Space.build(seed=)``).
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.modules.batchnorm._BatchNorm):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0.0, 0.01)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
    return model


@dataclass(frozen=True)
class Space:
    """A search space on one dataset.

    ``input_size`` is (C, H, W) of one image; ``mean``/``std`` the dataset's normalisation.
    """

    name: str
    family: str  # "nb201" | "darts"
    num_classes: int
    input_size: tuple[int, int, int]
    dataset: str
    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    def _module(self):
        if self.family == "nb201":
            from gpnas.data.spaces import nb201 as fam
        elif self.family == "darts":
            from gpnas.data.spaces import darts as fam
        else:  # pragma: no cover - the registry only holds the families above
            raise GpnasError(f"space {self.name}: unknown family {self.family!r}")
        return fam

    def canonical(self, arch: str) -> str:
        """The canonical encoding of ``arch`` (validated); GpnasError naming it if malformed."""
        return self._module().canonical(arch, space=self.name)

    def build(self, arch: str, seed: int | None = None) -> nn.Module:
        """The network of ``arch``, randomly initialised (:func:`reference_init`).

        With ``seed`` the initialisation is drawn from ``torch.manual_seed(seed)`` in a forked RNG
        (the global RNG is left as it was); without, from the global torch RNG.
        """
        fam = self._module()
        cell = fam.parse(arch, space=self.name)
        if seed is None:
            return reference_init(fam.build(cell, self.num_classes))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(seed))
            return reference_init(fam.build(cell, self.num_classes))

    def random_arch(self, rng: np.random.Generator) -> str:
        """A uniformly random architecture of the space (canonical encoding)."""
        return self._module().random_arch(rng)

    def describe(self) -> str:
        return self._module().DESCRIPTION


SPACES: dict[str, Space] = {
    "nb201-cifar10": Space("nb201-cifar10", "nb201", 10, (3, 32, 32), "cifar10",
                           _CIFAR10_MEAN, _CIFAR10_STD),
    "nb201-cifar100": Space("nb201-cifar100", "nb201", 100, (3, 32, 32), "cifar100",
                            _CIFAR100_MEAN, _CIFAR100_STD),
    "nb201-imagenet16": Space("nb201-imagenet16", "nb201", 120, (3, 16, 16), "imagenet16-120",
                              _IMAGENET16_MEAN, _IMAGENET16_STD),
    "darts-cifar10": Space("darts-cifar10", "darts", 10, (3, 32, 32), "cifar10",
                           _DARTS_CIFAR_MEAN, _DARTS_CIFAR_STD),
}


def get_space(name: str | Space) -> Space:
    """The registered space ``name``; GpnasError listing the known names otherwise."""
    if isinstance(name, Space):
        return name
    try:
        return SPACES[name]
    except (KeyError, TypeError):
        raise GpnasError(f"unknown search space {name!r}; known spaces: "
                         f"{', '.join(SPACES)}") from None


__all__ = ["SPACES", "Space", "get_space", "reference_init"]
