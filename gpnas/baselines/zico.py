"""ZiCo (Li et al., "ZiCo: Zero-shot NAS via Inverse Coefficient of Variation on Gradients",
ICLR 2023).

``ZiCo = sum over layers l of log( sum over weights w of layer l of E[|g_w|] / sigma(g_w) )``

where ``g_w`` is the cross-entropy gradient of weight ``w`` on one mini-batch and the mean and
standard deviation are taken across mini-batches.  gpnas splits the batch into ``splits``
(default 2, the fewest that give a standard deviation) equal mini-batches, so the default batch
of 128 images gives two mini-batches of 64.  Layers: every Conv2d and Linear; weights
whose gradient has zero standard deviation are skipped, and so is a layer whose sum is zero (as
the authors' code).  ``sigma`` is the population standard deviation of the signed gradient (the
authors' code; the paper's equation writes it as the square root of the gradient variance).
Loss: mean cross-entropy of each mini-batch against the sample's labels, or labels drawn from
``seed`` when the sample has none.  Train mode (batch statistics per mini-batch).
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gpnas.errors import GpnasError
from gpnas.baselines.common import cross_entropy, random_labels, split_images, weight_grads, weight_layers, \
    working_copy


def zico(model: nn.Module, images, seed: int = 0, splits: int = 2) -> float:
    """ZiCo over ``splits`` mini-batches of the batch (higher is better)."""
    x, labels = split_images(images)
    n = x.shape[0]
    if splits < 2 or n < splits:
        raise GpnasError(f"ZiCo needs at least {max(splits, 2)} images (got {n}): it compares "
                         "gradients across mini-batches")
    net = working_copy(model)
    layers = weight_layers(net)
    chunks = torch.arange(n).chunk(splits)
    per_batch = []  # per mini-batch: list of flattened weight gradients
    for idx in chunks:
        logits = net(x[idx])
        if labels is None:  # one draw for the whole batch, as the other metrics
            labels = random_labels(n, logits.shape[1], seed)
        loss = cross_entropy(logits, labels[idx], seed)
        per_batch.append([g.detach().reshape(-1) for g in weight_grads(loss, layers)])
    total = 0.0
    for li in range(len(layers)):
        g = torch.stack([b[li] for b in per_batch]).to(torch.float64)  # (splits, weights)
        std = g.std(dim=0, unbiased=False)
        mean_abs = g.abs().mean(dim=0)
        keep = std != 0
        s = float((mean_abs[keep] / std[keep]).sum())
        if s != 0:
            total += math.log(s)
    return float(total)
