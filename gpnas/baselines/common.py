"""Helpers shared by the baseline metrics: inputs, labels, the loss, the weight layers, a
forward pass watched by hooks."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from gpnas.errors import GpnasError

#: the layers whose weights the pruning-at-init saliencies (snip, grasp, synflow, grad_norm,
#: fisher) and ZiCo are summed over -- the convention of the zero-cost-proxies code that
#: NASLib / NAS-Bench-Suite-Zero follow (BatchNorm parameters are not included)
WEIGHT_LAYERS = (nn.Conv2d, nn.Linear)


def split_images(images) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``images`` is a tensor (N, C, H, W) or a pair (tensor, integer labels (N,))."""
    labels = None
    if isinstance(images, (tuple, list)):
        if len(images) != 2:
            raise GpnasError("images must be a tensor or a (tensor, labels) pair")
        images, labels = images
    if not isinstance(images, torch.Tensor) or images.dim() != 4:
        raise GpnasError("images must be a float tensor of shape (N, C, H, W)")
    if labels is not None:
        labels = torch.as_tensor(labels, dtype=torch.long).reshape(-1)
        if labels.numel() != images.shape[0]:
            raise GpnasError(f"{labels.numel()} labels for {images.shape[0]} images")
    return images.float(), labels


def random_labels(n: int, num_classes: int, seed: int) -> torch.Tensor:
    """``n`` class labels, uniform over ``num_classes``, drawn from ``seed`` (own generator)."""
    g = torch.Generator().manual_seed(int(seed))
    return torch.randint(0, int(num_classes), (int(n),), generator=g)


def labels_for(logits: torch.Tensor, labels: torch.Tensor | None, seed: int) -> torch.Tensor:
    """The sample's labels when it has them, else random labels drawn from ``seed``."""
    if logits.dim() != 2:
        raise GpnasError(f"the model must return logits (N, classes), got shape "
                         f"{tuple(logits.shape)}")
    if labels is not None:
        if int(labels.max()) >= logits.shape[1] or int(labels.min()) < 0:
            raise GpnasError(f"labels out of range for a {logits.shape[1]}-class model")
        return labels
    return random_labels(logits.shape[0], logits.shape[1], seed)


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor | None, seed: int) -> torch.Tensor:
    """Mean cross-entropy of the batch against :func:`labels_for`."""
    return F.cross_entropy(logits, labels_for(logits, labels, seed))


def working_copy(model: nn.Module) -> nn.Module:
    """A deep copy in train mode (BatchNorm on batch statistics), gradients cleared: metrics
    never change the caller's model (weights, running statistics or .grad)."""
    m = copy.deepcopy(model)
    m.train()
    for p in m.parameters():
        p.grad = None
        p.requires_grad_(True)
    return m


def weight_layers(model: nn.Module) -> list[nn.Module]:
    """Conv2d and Linear modules in module order (the ones with a weight)."""
    layers = [m for m in model.modules()
              if isinstance(m, WEIGHT_LAYERS) and getattr(m, "weight", None) is not None]
    if not layers:
        raise GpnasError("the model has no Conv2d or Linear layer")
    return layers


def weight_grads(loss: torch.Tensor, layers: list[nn.Module], **kw) -> list[torch.Tensor]:
    """d loss / d weight of each layer (zeros for a weight the loss does not reach)."""
    weights = [m.weight for m in layers]
    grads = torch.autograd.grad(loss, weights, allow_unused=True, **kw)
    return [torch.zeros_like(w) if g is None else g for g, w in zip(grads, weights)]



def forward_watched(net: nn.Module, x: torch.Tensor, kind: type, hook, metric: str, *,
                    pre: bool = False) -> None:
    """One no-grad forward pass of ``x`` with ``hook`` on every ``kind`` module of ``net`` (a
    forward pre-hook when ``pre``: it sees the input before an in-place op overwrites it);
    GpnasError naming ``metric`` when the model has no such module."""
    modules = [m for m in net.modules() if isinstance(m, kind)]
    if not modules:
        raise GpnasError(f"{metric} needs nn.{kind.__name__} modules; the model has none")
    handles = [m.register_forward_pre_hook(hook) if pre else m.register_forward_hook(hook)
               for m in modules]
    try:
        with torch.no_grad():
            net(x)
    finally:
        for h in handles:
            h.remove()
