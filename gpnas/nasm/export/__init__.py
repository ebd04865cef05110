"""Export a NASM: readable formula (text / LaTeX / sympy), a standalone python module, or the
program file.

``python`` writes a module that imports only ``torch`` (and ``math``): its own ReLU -> Conv2d ->
BatchNorm2d statistics collection (the semantics of :mod:`gpnas.data.stats.collect`: forward hooks,
data / noise / perturbed inputs, perturb stored as the difference from data, gradients of the sum
of the outputs, per-call weight gradients), the program as plain torch code with only the ops it
uses (each with its protection, as in :mod:`primitives.ops`), ``to_scalar`` and the aggregation,
and ``score(model, images, seed=0) -> float``.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

from gpnas.errors import GpnasError
from gpnas.nasm.programfile import ProgramFile, as_program_file, save_program

FORMATS = ("text", "latex", "sympy", "python", "json")
#: formats simplified unless told otherwise (python and json keep the evolved program)
SIMPLIFY_BY_DEFAULT = {"text": True, "latex": True, "sympy": True, "python": False, "json": False}


# -- the standalone module: op implementations ------------------------------------------------
_HELPERS = {
    "_inf_to_nan": '''
def _inf_to_nan(x):
    return x.masked_fill(torch.isinf(x), NAN)
''',
    "_rows": '''
def _rows(x):
    return x.reshape(x.shape[0], -1)
''',
    "_square": '''
def _square(x):
    n = min(x.shape[-2], x.shape[-1])
    return x[..., :n, :n]
''',
    "_finite_rows": '''
def _finite_rows(x):
    bad = ~torch.isfinite(_rows(x)).all(dim=1)
    if bad.any():
        x = x.clone()
        x[bad] = 0
    return x, bad
''',
    "_mask_rows": '''
def _mask_rows(y, bad):
    return y.masked_fill(bad, NAN) if bad.any() else y
''',
    "_per_instance_mean": '''
def _per_instance_mean(y):
    return _rows(y).mean(dim=1)
''',
    "_gram": '''
def _gram(a):
    x = a.reshape(a.shape[0], a.shape[1], -1)
    return x @ x.transpose(1, 2)
''',
}

_HELPER_DEPS = {"_finite_rows": ["_rows"], "_per_instance_mean": ["_rows"]}

#: op name -> (helpers needed, source of ``op_<name>``); mirrors primitives/ops.py row by row
_OPS: dict[str, tuple[tuple[str, ...], str]] = {
    "add": ((), "def op_add(a, b):\n    return torch.add(a, b)\n"),
    "sub": ((), "def op_sub(a, b):\n    return torch.sub(a, b)\n"),
    "mul": (("_inf_to_nan",), "def op_mul(a, b):\n    return _inf_to_nan(a * b)\n"),
    "matmul": (("_inf_to_nan",), '''
def op_matmul(a, b):
    """A @ B of the trailing matrices; B cut / zero-padded to (w, w) when not square."""
    h, w = b.shape[-2], b.shape[-1]
    if h != w:
        b = F.pad(b[..., : min(h, w), :], (0, 0, 0, max(0, w - h)))
    return _inf_to_nan(torch.matmul(a, b))
'''),
    "lt": ((), "def op_lt(a, b):\n    return (a < b).to(a.dtype)\n"),
    "gt": ((), "def op_gt(a, b):\n    return (a > b).to(a.dtype)\n"),
    "eq": ((), "def op_eq(a, b):\n    return (a == b).to(a.dtype)\n"),
    "log": ((), '''
def op_log(a):
    """log(A), 0 where A <= 0."""
    return torch.log(torch.where(a > 0, a, torch.ones_like(a)))
'''),
    "abslog": ((), '''
def op_abslog(a):
    """log|A|, 0 where A == 0."""
    return torch.log(torch.where(a == 0, torch.ones_like(a), a).abs())
'''),
    "abs": ((), "def op_abs(a):\n    return torch.abs(a)\n"),
    "square": (("_inf_to_nan",), "def op_square(a):\n    return _inf_to_nan(a * a)\n"),
    "exp": (("_inf_to_nan",), "def op_exp(a):\n    return _inf_to_nan(torch.exp(a))\n"),
    "normalize": (("_rows",), '''
def op_normalize(a):
    """(A - mean) / std per instance; 0 where undefined (a constant instance)."""
    r = _rows(a)
    mean = r.mean(dim=1, keepdim=True)
    std = r.std(dim=1, keepdim=True) if r.shape[1] > 1 else torch.zeros_like(mean)
    std = std.masked_fill((r == r[:, :1]).all(dim=1, keepdim=True), 0.0)
    out = (r - mean) / std
    return torch.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).reshape(a.shape)
'''),
    "relu": ((), "def op_relu(a):\n    return torch.relu(a)\n"),
    "sign": ((), "def op_sign(a):\n    return torch.sign(a)\n"),
    "heaviside": ((), "def op_heaviside(a):\n    return (a > 0).to(a.dtype)\n"),
    "invert": (("_inf_to_nan",), '''
def op_invert(a):
    """1 / A, 0 where A == 0."""
    return _inf_to_nan(torch.where(a == 0, torch.zeros_like(a), 1 / a))
'''),
    "frobenius": (("_inf_to_nan", "_rows"), '''
def op_frobenius(a):
    return _inf_to_nan(torch.linalg.vector_norm(_rows(a), dim=1))
'''),
    "det": (("_square", "_finite_rows", "_mask_rows", "_inf_to_nan", "_per_instance_mean"), '''
def op_det(a):
    """Mean determinant of the instance's trailing (square-cropped) matrices."""
    a, bad = _finite_rows(_square(a))
    d = torch.linalg.det(a)
    return _mask_rows(_inf_to_nan(_per_instance_mean(d)), bad)
