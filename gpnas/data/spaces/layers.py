"""Building blocks shared by the search spaces' networks."""

from __future__ import annotations

from torch import nn


class ReLUConvBN(nn.Module):
    """ReLU, Conv (no bias), BN: NB201's conv edges and reduction convs, DARTS's preprocessing.

    Submodules ``relu``, ``conv``, ``bn`` in that order (the order ``reference_init`` draws
    the conv weights in, and the names a state dict carries)."""

    def __init__(self, c_in: int, c_out: int, kernel: int, stride: int, padding: int):
        super().__init__()
        self.relu = nn.ReLU(inplace=False)
        self.conv = nn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return self.bn(self.conv(self.relu(x)))
