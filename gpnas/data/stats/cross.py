"""Cross-sample statistics (the ``cross`` DSL extension, see :mod:`primitives.cross`): compact
matrices of how every ReLU -> Conv2d -> BatchNorm2d instance treats a batch of B images relative
to each other, from ONE forward and backward pass of that batch.

Like :mod:`.trace`, this module imports only torch and the terminal names, so ``gpnas export
--format python`` embeds its own source.  Instances are found as :mod:`.trace` finds them (the
same hooks and chain rules), so they align with the batch-1 statistics; the caller checks it.

The batch runs in train mode (BatchNorm on the batch's statistics) under
``torch.manual_seed(seed)``; gradients are those of the sum of the outputs.  Matrices are computed
in float64 and returned as float32 (``relu_codes.kernel`` holds integers below 2**24: exact).
"""

from __future__ import annotations

import torch

from gpnas.data.stats.trace import (CollectError, _find_instances, _outputs_to_loss, _Trace,
                                    _train_mode_restored)


def _sample_gram(x: torch.Tensor) -> torch.Tensor:
    """Sample x sample dot products of a batch, (B, ...) -> (B, B)."""
    r = x.detach().reshape(x.shape[0], -1).double()
    return r @ r.T


def code_kernel(c: torch.Tensor) -> torch.Tensor:
    """NASWOT's kernel of on/off codes ``c`` (bool, samples x units): the units on which two
    samples agree, ``c c^T + (1 - c)(1 - c)^T = 2 c c^T - s 1^T - 1 s^T + units`` with ``s``
    the active units of each sample; float64, exact.  ``c c^T`` is one int8 matrix product
    with int32 sums (exact below 2**31 units; about 4x a float32 product on the CPU).  torch's
    CPU int8 product is wrong for a single unit, which multiplies in float64."""
    if c.shape[1] < 2:
        agree = c.double() @ c.double().T
    else:
        i8 = c.view(torch.int8)
        agree = torch._int_mm(i8, i8.T).double()
    s = c.sum(dim=1, dtype=torch.float64)
    return agree.mul_(2).sub_(s[:, None]).sub_(s[None, :]).add_(c.shape[1])


def _codes(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """NASWOT's kernel of the on/off codes of a batch (units on which two samples agree), and
    SWAP's count of distinct on/off patterns of the units over the samples."""
    c = x.detach().reshape(x.shape[0], -1) > 0
    return code_kernel(c), torch.tensor(float(distinct_rows(c.T)))


def distinct_rows(bits: torch.Tensor) -> int:
    """Distinct rows of a (units, B) 0/1 matrix: each row packed into ceil(B / 62) integers
    (exact), so the unique runs over a few integer columns, not B booleans."""
    words = []
    for a in range(0, bits.shape[1], 62):
        chunk = bits[:, a:a + 62].long()
        words.append((chunk << torch.arange(chunk.shape[1])).sum(dim=1))
    if len(words) == 1:
        return int(torch.unique(words[0]).numel())
    return int(torch.unique(torch.stack(words, dim=1), dim=0).shape[0])


def _channel_cov(y: torch.Tensor) -> torch.Tensor:
    """Covariance of the channels of (B, C, H, W) over samples and positions, (C, C)."""
    ch = y.detach().transpose(0, 1).reshape(y.shape[1], -1).double()
    ch = ch - ch.mean(dim=1, keepdim=True)
    return ch @ ch.T / max(ch.shape[1] - 1, 1)


def collect_cross(model, images: torch.Tensor, *, seed: int, order: str = "rcb"):
    """(per instance: {name: float32 tensor}, per network: {name: float32 tensor}, the recorded
    conv names) for a batch of B >= 2 images.  Per instance (execution order):
    ``relu_codes.kernel``, ``relu_codes.patterns``, ``relu_in.gram``, ``relu_in_grad.gram``,
    ``bn_out.gram``, ``bn_out.chancov``; per network: ``input_grad.gram`` (the Gram of the
    row-centred gradients of the sum of outputs with respect to the input images)."""
    if not torch.is_tensor(images) or images.dim() != 4 or images.shape[0] < 2:
        raise CollectError("cross-sample statistics need a (B, C, H, W) batch with B >= 2")
    with _train_mode_restored(model), torch.enable_grad():
        trace = _Trace(model, safe=True)
        try:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                x = images.detach().float().clone().requires_grad_(True)
                loss = _outputs_to_loss(model(x))
        finally:
            trace.remove()
        found = _find_instances(trace, order)
        wanted = [inst.relu.out for inst in found] + \
            [(inst.bn.out if order == "rcb" else inst.bn.inp) for inst in found] + [x]
        grads = torch.autograd.grad(loss, wanted, allow_unused=True) if loss.requires_grad \
            else [None] * len(wanted)
    n = len(found)

    def grad(i, like):
        return torch.zeros_like(like) if grads[i] is None else grads[i]

    out = []
    for i, inst in enumerate(found):
        kernel, patterns = _codes(inst.relu.inp)
        bn = inst.bn.out if order == "rcb" else inst.bn.inp
        relu_in_grad = grad(i, inst.relu.out) * (inst.relu.out > 0)
        stats = {"relu_codes.kernel": kernel, "relu_codes.patterns": patterns,
                 "relu_in.gram": _sample_gram(inst.relu.inp), "relu_in_grad.gram": _sample_gram(relu_in_grad),
                 "bn_out.gram": _sample_gram(bn), "bn_out.chancov": _channel_cov(bn)}
        out.append({k: v.float() for k, v in stats.items()})
    j = grad(2 * n, x).detach().reshape(x.shape[0], -1).double()
    network = {"input_grad.gram": _sample_gram(j - j.mean(dim=1, keepdim=True)).float()}
    return out, network, [inst.convs[0].name for inst in found]