'''),
    "logdet": (("_square", "_finite_rows", "_mask_rows", "_per_instance_mean"), '''
def op_logdet(a):
    """Mean log-determinant of the trailing matrices; 0 where det <= 0."""
    a, bad = _finite_rows(_square(a))
    sign, logabs = torch.linalg.slogdet(a)
    d = torch.where(sign > 0, logabs, torch.zeros_like(logabs))
    return _mask_rows(_per_instance_mean(d), bad)
'''),
    "sym_eig_ratio": (("_finite_rows", "_gram", "_mask_rows", "_inf_to_nan"), '''
def op_sym_eig_ratio(a):
    """Largest / smallest eigenvalue of G + G^T, G the gram matrix of A.reshape(n, -1)."""
    a, bad = _finite_rows(a)
    g = _gram(a)
    e = torch.linalg.eigvalsh(g + g.transpose(1, 2))
    return _mask_rows(_inf_to_nan(e[:, -1] / e[:, 0]), bad)
'''),
    "eig_ratio": (("_square", "_finite_rows", "_mask_rows", "_inf_to_nan",
                   "_per_instance_mean"), '''
def op_eig_ratio(a):
    """max|lambda| / min|lambda| of each trailing square matrix, averaged per instance."""
    a, bad = _finite_rows(_square(a))
    lam = torch.linalg.eigvals(a).abs()
    ratio = lam.amax(dim=-1) / lam.amin(dim=-1)
    return _mask_rows(_inf_to_nan(_per_instance_mean(ratio)), bad)
'''),
    "normalized_sum": (("_rows",), "def op_normalized_sum(a):\n    return _rows(a).mean(dim=1)\n"),
    "l1_norm": (("_rows",), "def op_l1_norm(a):\n    return _rows(a).abs().mean(dim=1)\n"),
    "hamming": (("_rows",), '''
def op_hamming(a, b):
    return _rows((a > 0) != (b > 0)).sum(dim=1).to(a.dtype)
