"""MeCo (Jiang et al., "MeCo: Zero-Shot NAS with One Data and Single Forward Pass via Minimum
Eigenvalue of Correlation", NeurIPS 2023).

For every BatchNorm2d output (a layer's feature map), the Pearson correlation matrix of its
channels -- each channel's values over the images and positions of the batch -- and its smallest
eigenvalue; the score is their sum over the layers (an undefined correlation, e.g. of a constant
channel, counts 0).  Train mode, one forward pass, no labels.  The paper uses one image; gpnas's
default batch is 1 as well.
"""

from __future__ import annotations

import torch
from torch import nn

from gpnas.baselines.common import forward_watched, split_images, working_copy


def meco(model: nn.Module, images, seed: int = 0) -> float:
    """Sum over BatchNorm2d outputs of the smallest eigenvalue of the channel correlation."""
    x, _ = split_images(images)
    net = working_copy(model)
    total = torch.zeros((), dtype=torch.float64)

    def on_bn(mod, inp, out):
        nonlocal total
        ch = out.detach().transpose(0, 1).reshape(out.shape[1], -1).double()
        corr = torch.nan_to_num(torch.corrcoef(ch), nan=0.0)
        total = total + torch.linalg.eigvalsh(corr)[0]

    forward_watched(net, x, nn.BatchNorm2d, on_bn, "MeCo")
    return float(total)
