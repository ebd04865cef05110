"""Collect the 22 statistics of every ReLU -> Conv2d -> BatchNorm2d instance of a network.

How instances are found
-----------------------
By a forward trace, not by module order: forward hooks on every ``nn.ReLU``, ``nn.Conv2d`` and
``nn.BatchNorm2d`` record which tensor each call consumed and produced.  An instance (order
``rcb``, the paper's) is a ReLU call whose output tensor is the input of a Conv2d call whose output
is the input of a BatchNorm2d call.  Operations between them (a slice, a concat, an add) break the
chain, so e.g. DARTS's FactorizedReduce (ReLU -> two convs -> concat -> BN) and NB201's shortcut
conv (AvgPool -> Conv, no BN) are not instances.  A module called several times gives one
candidate per call.  Instances are listed in execution order of their (first) conv.

ReLU-Conv-Conv-BN (separable and dilated convs of DARTS/NDS): the chain may hold several convs in a
row; the instance keeps the FIRST conv (the depthwise one) and drops the later ones, as the paper
("truncate instances of ReLU-Conv2D-Conv2D-BatchNorm2D ... by ignoring the second convolution").
So ``weight`` / ``weight_grad`` are the depthwise kernel (C, 1, k, k), the ``relu_*`` tensors are
exactly that conv's input, and ``bn_*`` the BN after the pointwise conv.  Such instances are counted
separately (``CollectInfo.sep``).

Order ``cbr`` (paper appendix 2.8, Conv2d -> BatchNorm2d -> ReLU): a conv (chain) whose output is
the input of a BN whose output is the input of a ReLU (the first such ReLU when several consume it).
The 22 names keep their shape classes (``relu_*`` one shape, ``bn_*`` one shape):

============================ ===================================== ==============================
name                         rcb (default)                         cbr
============================ ===================================== ==============================
``relu_in``                  ReLU input                            ReLU input = BN output
``relu_out``                 ReLU output = conv input              ReLU output
``weight``                   conv weight                           conv weight
``bn_out``                   BN output                             conv output = BN *input*
============================ ===================================== ==============================

and each ``*_grad`` is the gradient of the same tensor.  (In ``cbr`` the BN output is already
``relu_in``, so ``bn_out`` holds the pre-normalisation conv output, the one tensor not otherwise
seen.)  In ``cbr`` all 22 tensors except ``weight``/``weight_grad`` have the conv-output shape.

What is recorded
----------------
For each input -- ``data`` (the images), ``noise`` (``randn`` of their shape) and ``perturb``
(``data + sqrt(0.01) * randn``) -- one forward pass in train mode (BatchNorm uses batch statistics;
running statistics and the train/eval flags of the model are restored afterwards) and one backward
pass of ``output.sum()`` (the sum of the network's outputs; a tuple/list output uses its last
element, the logits by the NB201/NDS convention).  Gradients are taken with
``torch.autograd.grad``, so ``.grad`` of the model's parameters is left untouched.

* ``relu_out_grad`` is d(sum)/d(ReLU output); ``relu_in_grad`` is the gradient that flows through
  this ReLU to its input (``relu_out_grad * (relu_out > 0)``, the ReLU module's own input
  gradient; other consumers of the ReLU's input are not added).
* ``weight_grad`` is the conv weight gradient of this call (a conv module called more than once
  gets its per-call gradient from the call's input and output gradient).
* ``perturb`` statistics are stored as the DIFFERENCE from the ``data`` statistics
  (``x.perturb = x(data + sqrt(0.01) n) - x(data)``), as the reference implementation does.

Determinism: the noise is drawn from ``torch.Generator().manual_seed(seed)`` (noise first, then
the perturbation), and every pass runs under ``torch.manual_seed(seed)`` inside a forked RNG
(dropout, if any), so the same model, images and seed give identical tensors.

One fused pass (``fused=True``)
-------------------------------
At batch size 1 the three inputs can run as ONE batch of 3 with the same results, bit for bit, as
three passes -- for models whose only operation that mixes the rows of a batch is
``nn.BatchNorm2d`` (gpnas's spaces; the caller vouches for that, so it is opt-in).  During the
fused pass:

* every ``BatchNorm2d`` normalises each input on its own: the (3, C, H, W) batch is viewed as
  (1, 3C, H, W) and normalised per channel with the affine parameters repeated, i.e. per (input,
  channel) over (H, W), as the input's own pass does;
* every ``Conv2d`` runs (forward and backward) on the backend torch picks for one input
  (``torch._C._select_conv_backend``: e.g. the direct ``Slow2d`` kernel of batch-1 3x3
  convolutions, where a batch of 3 would go to oneDNN and round differently);
* ``weight_grad`` is computed per input from the conv's input and output gradient;
* every ``AvgPool2d`` runs on a channels-last copy of its input: torch's channels-last kernel
  gives the same numbers several times faster on CPU.

Where a layer or a conv's backend cannot be matched (or torch lacks the selector), the three
passes run instead; the result is the same either way.  Larger batches always take three passes:
there a row's tensors are not contiguous in the fused batch, and torch's kernels then sum in
another order (the statistics would differ in the last bits).  Fusing saves the per-operation
overhead of two passes.

This module imports nothing but ``torch`` and the statistic names, so ``gpnas export --format
python`` embeds its own source in the standalone scorer: one definition of the collector.
Problems with a model raise :class:`CollectError` (gpnas turns it into a one-line error).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from primitives.terminals import INPUTS, PER_INPUT, STAT_NAMES

PERTURB_SCALE = math.sqrt(0.01)


class CollectError(ValueError):
    """The model cannot be traced as asked (the message says why)."""


@dataclass
class CollectInfo:
    """What the trace found (one entry per instance, execution order)."""

    convs: list[str] = field(default_factory=list)  # qualified name of the recorded conv
    sep: list[bool] = field(default_factory=list)  # ReLU-Conv-Conv-BN (first conv kept)

    @property
    def n_sep(self) -> int:
        return int(sum(self.sep))


def _kind(m: nn.Module) -> str | None:
    if isinstance(m, nn.ReLU):
        return "relu"
    if isinstance(m, nn.Conv2d):
        return "conv"
    if isinstance(m, nn.BatchNorm2d):
        return "bn"
    return None


@dataclass
class _Call:
    index: int
    kind: str
    module: nn.Module
    name: str
    inp: torch.Tensor  # the tensor the call consumed (as its producer handed it downstream)
    inp_version: int
    out: torch.Tensor  # the tensor the call produced (kept intact)
    version: int  # out._version right after the call
    down: torch.Tensor  # what the call handed downstream (out, or a copy of it in safe mode)


class _Trace:
    """Forward hooks that record ReLU / Conv2d / BatchNorm2d calls and their tensors.

    In ``safe`` mode every recorded output is handed downstream as a copy, so in-place operations
    of the model (``out += identity``, in-place activations) cannot change the recorded tensors.
    """

    def __init__(self, model: nn.Module, safe: bool = False):
        self.safe = safe
        self.calls: list[_Call] = []
        self.producer: dict[int, int] = {}  # id(tensor handed downstream) -> call index
        self._pending: dict[int, list[tuple[torch.Tensor, int]]] = {}
        self.handles = []
        for name, m in model.named_modules():
            kind = _kind(m)
            if kind is None:
                continue
            self.handles.append(m.register_forward_pre_hook(self._pre(kind)))
            self.handles.append(m.register_forward_hook(self._post(kind, name)))

    def _pre(self, kind):
        def hook(module, args):
            if not args or not torch.is_tensor(args[0]):
                return None
            x = args[0]
            self._pending.setdefault(id(module), []).append((x, x._version))
            if kind == "relu" and getattr(module, "inplace", False):
                # keep the ReLU input intact: the in-place ReLU works on a copy
                return (x.clone(),) + tuple(args[1:])
            return None
        return hook

    def _post(self, kind, name):
        def hook(module, args, output):
            stack = self._pending.get(id(module))
            if not stack or not torch.is_tensor(output):
                return None
            inp, inp_version = stack.pop()
            down = output.clone() if self.safe else output
            idx = len(self.calls)
            self.producer[id(down)] = idx
            self.calls.append(_Call(idx, kind, module, name, inp, inp_version, output,
                                    output._version, down))
            return down if self.safe else None
        return hook

    def remove(self):
        for h in self.handles:
            h.remove()


@dataclass
class _Instance:
    relu: _Call
    convs: list[_Call]
    bn: _Call
    key: tuple  # identity of (relu, conv, bn) modules, to align the three passes

    def calls(self):
        return [self.relu, *self.convs, self.bn]


def _find_instances(trace: _Trace, order: str) -> list[_Instance]:
    calls = trace.calls
    producer = trace.producer

    def prod(t: torch.Tensor) -> _Call | None:
        i = producer.get(id(t))
        return calls[i] if i is not None and calls[i].down is t else None

    def conv_chain(bn: _Call):
        convs = []
        src = prod(bn.inp)
        while src is not None and src.kind == "conv":
            convs.insert(0, src)
            src = prod(src.inp)
        return convs, src

    found: list[_Instance] = []
    if order == "rcb":
        for bn in calls:
            if bn.kind == "bn":
                convs, src = conv_chain(bn)
                if convs and src is not None and src.kind == "relu":
                    found.append(_Instance(src, convs, bn, ()))
    else:  # cbr
        first_relu: dict[int, _Call] = {}
        for c in calls:
            if c.kind == "relu":
                first_relu.setdefault(id(c.inp), c)
        for bn in calls:
            if bn.kind != "bn":
                continue
            relu = first_relu.get(id(bn.down))
            if relu is None or relu.inp is not bn.down:
                continue
            convs, _ = conv_chain(bn)
            if convs:
                found.append(_Instance(relu, convs, bn, ()))
    found.sort(key=lambda inst: inst.convs[0].index)
    for inst in found:
        inst.key = (id(inst.relu.module), id(inst.convs[0].module), id(inst.bn.module))
    return found


def _modified(instances: list[_Instance]) -> str | None:
    """The name of a module whose recorded tensor was changed in place later, if any."""
    for inst in instances:
        for c in inst.calls():
            if c.out._version != c.version:
                return c.name
        if inst.relu.inp._version != inst.relu.inp_version:
            return inst.relu.name
    return None


def _outputs_to_loss(out) -> torch.Tensor:
    if isinstance(out, (tuple, list)) and out:
        out = out[-1]
    if isinstance(out, dict):
        out = out.get("logits", next(iter(out.values()), None))
    if not torch.is_tensor(out):
        raise CollectError(f"the model returned {type(out).__name__}; expected a tensor of "
                           "outputs (or a tuple/list whose last element is)")
    return out.float().sum()


def _weight_grad(conv: _Call, grads: dict[int, torch.Tensor], calls_per_module: dict[int, int],
                 groups: int = 1, k: int = 0):
    """The weight gradient of this conv call (of input ``k``'s rows in a fused pass)."""
    m: nn.Conv2d = conv.module
    if groups == 1 and (calls_per_module[id(m)] == 1 or m.padding_mode != "zeros"
                        or isinstance(m.padding, str)):
        g = grads.get(id(m.weight))
        return torch.zeros_like(m.weight) if g is None else g
    g_out = grads.get(id(conv.out))
    if g_out is None:
        return torch.zeros_like(m.weight)
    return torch.nn.grad.conv2d_weight(_rows_of(conv.inp, groups, k), m.weight.shape,
                                       _rows_of(g_out, groups, k), stride=m.stride,
                                       padding=m.padding, dilation=m.dilation, groups=m.groups)


def _rows_of(t: torch.Tensor, groups: int, k: int) -> torch.Tensor:
    """Row ``k`` (input k) of a fused batch of ``groups`` inputs of one sample each."""
    return t if groups == 1 else t[k:k + 1]


def _forward(model: nn.Module, x: torch.Tensor, order: str, seed: int, safe: bool):
    trace = _Trace(model, safe=safe)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            x = x.detach().clone().requires_grad_(True)
            loss = _outputs_to_loss(model(x))
    finally:
        trace.remove()
    return trace, _find_instances(trace, order), loss


def _pass(model: nn.Module, x: torch.Tensor, order: str, seed: int, groups: int = 1):
    """Forward + backward of ``x`` (``groups`` > 1: that many inputs fused, see
    :func:`_rows_of`); per input, the per-input tensors of every instance as (row, instance)
    pairs."""
    trace, instances, loss = _forward(model, x, order, seed, safe=False)
    if _modified(instances) is not None:
        # the model changed a recorded tensor in place: redo the pass with copies downstream
        trace, instances, loss = _forward(model, x, order, seed, safe=True)
        name = _modified(instances)
        if name is not None:
            raise CollectError(f"the model modifies the input of {name} in place after use; its "
                               "statistics would be wrong (use an out-of-place operation there)")
    calls_per_module: dict[int, int] = {}
    for c in trace.calls:
        calls_per_module[id(c.module)] = calls_per_module.get(id(c.module), 0) + 1

    # what we need gradients of
    targets: dict[int, torch.Tensor] = {}

    def need(t: torch.Tensor):
        if t.requires_grad:
            targets[id(t)] = t

    for inst in instances:
        need(inst.relu.out)
        need(inst.bn.out if order == "rcb" else inst.bn.inp)
        conv = inst.convs[0]
        if calls_per_module[id(conv.module)] == 1 and groups == 1:
            need(conv.module.weight)
        else:  # per call (or per input): from the conv output's gradient
            need(conv.out)
    grads: dict[int, torch.Tensor] = {}
    if targets and loss.requires_grad:
        keys = list(targets)
        got = torch.autograd.grad(loss, [targets[k] for k in keys], allow_unused=True)
        grads = {k: g for k, g in zip(keys, got) if g is not None}

    def grad_of(t):
        g = grads.get(id(t))
        return torch.zeros_like(t) if g is None else g

    per_input: list[list] = [[] for _ in range(groups)]
    for inst in instances:
        relu_out = inst.relu.out.detach()
        relu_out_grad = grad_of(inst.relu.out).detach()
        # rcb: BN output; cbr: the conv output = BN input (the BN output is relu_in there)
        bn_t = inst.bn.out if order == "rcb" else inst.bn.inp
        tensors = {
            "relu_in": inst.relu.inp.detach(),
            "relu_out": relu_out,
            "relu_in_grad": relu_out_grad * (relu_out > 0),
            "relu_out_grad": relu_out_grad,
            "bn_out": bn_t.detach(),
            "bn_out_grad": grad_of(bn_t).detach(),
        }
        rows = {name: t.split(1) if groups > 1 else (t,) for name, t in tensors.items()}
        for k in range(groups):
            row = {name: parts[k] for name, parts in rows.items()}
            row["weight_grad"] = _weight_grad(inst.convs[0], grads, calls_per_module, groups,
                                              k).detach()
            per_input[k].append((row, inst))
    return per_input


class _NotFusable(Exception):
    """The fused pass cannot reproduce the three passes exactly for this model."""


@contextlib.contextmanager
def _conv_backends(mkldnn: bool, nnpack: bool) -> Iterator[None]:
    """torch's oneDNN and NNPACK convolution backends switched on or off inside the block."""
    before = torch._C._get_mkldnn_enabled(), torch._C._get_nnpack_enabled()
    torch._C._set_mkldnn_enabled(mkldnn)
    torch._C._set_nnpack_enabled(nnpack)
    try:
        yield
    finally:
        torch._C._set_mkldnn_enabled(before[0])
        torch._C._set_nnpack_enabled(before[1])


def _backend_switches(conv: nn.Conv2d, x: torch.Tensor, groups: int) -> tuple[bool, bool]:
    """(oneDNN, NNPACK) switches under which torch convolves the fused batch ``x`` with the
    backend it picks for the rows of one input; :class:`_NotFusable` if there are none."""
    select = getattr(torch._C, "_select_conv_backend", None)
    if select is None or conv.padding_mode != "zeros" or isinstance(conv.padding, str):
        raise _NotFusable
    args = (conv.weight, conv.bias, list(conv.stride), list(conv.padding), list(conv.dilation),
            False, [0, 0], conv.groups)
    want = select(x[: x.shape[0] // groups], *args)
    now = torch._C._get_mkldnn_enabled(), torch._C._get_nnpack_enabled()
    for switches in (now, (False, now[1]), (False, False)):
        with _conv_backends(*switches):
            if select(x, *args) == want:
                return switches
    raise _NotFusable


class _ConvOnBackend(torch.autograd.Function):
    """``conv(x)`` (its weight held constant) computed forward and backward under given backend
    switches."""

    @staticmethod
    def forward(ctx, x, conv, switches):
        ctx.save_for_backward(x)
        ctx.conv, ctx.switches = conv, switches
        with _conv_backends(*switches):
            return F.conv2d(x, conv.weight.detach(), None if conv.bias is None else
                            conv.bias.detach(), conv.stride, conv.padding, conv.dilation,
                            conv.groups)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        conv = ctx.conv
        with _conv_backends(*ctx.switches):
            gx = torch.ops.aten.convolution_backward(
                grad, x, conv.weight.detach(), None, list(conv.stride), list(conv.padding),
                list(conv.dilation), False, [0, 0], conv.groups, [True, False, False])[0]
        return gx, None, None


@contextlib.contextmanager
def _per_input_layers(model: nn.Module, groups: int) -> Iterator[None]:
    """Inside the block, the model's BatchNorm2d and Conv2d modules treat a fused batch of
    ``groups`` inputs as ``groups`` separate batches (see the module docstring)."""

    def batchnorm(bn: nn.BatchNorm2d):
        weight, bias = (None if p is None else p.detach().repeat(groups)
                        for p in (bn.weight, bn.bias))

        def forward(x):
            y = F.batch_norm(x.reshape(1, groups * x.shape[1], *x.shape[2:]), None, None,
                             weight, bias, True, 0.0, bn.eps)
            return y.view(x.shape)
        return forward

    def conv2d(conv: nn.Conv2d):
        def forward(x):
            return _ConvOnBackend.apply(x, conv, _backend_switches(conv, x, groups))
        return forward

    def avgpool2d(pool: nn.AvgPool2d):
        def forward(x):  # the same numbers as NCHW, from torch's faster channels-last kernel
            return F.avg_pool2d(x.contiguous(memory_format=torch.channels_last), pool.kernel_size,
                                pool.stride, pool.padding, pool.ceil_mode, pool.count_include_pad,
                                pool.divisor_override).contiguous()
        return forward

    patch = {nn.BatchNorm2d: batchnorm, nn.Conv2d: conv2d, nn.AvgPool2d: avgpool2d}
    mixing = (nn.modules.batchnorm._BatchNorm, nn.modules.conv._ConvNd,
              nn.modules.dropout._DropoutNd, nn.AvgPool2d)
    layers = [m for m in model.modules() if isinstance(m, mixing)]
    if any(type(m) not in patch or "forward" in vars(m) for m in layers):
        raise _NotFusable  # a layer the fused pass cannot treat per input
    try:
        for m in layers:
            m.forward = patch[type(m)](m)
        yield
    finally:
        for m in layers:
            vars(m).pop("forward", None)


@contextlib.contextmanager
def _train_mode_restored(model: nn.Module, buffers: bool = True) -> Iterator[None]:
    """``model`` in training mode for the block; afterwards every module's training flag and
    (with ``buffers``) every buffer (BN running statistics, batch counts) are as they were."""
    modes = {m: m.training for m in model.modules()}
    buffers = {k: b.detach().clone() for k, b in model.named_buffers()} if buffers else {}
    try:
        model.train()
        yield
    finally:
        for m, t in modes.items():
            m.training = t
        with torch.no_grad():
            for k, b in model.named_buffers():
                if k in buffers:
                    b.copy_(buffers[k])


def collect_with_info(model: nn.Module, images: torch.Tensor, *, seed: int, order: str = "rcb",
                      fused: bool = False) -> tuple[list[dict[str, torch.Tensor]], CollectInfo]:
    """The statistics of every instance (see :func:`collect`) and what the trace found
    (recorded conv names, sep instances).  ``fused``: one pass for the three inputs, for models
    whose batch rows meet only in BatchNorm2d (see the module docstring); same result."""
    if not torch.is_tensor(images) or images.dim() != 4:
        raise CollectError("images must be a (B, C, H, W) tensor")
    data = images.detach().float()
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(data.shape, generator=gen)
    perturb = data + PERTURB_SCALE * torch.randn(data.shape, generator=gen)

    inputs = (data, noise, perturb)
    with torch.enable_grad():
        passes = _fused_passes(model, inputs, order, seed) if fused else None
        if passes is None:
            passes = _three_passes(model, inputs, order, seed)

    keys = [[inst.key for _, inst in passes[name]] for name in INPUTS]
    if not (keys[0] == keys[1] == keys[2]):
        raise CollectError("the model takes different paths for the data, noise and perturbed "
                           "inputs; its instances cannot be aligned")
    info = CollectInfo()
    out: list[dict[str, torch.Tensor]] = []
    for i, (row_d, inst) in enumerate(passes["data"]):
        rec: dict[str, torch.Tensor] = {"weight": inst.convs[0].module.weight.detach().clone()}
        row_n = passes["noise"][i][0]
        row_p = passes["perturb"][i][0]
        for t in PER_INPUT:
            rec[f"{t}.data"] = row_d[t]
            rec[f"{t}.noise"] = row_n[t]
            rec[f"{t}.perturb"] = row_p[t] - row_d[t]
        out.append({k: rec[k].float().contiguous() for k in STAT_NAMES})
        info.convs.append(inst.convs[0].name)
        info.sep.append(len(inst.convs) > 1)
    return out, info


def _three_passes(model, inputs, order, seed):
    """Input name -> the rows of its own pass."""
    conv_flags = {}
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            conv_flags[m] = m.weight.requires_grad
            m.weight.requires_grad_(True)
    try:
        with _train_mode_restored(model):
            return {name: _pass(model, x, order, seed)[0] for name, x in zip(INPUTS, inputs)}
    finally:
        for m, flag in conv_flags.items():
            m.weight.requires_grad_(flag)


def _fused_passes(model, inputs, order, seed):
    """Input name -> its rows, from one fused pass; None where that would not be exact."""
    if inputs[0].shape[0] != 1:
        return None
    # the fused BatchNorm2d leaves its running statistics alone (and the weights are held
    # constant): only other modules' buffers need saving
    buffers = any(type(m) is not nn.BatchNorm2d for m in model.modules()
                  if next(m.buffers(recurse=False), None) is not None)
    try:
        with _per_input_layers(model, len(inputs)), _train_mode_restored(model, buffers):
            per_input = _pass(model, torch.cat(inputs), order, seed, groups=len(inputs))
    except _NotFusable:
        return None
    return dict(zip(INPUTS, per_input))


def instance_info(model: nn.Module, images: torch.Tensor, order: str = "rcb") -> CollectInfo:
    """The instances :func:`collect` would record (one forward pass, no gradients): cheap."""
    with _train_mode_restored(model):
        with torch.no_grad():
            trace = _Trace(model)
            try:
                model(images.detach().float())
            finally:
                trace.remove()
        found = _find_instances(trace, order)
    return CollectInfo(convs=[inst.convs[0].name for inst in found],
                       sep=[len(inst.convs) > 1 for inst in found])


def collect(model: nn.Module, images: torch.Tensor, *, seed: int, order: str = "rcb",
            fused: bool = False) -> list[dict[str, torch.Tensor]]:
    """The 22 statistics of every instance of ``model``, in execution order.

    ``images``: a (B, C, H, W) batch (B is the statistics' batch size).  Returns one dict per
    instance mapping each name of ``primitives.STAT_NAMES`` to a float32 tensor of the instance's
    shape (``relu_*``: conv input (B, C_in, H, W); ``bn_*``: conv output; ``weight*``: conv weight).
    See the module docstring for the exact definitions.
    """
    return collect_with_info(model, images, seed=seed, order=order, fused=fused)[0]


#: one statistic of each shape class (``act``, ``bn``, ``weight``): the class's shape is its shape
SHAPE_OF = {"act": "relu_in.data", "bn": "bn_out.data", "weight": "weight"}


def shape_key(inst: dict[str, torch.Tensor]) -> tuple:
    """The (act, bn, weight) shapes of an instance: instances with equal keys stack into one
    batch (every statistic's shape is that of its class)."""
    return tuple(tuple(inst[name].shape) for name in SHAPE_OF.values())


def group_by_shape(instances) -> dict[tuple, list[int]]:
    """Shape key -> positions of the instances with it, in order of first appearance."""
    groups: dict[tuple, list[int]] = {}
    for i, inst in enumerate(instances):
        groups.setdefault(shape_key(inst), []).append(i)
    return groups