'''),
    "kl_div": (("_rows", "_inf_to_nan"), '''
def op_kl_div(a, b):
    """KLDivLoss('batchmean')(A, B) per instance."""
    terms = F.kl_div(a, b, reduction="none")
    return _inf_to_nan(_rows(terms).sum(dim=1) / a.shape[1])
'''),
    "cosine": ((), '''
def op_cosine(a, b):
    """Sum over the first axis of the cosine similarity of the flattened rest."""
    x = a.reshape(a.shape[0], a.shape[1], -1)
    y = b.reshape(b.shape[0], b.shape[1], -1)
    return F.cosine_similarity(x, y, dim=-1).sum(dim=1)
'''),
    "softmax": ((), "def op_softmax(a):\n    return torch.softmax(a, dim=2)\n"),
    "sigmoid": ((), "def op_sigmoid(a):\n    return torch.sigmoid(a)\n"),
    "ones_like": ((), "def op_ones_like(a):\n    return torch.ones_like(a)\n"),
    "zeros_like": ((), "def op_zeros_like(a):\n    return torch.zeros_like(a)\n"),
    "gt0": ((), "def op_gt0(a):\n    return (a > 0).to(a.dtype)\n"),
    "lt0": ((), "def op_lt0(a):\n    return (a < 0).to(a.dtype)\n"),
    "numel": ((), '''
def op_numel(a):
    n = a[0].numel() if a.shape[0] else 0
    return torch.full((a.shape[0],), float(n), dtype=a.dtype, device=a.device)
'''),
}


def op_sources(names) -> str:
    """Source of the helpers and ``op_<name>`` functions for these ops (registry order kept)."""
    missing = sorted(set(names) - set(_OPS))
    if missing:
        raise GpnasError(f"the python export has no implementation of op(s) {missing}")
    helpers: list[str] = []

    def want(h):
        for d in _HELPER_DEPS.get(h, []):
            want(d)
        if h not in helpers:
            helpers.append(h)

    for n in names:
        for h in _OPS[n][0]:
            want(h)
    parts = [_HELPERS[h].strip() for h in helpers] + [_OPS[n][1].strip() for n in names]
    return "\n\n\n".join(parts) + "\n"


# -- the standalone module: statistics collection and scoring ----------------------------------
_COLLECT = '''
# -- statistics: every ReLU -> Conv2d -> BatchNorm2d instance (ORDER "cbr": Conv2d -> BatchNorm2d
#    -> ReLU), recorded for the data, noise and perturbed inputs (as gpnas.data.stats.collect) -------
class _Call:
    def __init__(self, index, kind, module, name, inp, inp_version, out, down):
        self.index, self.kind, self.module, self.name = index, kind, module, name
        self.inp, self.inp_version, self.out, self.down = inp, inp_version, out, down


def _kind(m):
    if isinstance(m, nn.ReLU):
        return "relu"
    if isinstance(m, nn.Conv2d):
        return "conv"
    if isinstance(m, nn.BatchNorm2d):
        return "bn"
    return None


def _forward(model, x, seed):
    """One forward pass with hooks; every hooked output is handed downstream as a copy, so
    in-place operations of the model cannot change the recorded tensors."""
    calls, producer, pending, handles = [], {}, {}, []

    def pre(kind):
        def hook(module, args):
            if not args or not torch.is_tensor(args[0]):
                return None
            pending.setdefault(id(module), []).append((args[0], args[0]._version))
            if kind == "relu" and getattr(module, "inplace", False):
                return (args[0].clone(),) + tuple(args[1:])
            return None
        return hook

    def post(kind, name):
        def hook(module, args, output):
            stack = pending.get(id(module))
            if not stack or not torch.is_tensor(output):
                return None
            inp, version = stack.pop()
            down = output.clone()
            producer[id(down)] = len(calls)
            calls.append(_Call(len(calls), kind, module, name, inp, version, output, down))
            return down
        return hook

    for name, m in model.named_modules():
        kind = _kind(m)
        if kind is not None:
            handles.append(m.register_forward_pre_hook(pre(kind)))
            handles.append(m.register_forward_hook(post(kind, name)))
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            x = x.detach().clone().requires_grad_(True)
            out = model(x)
    finally:
        for h in handles:
            h.remove()
    if isinstance(out, (tuple, list)) and out:
        out = out[-1]
    if isinstance(out, dict):
        out = out.get("logits", next(iter(out.values()), None))
    if not torch.is_tensor(out):
        raise TypeError(f"the model returned {type(out).__name__}; expected a tensor")
    return calls, producer, out.float().sum()


