"""Size baselines: #params and FLOPs.

* ``params``: the number of scalar parameters of the model (every ``nn.Parameter``, BatchNorm
  affine weights included).  NAS-Bench-Suite-Zero reports millions of parameters of NASLib's
  NB201 graph, whose cell BatchNorms have no affine parameters (``affine=False``); the
  difference is a few thousand parameters per network and barely changes the ranking.
* ``flops``: multiply-accumulates (MACs) of one image through every Conv2d and Linear layer,
  counted by forward hooks on a single zero image of the batch's shape: a conv with output
  (C_out, H_out, W_out) costs ``C_out * H_out * W_out * (C_in / groups) * k_h * k_w``, a Linear
  ``in_features * out_features``.  Biases, BatchNorm, pooling, additions and activations are not
  counted.  NAS-Bench-201 / NASLib report "FLOPs" (in millions) that are the same conv + linear
  MAC count, plus minor terms for those other layers.
"""

from __future__ import annotations

import torch
from torch import nn

from gpnas.baselines.common import split_images


def num_params(model: nn.Module, images=None, seed: int = 0) -> float:
    """Number of scalar parameters (``images`` and ``seed`` are unused)."""
    return float(sum(p.numel() for p in model.parameters()))


def conv_macs(module: nn.Conv2d, output: torch.Tensor) -> int:
    """MACs of one image through ``module`` given its output (N, C_out, H_out, W_out)."""
    kh, kw = module.kernel_size
    per_out = (module.in_channels // module.groups) * kh * kw
    return int(output[0].numel()) * per_out


def flops(model: nn.Module, images, seed: int = 0) -> float:
    """Conv2d + Linear multiply-accumulates for one image of the batch's shape."""
    x, _ = split_images(images)
    total = [0]

    def on_conv(mod, inp, out):
        total[0] += conv_macs(mod, out)

    def on_linear(mod, inp, out):
        total[0] += int(out[0].numel()) * mod.in_features if out.dim() > 1 else \
            int(out.numel()) * mod.in_features

    handles = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            handles.append(m.register_forward_hook(on_conv))
        elif isinstance(m, nn.Linear):
            handles.append(m.register_forward_hook(on_linear))
    was_training = model.training
    try:
        model.eval()  # no BatchNorm statistics are updated
        with torch.no_grad():
            model(torch.zeros((1,) + tuple(x.shape[1:]), dtype=x.dtype))
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
    return float(total[0])
