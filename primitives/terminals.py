"""The 22 network statistics a program reads, with their types.

For every ReLU -> Conv2d -> BatchNorm2d instance the statistics are recorded for three network
inputs: ``data`` (a real image batch), ``noise`` (``randn`` of the same shape) and ``perturb``
(``data + sqrt(0.01) * randn``).  As in the reference implementation, the ``perturb`` statistics
are stored and read as the *difference* from the ``data`` statistics.  The conv weight is the
same for all inputs and appears once, as ``weight``.
"""

from .types import ACT, BN, WEIGHT

INPUTS: tuple[str, ...] = ("data", "noise", "perturb")

#: per-input tensor kinds, in the paper's order T1, T2, T1G, T2G, T3G, T4, T4G
PER_INPUT: dict[str, str] = {
    "relu_in": ACT,
    "relu_out": ACT,
    "relu_in_grad": ACT,
    "relu_out_grad": ACT,
    "weight_grad": WEIGHT,
    "bn_out": BN,
    "bn_out_grad": BN,
}

#: statistic name -> type, in the fixed order used for static addresses (0..21)
STATISTICS: dict[str, str] = {"weight": WEIGHT}
for _input in INPUTS:
    for _tensor, _type in PER_INPUT.items():
        STATISTICS[f"{_tensor}.{_input}"] = _type

STAT_NAMES: tuple[str, ...] = tuple(STATISTICS)

assert len(STAT_NAMES) == 22