def _instances(calls, producer, order):
    def prod(t):
        i = producer.get(id(t))
        return calls[i] if i is not None and calls[i].down is t else None

    def conv_chain(bn):  # ReLU-Conv-Conv-BN keeps the first conv
        convs, src = [], prod(bn.inp)
        while src is not None and src.kind == "conv":
            convs.insert(0, src)
            src = prod(src.inp)
        return convs, src

    found = []
    if order == "rcb":
        for bn in calls:
            if bn.kind == "bn":
                convs, src = conv_chain(bn)
                if convs and src is not None and src.kind == "relu":
                    found.append((src, convs[0], bn))
    else:
        first_relu = {}
        for c in calls:
            if c.kind == "relu":
                first_relu.setdefault(id(c.inp), c)
        for bn in calls:
            relu = first_relu.get(id(bn.down)) if bn.kind == "bn" else None
            if relu is not None and relu.inp is bn.down:
                convs, _ = conv_chain(bn)
                if convs:
                    found.append((relu, convs[0], bn))
    found.sort(key=lambda f: f[1].index)
    return found


def _one_pass(model, x, order, seed):
    calls, producer, loss = _forward(model, x, seed)
    found = _instances(calls, producer, order)
    for relu, _, _ in found:
        if relu.inp._version != relu.inp_version:
            raise RuntimeError(f"the model modifies the input of {relu.name} in place after use")
    per_module = {}
    for c in calls:
        per_module[id(c.module)] = per_module.get(id(c.module), 0) + 1
    targets = {}

    def need(t):
        if t.requires_grad:
            targets[id(t)] = t

    for relu, conv, bn in found:
        need(relu.out)
        need(bn.out if order == "rcb" else bn.inp)
        need(conv.module.weight if per_module[id(conv.module)] == 1 else conv.out)
    grads = {}
    if targets and loss.requires_grad:
        keys = list(targets)
        got = torch.autograd.grad(loss, [targets[k] for k in keys], allow_unused=True)
        grads = {k: g for k, g in zip(keys, got) if g is not None}

    def grad_of(t):
        g = grads.get(id(t))
        return torch.zeros_like(t) if g is None else g

    def weight_grad(conv):
        m = conv.module
        if per_module[id(m)] == 1 or m.padding_mode != "zeros" or isinstance(m.padding, str):
            g = grads.get(id(m.weight))
            return torch.zeros_like(m.weight) if g is None else g
        g_out = grads.get(id(conv.out))
        if g_out is None:
            return torch.zeros_like(m.weight)
        return torch.nn.grad.conv2d_weight(conv.inp, m.weight.shape, g_out, stride=m.stride,
                                           padding=m.padding, dilation=m.dilation,
                                           groups=m.groups)

    rows = []
    for relu, conv, bn in found:
        relu_out = relu.out.detach()
        relu_out_grad = grad_of(relu.out).detach()
        bn_t = bn.out if order == "rcb" else bn.inp
        rows.append(((id(relu.module), id(conv.module), id(bn.module)), conv.module, {
            "relu_in": relu.inp.detach(),
            "relu_out": relu_out,
            "relu_in_grad": relu_out_grad * (relu_out > 0),
            "relu_out_grad": relu_out_grad,
            "weight_grad": weight_grad(conv).detach(),
            "bn_out": bn_t.detach(),
            "bn_out_grad": grad_of(bn_t).detach(),
        }))
    return rows


