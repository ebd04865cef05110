"""SWAP (Peng et al., "SWAP-NAS: Sample-Wise Activation Patterns for Ultra-fast NAS", ICLR 2024).

For a batch of N images, every ReLU unit of the network (all ``nn.ReLU`` modules, channels and
positions) has a sample-wise activation pattern: the N-bit vector of where its input is
positive.  The score is the number of distinct patterns over all units -- how many different
ways the network partitions the batch.  Train mode (BatchNorm on the batch), no labels, no loss.
The paper's regulariser on #params is not applied (plain SWAP).  gpnas's default batch: 16.
"""

from __future__ import annotations

import torch
from torch import nn

from gpnas.baselines.common import forward_watched, split_images, working_copy
from gpnas.data.stats.cross import distinct_rows


def swap(model: nn.Module, images, seed: int = 0) -> float:
    """Number of distinct sample-wise activation patterns of the ReLU units (higher is better)."""
    x, _ = split_images(images)
    net = working_copy(model)
    patterns: list[torch.Tensor] = []

    def on_relu(mod, inp):
        # pre-hook: sees the input before an in-place ReLU overwrites it; (units, N) bits
        patterns.append((inp[0].detach().reshape(x.shape[0], -1) > 0).T)

    forward_watched(net, x, nn.ReLU, on_relu, "SWAP", pre=True)
    return float(distinct_rows(torch.cat(patterns)))
