"""Pruning-at-initialisation saliencies used as NAS proxies ("Zero-Cost Proxies for Lightweight
NAS", Abdelfattah et al., ICLR 2021): each is a per-weight (or per-channel) saliency summed over
every Conv2d and Linear layer of the network, as that paper and NASLib / NAS-Bench-Suite-Zero sum
their per-layer arrays.  All use a deep copy of the model (the caller's model is untouched).

Loss (grad_norm, snip, grasp, fisher): mean cross-entropy of the batch's logits against the
sample's labels when ``images`` is an ``(images, labels)`` pair, else against labels drawn
uniformly at random from ``seed`` (gpnas's default image sample has no labels).  BatchNorm uses
batch statistics (train mode).  gpnas's default batch is 64 images; NAS-Bench-Suite-Zero computed
its published values on one batch of 32 CIFAR training images with their labels (NASLib's zc
configuration).

synflow (Tanaka et al., NeurIPS 2020)
    Data-free: every parameter and buffer replaced by its absolute value, BatchNorm layers
    bypassed (identity, as the zero-cost-proxies code does for synflow), float64, one all-ones
    input of the image shape; ``R = sum(output)`` and the score is
    ``sum over weights |theta * dR/dtheta|``.  Returned as ``log(score)`` -- the monotone
    transform NASLib applies, so that the value stays finite; rankings are unchanged.  If the
    float64 sum overflows, it is recomputed with an input of 1e-150 instead of 1 and the log
    corrected by that factor (exact when every bias is zero, as in gpnas's spaces: the network
    is then positively homogeneous in its input).
grad_norm
    ``sum over layers ||dL/dW||_2`` (Frobenius norm of each layer's weight gradient).
snip (Lee et al., ICLR 2019)
    ``sum |W * dL/dW|`` (connection sensitivity: the gradient with respect to a multiplicative
    mask of ones).
grasp (Wang et al., ICLR 2020)
    ``sum(-W * H g)`` with ``g = dL/dW`` and ``H g`` the Hessian-gradient product, computed by
    double back-propagation on the same batch; temperature 1 and one batch, as the zero-cost-
    proxies adaptation (GraSP's pruning code uses temperature 200 and class-balanced samples).
fisher (Theis et al. 2018; Turner et al., BlockSwap, 2020)
    For every Conv2d / Linear output activation ``a`` (N, C, ...):
    ``0.5 * mean_n (sum_spatial a * dL/da)^2`` per channel, summed over channels and layers.
    NASLib (and the zero-cost-proxies code) broadcast each channel's value to all of that
    channel's weights before summing, which multiplies it by the channel's fan-in
    (``C_in * k * k``): available as ``fisher(..., fan_in_weighted=True)``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gpnas.baselines.common import (cross_entropy, split_images, weight_grads, weight_layers, working_copy)


# --------------------------------------------------------------------------- synflow

def _bypass_batchnorm(model: nn.Module) -> None:
    for name, child in list(model.named_children()):
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(model, name, nn.Identity())
        else:
            _bypass_batchnorm(child)


def _synflow_sum(net: nn.Module, shape: tuple[int, ...], scale: float = 1.0) -> float:
    layers = weight_layers(net)
    out = net(torch.full((1,) + tuple(shape), scale, dtype=torch.float64))
    grads = weight_grads(out.sum(), layers)
    return sum(float((m.weight.detach() * g).abs().sum()) for m, g in zip(layers, grads))


#: input value of the retry after a float64 overflow (the score is linear in it)
_SYNFLOW_RETRY_SCALE = 1e-150


def synflow(model: nn.Module, images, seed: int = 0) -> float:
    """log of the synaptic-flow saliency summed over all weights (data-free)."""
    x, _ = split_images(images)
    net = working_copy(model)
    _bypass_batchnorm(net)
    net.double()
    with torch.no_grad():
        for t in list(net.parameters()) + list(net.buffers()):
            if t.is_floating_point():
                t.abs_()
    total = _synflow_sum(net, x.shape[1:])
    if math.isfinite(total):
        return math.log(total) if total > 0 else float("-inf")
    # overflow: with zero biases and BatchNorm bypassed the network is positively homogeneous
    # in its input, so R and every theta * dR/dtheta scale with it; undo the scale in the log
    total = _synflow_sum(net, x.shape[1:], _SYNFLOW_RETRY_SCALE)
    if not math.isfinite(total) or total <= 0:
        return float("inf")
    return math.log(total) - math.log(_SYNFLOW_RETRY_SCALE)


# --------------------------------------------------------------------------- gradient saliencies

def _loss_and_layers(model, images, seed):
    x, labels = split_images(images)
    net = working_copy(model)
    layers = weight_layers(net)
    loss = cross_entropy(net(x), labels, seed)
    return net, layers, loss


def grad_norm(model: nn.Module, images, seed: int = 0) -> float:
    """Sum over Conv2d/Linear layers of the L2 norm of the loss gradient of the weight."""
    _, layers, loss = _loss_and_layers(model, images, seed)
    grads = weight_grads(loss, layers)
    return float(sum(float(g.norm()) for g in grads))


def snip(model: nn.Module, images, seed: int = 0) -> float:
    """Sum of |W * dL/dW| over all Conv2d/Linear weights."""
    _, layers, loss = _loss_and_layers(model, images, seed)
    grads = weight_grads(loss, layers)
    return float(sum(float((m.weight.detach() * g).abs().sum()) for m, g in zip(layers, grads)))


def grasp(model: nn.Module, images, seed: int = 0) -> float:
    """Sum of -W * (H g) over all Conv2d/Linear weights (g = dL/dW, H the loss Hessian)."""
    x, labels = split_images(images)
    net = working_copy(model)
    layers = weight_layers(net)
    weights = [m.weight for m in layers]
    # one forward; the gradient keeps its graph so that H g = d/dW (dL/dW . g) with g held
    # constant (detached) -- the same batch for g and for the Hessian, as the zero-cost code
    grads = weight_grads(cross_entropy(net(x), labels, seed), layers, create_graph=True)
    z = sum((gr * gr.detach()).sum() for gr in grads if gr.requires_grad)
    if not isinstance(z, torch.Tensor):  # no weight reaches the loss
        return 0.0
    hg = torch.autograd.grad(z, weights, allow_unused=True)
    total = 0.0
    for w, h in zip(weights, hg):
        if h is not None:
            total += float((-w.detach() * h).sum())
    return float(total)


def fisher(model: nn.Module, images, seed: int = 0, fan_in_weighted: bool = False) -> float:
    """Sum over Conv2d/Linear output channels of 0.5 * mean_n (sum_spatial a * dL/da)^2.

    ``fan_in_weighted``: NASLib's convention instead -- each channel's value is broadcast to the
    channel's weights before the sum, i.e. multiplied by its fan-in (C_in / groups * k_h * k_w,
    or in_features)."""
    x, labels = split_images(images)
    net = working_copy(model)
    acts: list[torch.Tensor] = []
    owners: list[nn.Module] = []  # the layer of each activation (in execution order)

    def keep(mod, inp, out):
        acts.append(out)
        owners.append(mod)

    layers = weight_layers(net)
    handles = [m.register_forward_hook(keep) for m in layers]
    try:
        loss = cross_entropy(net(x), labels, seed)
    finally:
        for h in handles:
            h.remove()
    grads = torch.autograd.grad(loss, acts, allow_unused=True)
    total = 0.0
    for m, a, g in zip(owners, acts, grads):
        if g is None:
            continue
        s = a.detach() * g
        if s.dim() > 2:
            s = s.sum(dim=tuple(range(2, s.dim())))
        per_channel = 0.5 * s.pow(2).mean(0)
        if fan_in_weighted:
            per_channel = per_channel * (m.weight[0].numel())
        total += float(per_channel.sum())
    return float(total)


def fisher_fan_in_weighted(model: nn.Module, images, seed: int = 0) -> float:
    """:func:`fisher` with NASLib's convention (each channel weighted by its fan-in)."""
    return fisher(model, images, seed, fan_in_weighted=True)