def collect(model, images, seed=0, order=ORDER):
    """The 22 statistics of every instance of ``model``, in execution order (list of dicts)."""
    data = images.detach().float()
    gen = torch.Generator().manual_seed(int(seed))
    noise = torch.randn(data.shape, generator=gen).to(data.device)
    perturb = data + PERTURB_SCALE * torch.randn(data.shape, generator=gen).to(data.device)
    modes = {m: m.training for m in model.modules()}
    buffers = {k: b.detach().clone() for k, b in model.named_buffers()}
    flags = {m: m.weight.requires_grad for m in model.modules() if isinstance(m, nn.Conv2d)}
    for m in flags:
        m.weight.requires_grad_(True)
    try:
        model.train()
        with torch.enable_grad():
            passes = [_one_pass(model, x, order, seed) for x in (data, noise, perturb)]
    finally:
        for m, t in modes.items():
            m.training = t
        with torch.no_grad():
            for k, b in model.named_buffers():
                if k in buffers:
                    b.copy_(buffers[k])
        for m, flag in flags.items():
            m.weight.requires_grad_(flag)
    if not ([r[0] for r in passes[0]] == [r[0] for r in passes[1]] == [r[0] for r in passes[2]]):
        raise RuntimeError("the model takes different paths for the data, noise and perturbed "
                           "inputs; its instances cannot be aligned")
    out = []
    for i, (_, conv, row_d) in enumerate(passes[0]):
        rec = {"weight": conv.weight.detach().clone()}
        row_n, row_p = passes[1][i][2], passes[2][i][2]
        for t in PER_INPUT:
            rec[t + ".data"] = row_d[t]
            rec[t + ".noise"] = row_n[t]
            rec[t + ".perturb"] = row_p[t] - row_d[t]
        out.append({k: rec[k].float().contiguous() for k in STAT_NAMES})
    return out


# -- scoring -------------------------------------------------------------------------------------
def to_scalar(x):
    if TO_SCALAR == "mean":
        return x.reshape(x.shape[0], -1).mean(dim=1)
    if x.dim() == 1:  # l2 of a scalar root: unchanged
        return x
    return torch.linalg.vector_norm(x.reshape(x.shape[0], -1), dim=1)


def instance_values(stats):
    """One value per instance (execution order); instances of one shape run as one batch."""
    groups = {}
    for i, inst in enumerate(stats):
        groups.setdefault(tuple(tuple(inst[n].shape) for n in STAT_NAMES), []).append(i)
    values = [None] * len(stats)
    with torch.no_grad():
        for idx in groups.values():
            s = {n: torch.stack([stats[i][n] for i in idx]) for n in STATISTICS}
            v = to_scalar(program(s))
            for j, i in enumerate(idx):
                values[i] = v[j]
    return torch.stack(values) if values else torch.zeros(0)


def score(model, images, seed=0):
    """The NASM score of ``model``: ``images`` is a (B, C, H, W) batch of (normalised) inputs."""
    stats = collect(model, images, seed=seed, order=ORDER)
    if not stats:
        raise ValueError("the model has no ReLU -> Conv2d -> BatchNorm2d instance"
                         if ORDER == "rcb" else
                         "the model has no Conv2d -> BatchNorm2d -> ReLU instance")
    v = instance_values(stats).double()
    total = v.sum()
    result = float(total / len(v)) if AGGREGATE == "mean" else float(total)
    if not math.isfinite(result):
        raise ValueError("the program gives no finite score on this model")
    return result
