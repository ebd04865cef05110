"""Zen-NAS score (Lin et al., "Zen-NAS: A Zero-Shot NAS for High-Performance Deep Image
Recognition", ICCV 2021).

``Zen = log E_x ||f(x) - f(x + alpha * eps)||_F + sum_i log(sigma_i)``

* ``f``: the feature map before global average pooling (the input of the last
  ``AdaptiveAvgPool2d``; the input of the last Linear layer when the model has no such pool);
* ``x``, ``eps``: standard Gaussian inputs of the batch's shape (the images themselves are not
  used: only their shape), drawn from ``seed``; ``alpha = 0.01``;
* the network is a copy re-initialised as the paper prescribes: every Conv2d / Linear weight
  N(0, 1), biases 0, BatchNorm weight 1 / bias 0, in train mode (batch statistics);
* ``sigma_i = sqrt(mean over channels of the batch variance)`` of the input of BatchNorm layer
  ``i`` on the forward pass of ``x`` (the paper's BN rescaling term).  A BatchNorm whose input
  is identically zero (on a dead branch: NB201's ``none`` edges can leave a conv fed by zeros
  only) is skipped -- its log would be ``-inf`` and make every such network score ``-inf``
  although the branch does not reach ``f``.
* The expectation is the mean over the batch of the per-image Frobenius norm (the authors' code
  uses the L1 norm, summed; both are monotone in the perturbation size) and over ``repeat``
  draws (default 1).  No labels, no loss.  gpnas's default batch: 64.
* The paper scores its ResNet-like networks with their residual links removed; in NB201 / DARTS
  cells the skip edges are part of the architecture, so the whole network is scored as built
  (as NASLib and the later zero-cost benchmarks do).
"""

from __future__ import annotations

import copy
import math

import torch
from torch import nn

from gpnas.errors import GpnasError
from gpnas.baselines.common import split_images


def gaussian_init(model: nn.Module) -> nn.Module:
    """Zen-NAS's initialisation, in place (uses the global torch RNG)."""
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            nn.init.normal_(m.weight)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
            if m.weight is not None:
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
    return model


def _feature_module(model: nn.Module) -> tuple[nn.Module, str]:
    pools = [m for m in model.modules() if isinstance(m, nn.AdaptiveAvgPool2d)]
    if pools:
        return pools[-1], "pool"
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if linears:
        return linears[-1], "linear"
    raise GpnasError("Zen-NAS needs the pre-pooling feature map: the model has no "
                     "AdaptiveAvgPool2d or Linear layer")


def zen(model: nn.Module, images, seed: int = 0, alpha: float = 0.01, repeat: int = 1) -> float:
    """Zen-NAS score of ``model`` (Gaussian inputs of the batch's shape, Gaussian weights)."""
    x, _ = split_images(images)
    scores = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        net = gaussian_init(copy.deepcopy(model))
        net.train()
        feat_mod, _ = _feature_module(net)
        for _ in range(int(repeat)):
            inp = torch.randn_like(x)
            eps = torch.randn_like(x)
            feats: list[torch.Tensor] = []
            bn_var: list[torch.Tensor] = []
            record_bn = [True]

            def keep_feat(mod, args):
                feats.append(args[0].detach())

            def keep_bn(mod, args):
                if record_bn[0]:
                    v = args[0].detach().transpose(0, 1).reshape(args[0].shape[1], -1)
                    bn_var.append(v.var(dim=1, unbiased=False).mean())

            handles = [feat_mod.register_forward_pre_hook(keep_feat)]
            handles += [m.register_forward_pre_hook(keep_bn) for m in net.modules()
                        if isinstance(m, nn.modules.batchnorm._BatchNorm)]
            try:
                with torch.no_grad():
                    net(inp)
                    record_bn[0] = False
                    net(inp + alpha * eps)
            finally:
                for h in handles:
                    h.remove()
            f0, f1 = feats[0], feats[-1]
            delta = (f0 - f1).reshape(f0.shape[0], -1).norm(dim=1).mean().item()
            # a BatchNorm whose input is identically zero sits on a dead branch (a conv fed
            # only by ``none`` edges): it adds nothing to f and is left out of the sum
            log_bn = sum(0.5 * math.log(v.item()) for v in bn_var if v.item() > 0)
            scores.append((math.log(delta) if delta > 0 else float("-inf")) + log_bn)
    return float(sum(scores) / len(scores))
