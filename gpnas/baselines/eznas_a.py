"""EZNAS-A, the paper's best NASM, written in gpnas's DSL (with the ``grid`` extension).

The paper's text names only its input; the official code (IntelLabs'
Hardware-Aware-Automated-Machine-Learning, ``EZNAS/evol_utilities.py``, ``get_individual("darts")``,
ops of ``EZNAS/gp_func_defs.py``) builds it as ``OP18(OP29(OP20(OP14(ARG8))))``::

    EZNAS-A(layer) = frobenius(sigmoid(logdet(sign(x))))      score = mean over layers

* ``sign`` and ``sigmoid`` are element-wise; ``logdet`` is ``torch.logdet`` of the 4-D tensor, one
  log-determinant per trailing square matrix, the grid of them kept (``logdet_grid``); the code
  sets NaN (negative determinant) to 0 and leaves -inf (zero determinant), which the sigmoid
  turns into 0 (``logdet_grid`` gives the most negative finite number there: same result);
  ``frobenius`` is the norm of the whole grid, one number per layer, and the network's score is
  the mean over its ReLU-Conv-BN layers (the paper's to_scalar and aggregation: mean).
* **Its input x.**  The paper (Figure 4, section 5) says T3G-noise: the conv weight gradient for
  the noise input -- ``eznas-a`` here, ``weight_grad.noise``.  The released evaluation script
  (``verify_scores.py`` -> ``evaluate_scores`` -> ``populate``) hands the compiled tree its
  arguments as ``ARG_i = static[fixed_ordering[i - 1]]`` over the per-layer statistics in the
  order they were recorded (data pass: ReLU input, its gradient, weight, weight gradient, ...),
  which makes ``ARG8`` the gradient of the ReLU input for the image batch (T1G-data) --
  ``eznas-a-code`` here, ``relu_in_grad.data``.  The published 0.620 / 0.617 (NB201 C10 / C100)
  come from that script; which input the evolved program read when it was found is not in the
  repository.  ``benchmarks/eznas_a.py`` measures both.
* Statistics as the official script collects them: a batch of 16 training images (CIFAR,
  random-crop / flip augmented, a new batch per network; ImageNet16-120 gets one image), a
  ``randn`` noise batch of the same shape and a perturbed batch; backward of the sum of the
  logits; initialisation Kaiming-normal (fan_out, ReLU) convs, BN weight 1 / bias 0, Linear
  N(0, 0.01) -- the same as gpnas's ``reference_init``.  It finds layers by module order and,
  for ReLU-Conv-Conv-BN (separable / dilated convs), keeps the SECOND (pointwise) conv; gpnas
  traces execution and keeps the first (depthwise) one, as the paper's text says.
* Ground truth of the published NB201 figures: 200-epoch validation accuracy averaged over seeds
  (``cifar10-valid`` for CIFAR-10), all 15,625 architectures.

gpnas computes it with its own collector (:func:`gpnas.data.stats.collect.collect`) and the DSL
program (:func:`program`), so ``gpnas score eznas-a``, the ``eznas_a`` baseline and a search
seeded with it all compute the same thing (``eznas-a-code`` / ``eznas_a_code`` likewise).
"""

from __future__ import annotations

import torch
from torch import nn

from gpnas.baselines.common import split_images
from gpnas.errors import GpnasError

#: built-in name -> the program's tree text
PROGRAMS: dict[str, str] = {
    "eznas-a": "frobenius(sigmoid(logdet_grid(sign(weight_grad.noise))))",
    "eznas-a-code": "frobenius(sigmoid(logdet_grid(sign(relu_in_grad.data))))",
}
#: other spellings of the names
ALIASES = {"eznas_a": "eznas-a", "eznasa": "eznas-a", "eznas_a_code": "eznas-a-code"}
#: images per batch of the official evaluation script
BATCH_SIZE = 16
EXTENSIONS = ("grid",)


def builtin_name(name: str) -> str | None:
    """The built-in program ``name`` stands for (case-insensitive, aliases), or None."""
    name = str(name).strip().lower()
    name = ALIASES.get(name, name)
    return name if name in PROGRAMS else None


def primitive_set():
    from primitives import primitive_set as make

    return make(*EXTENSIONS)


def tree(name: str = "eznas-a", pset=None):
    """The built-in program as a tree genome (representations.tree)."""
    from representations.tree import parse

    return parse(PROGRAMS[name], pset or primitive_set())


def program(name: str = "eznas-a", pset=None):
    """The built-in program as IR (representations.ir.Program)."""
    from representations.tree import lower

    pset = pset or primitive_set()
    return lower(tree(name, pset), pset)


def run_program(prog, tensors: dict[str, torch.Tensor], pset=None) -> torch.Tensor:
    """One value per instance: ``prog`` on statistics stacked over instances of one shape
    (a tensor-valued root is averaged per instance, the paper's to_scalar)."""
    pset = pset or primitive_set()
    values: list[torch.Tensor] = []
    with torch.no_grad():
        for n in prog.nodes:
            values.append(tensors[n.name].float() if n.op is None
                          else pset[n.op].fn(*(values[a] for a in n.args)))
    out = values[prog.output]
    return out if out.dim() == 1 else out.reshape(out.shape[0], -1).mean(dim=1)


def score_instances(instances: list[dict[str, torch.Tensor]], name: str = "eznas-a") -> float:
    """The network score: mean over instances of the program (instances as ``collect`` gives)."""
    from gpnas.data.stats.collect import group_instances

    if not instances:
        raise GpnasError("the model has no ReLU -> Conv2d -> BatchNorm2d instance")
    pset = primitive_set()
    prog = program(name, pset)
    values = [run_program(prog, g.tensors, pset) for g in group_instances([instances])]
    return float(torch.cat(values).double().mean())


def eznas_a(model: nn.Module, images, seed: int = 0) -> float:
    """EZNAS-A (the paper's input, ``weight_grad.noise``) of ``model`` on ``images``."""
    from gpnas.data.stats.collect import collect

    x, _ = split_images(images)
    return score_instances(collect(model, x, seed=int(seed)), "eznas-a")


def eznas_a_code(model: nn.Module, images, seed: int = 0) -> float:
    """EZNAS-A on the input the official script feeds it (``relu_in_grad.data``)."""
    from gpnas.data.stats.collect import collect

    x, _ = split_images(images)
    return score_instances(collect(model, x, seed=int(seed)), "eznas-a-code")