'''


def _program_source(program) -> str:
    lines = ["def program(s):",
             '    """The NASM on a batch of instances of one shape: s maps each statistic name',
             '    to a tensor with a leading instance axis."""']
    for i, n in enumerate(program.nodes):
        if n.op is None:
            lines.append(f"    v{i} = s[{n.name!r}]")
        else:
            lines.append(f"    v{i} = op_{n.op}({', '.join(f'v{a}' for a in n.args)})")
    lines.append(f"    return v{program.output}")
    return "\n".join(lines) + "\n"


def python_module(pf: ProgramFile, program=None, formula: str | None = None) -> str:
    """The standalone module's source (``program`` overrides ``pf.program``)."""
    from gpnas import __version__
    from primitives import INPUTS, PER_INPUT, STAT_NAMES

    program = (program or pf.program).pruned()
    ops = []
    for n in program.nodes:
        if n.op is not None and n.op not in ops:
            ops.append(n.op)
    ops.sort(key=lambda o: list(_OPS).index(o) if o in _OPS else -1)
    origin = pf.describe()
    taus = "; ".join(f"{sp}: tau {t['kendall']:.4f}" for sp, t in
                     (pf.source.get("test") or {}).items()
                     if isinstance(t, dict) and t.get("kendall") is not None)
    doc = [f"NASM exported by gpnas {__version__} from {origin}.", "",
           "Needs only torch.  Usage::", "",
           "    import torch, this_module", "    images = ...  # (B, C, H, W) float batch, "
           f"normalised (the program evolved with B = {pf.batch_size})",
           "    s = this_module.score(model, images, seed=0)", "",
           f"program:   {program.text()}"]
    if formula:
        doc.append(f"formula:   {formula}")
    pattern = "ReLU-Conv2d-BatchNorm2d" if pf.order == "rcb" else "Conv2d-BatchNorm2d-ReLU"
    doc.append(f"to_scalar: {pf.to_scalar}; aggregate over instances: {pf.aggregate}; "
               f"instances: {pattern}")
    if taus:
        doc.append(f"test:      {taus}")
    docstring = '"""' + "\n".join(doc).replace('"""', "'''").replace("\\", "\\\\") + '\n"""\n'
    head = f'''
import math

import torch
import torch.nn.functional as F
from torch import nn

TO_SCALAR = {pf.to_scalar!r}
AGGREGATE = {pf.aggregate!r}
ORDER = {pf.order!r}
BATCH_SIZE = {int(pf.batch_size)}
PERTURB_SCALE = math.sqrt(0.01)
NAN = float("nan")
INPUTS = {tuple(INPUTS)!r}
PER_INPUT = {tuple(PER_INPUT)!r}
STAT_NAMES = {tuple(STAT_NAMES)!r}
STATISTICS = {tuple(program.statistics)!r}  # the statistics the program reads
'''
    body = "\n\n# -- the program's operations (protected as in gpnas) " + "-" * 40 + "\n" + \
        op_sources(ops) + "\n\n" + _program_source(program) + "\n" + _COLLECT
    return docstring + head + body


# -- formula formats ---------------------------------------------------------------------------
def _formula(pf: ProgramFile, simplify: bool, pset, timeout, tasks):
    from gpnas.nasm.simplify import simplify_program, to_sympy

    if not simplify:
        return to_sympy(pf.program, pset, pf.to_scalar), None
    simp = simplify_program(pf.program, pset, to_scalar=pf.to_scalar, tasks=tasks,
                            timeout=timeout, check_batch_size=pf.batch_size,
                            check_order=pf.order)
    return simp.formula, simp


