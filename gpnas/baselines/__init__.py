"""Hand-designed zero-shot NAS metrics, computed by gpnas on the same networks as its NASMs.

:data:`BASELINES` maps a name to a :class:`Baseline`: call it as ``metric(model, images, seed)
-> float`` (higher = predicted better).  ``model`` is any ``torch.nn.Module`` returning logits
(N, classes) -- e.g. ``get_space(s).build(arch, seed=...)``; it is never modified (metrics work on
a deep copy).  ``images`` is a normalised float batch (N, C, H, W) -- e.g.
``gpnas.data.stats.images.sample_images(space, metric.batch_size, seed)`` -- or an ``(images, labels)``
pair.  The loss of the gradient metrics is the mean cross-entropy against those labels when given,
else against labels drawn uniformly from ``seed`` (gpnas's default image sample, crops of one
photograph, has no labels).  ``seed`` also draws Zen-NAS's Gaussian inputs and weights.

============ ===== ===================================================================== ==============
name         batch inputs / loss                                                         source
============ ===== ===================================================================== ==============
params       -     none (parameter count)                                                --
flops        1     shape of one image; conv + linear multiply-accumulates                --
naswot       128   images; no loss (ReLU binary codes, log|det K_H|)                     Mellor 21
synflow      1     all-ones input of the image shape; no data, no loss; log of the score Tanaka 20
grad_norm    64    images + CE loss; sum of per-layer weight-gradient L2 norms           Abdelfattah 21
snip         64    images + CE loss; sum |W * dL/dW|                                     Lee 19
grasp        64    images + CE loss; sum -W * Hg (double backprop)                       Wang 20
fisher       64    images + CE loss; per channel 0.5 mean (sum act * grad)^2             Turner 20
jacob_cov    128   images; no loss (input-Jacobian correlation eigenvalues)              Mellor 20
zen          64    Gaussian inputs of the images' shape, Gaussian weights; no loss       Lin 21
zico         128   images + CE loss on 2 mini-batches of 64                              Li 23
swap         16    images; no loss (distinct sample-wise activation patterns of ReLUs)    Peng 24
meco         1     images; no loss (min eigenvalue of BN outputs' channel correlation)    Jiang 23
eznas_a      16    gpnas's collector, weight_grad.noise (the paper's input); DSL program Akhauri 22
eznas_a_code 16    the same formula on relu_in_grad.data (the official script's input)   Akhauri 22
============ ===== ===================================================================== ==============

Each implementation module documents the definition it follows and where NASLib /
NAS-Bench-Suite-Zero's conventions differ (``size``, ``naswot``, ``jacob_cov``, ``pruning``, ``zen``,
``zico``, ``swap``, ``meco``); ``eznas_a`` documents the official EZNAS code's conventions.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

from gpnas.errors import GpnasError


@dataclass(frozen=True)
class Baseline:
    """A metric with its default batch size and a one-line description of its inputs.

    ``impl`` is ``"module:function"`` inside this package, imported on first use, so that
    importing the registry (e.g. for the CLI's help) does not import torch."""

    name: str
    impl: str
    batch_size: int  # images it is given by default (1 where only the shape matters)
    doc: str
    uses_images: bool = True  # False: only the batch's shape is used (no image content)

    @property
    def fn(self) -> Callable:
        module, func = self.impl.split(":")
        return getattr(importlib.import_module(f"{__name__}.{module}"), func)

    def __call__(self, model, images, seed: int = 0) -> float:
        return float(self.fn(model, images, seed))


BASELINES: dict[str, Baseline] = {b.name: b for b in [
    Baseline("params", "size:num_params", 1,
             "number of parameters; no data", uses_images=False),
    Baseline("flops", "size:flops", 1,
             "Conv2d + Linear multiply-accumulates of one image; only the image shape is used",
             uses_images=False),
    Baseline("naswot", "naswot:naswot", 128,
             "log|det K_H| of the ReLU binary codes of a batch of 128 images; no loss"),
    Baseline("synflow", "pruning:synflow", 1,
             "log of sum |theta * dR/dtheta|, abs weights, BN bypassed, one all-ones input, "
             "float64; no data, no loss", uses_images=False),
    Baseline("grad_norm", "pruning:grad_norm", 64,
             "sum over layers of ||dL/dW||; 64 images, cross-entropy (random labels)"),
    Baseline("snip", "pruning:snip", 64,
             "sum |W * dL/dW|; 64 images, cross-entropy (random labels)"),
    Baseline("grasp", "pruning:grasp", 64,
             "sum -W * Hg; 64 images, cross-entropy (random labels), double backprop"),
    Baseline("fisher", "pruning:fisher", 64,
             "sum over conv/linear output channels of 0.5 mean_n (sum act * grad)^2; 64 images, "
             "cross-entropy (random labels)"),
    Baseline("jacob_cov", "jacob_cov:jacob_cov", 128,
             "-sum log(v+k)+1/(v+k) over eigenvalues of the input-Jacobian correlation; 128 "
             "images; no loss"),
    Baseline("zen", "zen:zen", 64,
             "log E||f(x)-f(x+0.01 eps)|| + sum log BN std; 64 Gaussian inputs, Gaussian "
             "weights; no loss", uses_images=False),
    Baseline("zico", "zico:zico", 128,
             "sum over layers log sum E|g|/std(g) across 2 mini-batches of 64 images, "
             "cross-entropy (random labels)"),
    Baseline("swap", "swap:swap", 16,
             "distinct sample-wise activation patterns of the ReLU units over 16 images; no "
             "loss"),
    Baseline("meco", "meco:meco", 1,
             "sum over BatchNorm2d outputs of the smallest eigenvalue of the channel "
             "correlation; one image, no loss"),
    Baseline("eznas_a", "eznas_a:eznas_a", 16,
             "EZNAS-A: mean over ReLU-Conv-BN instances of frobenius(sigmoid(logdet_grid(sign("
             "weight_grad.noise)))), the DSL program on gpnas's statistics; noise input of the "
             "batch's shape", uses_images=False),
    Baseline("eznas_a_code", "eznas_a:eznas_a_code", 16,
             "EZNAS-A as the official verify_scores.py feeds it: the same formula on "
             "relu_in_grad.data (its ARG8), gpnas's statistics of the image batch"),
]}


def parse_metrics(text: str | None) -> list[str]:
    """A comma-separated list of metric names (all when empty); GpnasError for unknown ones."""
    if text is None or not text.strip() or text.strip() == "all":
        return list(BASELINES)
    names = [t.strip() for t in text.split(",") if t.strip()]
    if not names:
        raise GpnasError(f"--metrics: give at least one metric name, got {text!r}")
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise GpnasError(f"unknown baseline metric(s) {', '.join(unknown)}; known: "
                         f"{', '.join(BASELINES)}")
    return list(dict.fromkeys(names))


def get_baseline(name: str) -> Baseline:
    try:
        return BASELINES[name]
    except KeyError:
        raise GpnasError(f"unknown baseline metric {name!r}; known: "
                         f"{', '.join(BASELINES)}") from None


__all__ = ["BASELINES", "Baseline", "get_baseline", "parse_metrics"]