def text_report(pf: ProgramFile, expr, simp) -> str:
    from gpnas.nasm.simplify import pretty

    program = pf.program.pruned()
    agg = "mean" if pf.aggregate == "mean" else "sum"
    lines = [f"gpnas program ({pf.describe()})",
             f"  program:    {program.text()}",
             f"  statistics: {', '.join(program.statistics)}",
             f"  settings:   to_scalar={pf.to_scalar}  aggregate={pf.aggregate}  "
             f"order={pf.order}  batch_size={pf.batch_size}  ({program.size} nodes)"]
    for sp, t in (pf.source.get("test") or {}).items():
        if isinstance(t, dict):
            if t.get("kendall") is not None:
                lines.append(f"  test:       {sp}: tau {t['kendall']:.4f}, rho "
                             f"{t.get('spearman', float('nan')):.4f} (n={t.get('n')})")
            else:
                lines.append(f"  test:       {sp}: invalid ({t.get('invalid')})")
    lines += ["", f"score = {agg} over the network's instances of", "",
              textwrap.indent(pretty(expr), "    "), "",
              f"  one line:   {expr}"]
    if simp is None:
        lines.append("  (not simplified)")
    else:
        lines.append(f"  simplified: kept the {simp.kept} program: {simp.reason}")
        lines.append(f"  sizes:      formula {simp.ops_before} -> {simp.ops_after} operations; "
                     f"program {simp.nodes_before} -> {simp.nodes_after} nodes "
                     f"(sympy {simp.seconds:.2f} s)")
        if simp.formula != simp.expr:
            lines.append(f"  before:     {simp.expr}")
        if simp.kept == "simplified":
            lines.append(f"  simplified program: {simp.program.text()}")
        elif not simp.verified and simp.simplified_expr != simp.expr:
            lines.append(f"  sympy's form (NOT equivalent / not verified): {simp.simplified_expr}")
    return "\n".join(lines) + "\n"


def latex_report(pf: ProgramFile, expr) -> str:
    from gpnas.nasm.simplify import latex

    agg = "mean" if pf.aggregate == "mean" else "sum"
    return (f"% gpnas NASM ({pf.describe()}): score = {agg} over ReLU-Conv-BN instances of\n"
            f"{latex(expr)}\n")


def export(source, fmt: str = "text", *, simplify: bool | None = None, pset=None,
           candidate=None, timeout: float | None = None, tasks=None) -> str:
    """The export of a program (ProgramFile, Program, program file, run directory) as text.

    ``simplify`` defaults to True for text/latex/sympy and False for python/json; for python and
    json a simplified program is used only when it re-scored equal and is smaller.
    """
    from primitives import default_primitive_set

    from gpnas.nasm.programfile import load_program
    from gpnas.nasm.simplify import DEFAULT_TIMEOUT

    if fmt not in FORMATS:
        raise GpnasError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    pset = pset or default_primitive_set()
    if isinstance(source, (str, Path)):
        pf = load_program(source, pset, candidate)
    else:
        pf = as_program_file(source, pset)
    simplify = SIMPLIFY_BY_DEFAULT[fmt] if simplify is None else simplify
    timeout = DEFAULT_TIMEOUT if timeout is None else timeout
    expr, simp = _formula(pf, simplify, pset, timeout, tasks)
    if fmt == "text":
        return text_report(pf, expr, simp)
    if fmt == "latex":
        return latex_report(pf, expr)
    if fmt == "sympy":
        import sympy

        return sympy.srepr(expr) + "\n"
    if fmt == "python":
        program = simp.program if simp is not None else pf.program
        return python_module(pf, program, str(expr))
    # json: the program file (of the simplified program when it was kept)
    if simp is not None and simp.kept == "simplified":
        source_info = dict(pf.source, simplified_from=pf.program.key,
                           simplification=simp.reason)
        pf = ProgramFile(simp.program, None, None, "", pf.to_scalar, pf.aggregate, pf.order,
                         pf.batch_size, source_info)
    return json.dumps(pf.to_json(), indent=2) + "\n"


def write_export(text: str, out: str | Path | None) -> Path | None:
    if out is None:
        return None
    path = Path(out)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    except OSError as exc:
        raise GpnasError(f"cannot write {path}: {exc.strerror or exc}") from None
    return path


__all__ = ["FORMATS", "export", "op_sources", "python_module", "save_program", "write_export"]
