"""The ``network`` extension: network-level programs (a program's root is one number per network).

The paper's NASM is ``mean over instances(to_scalar(expression))``: the aggregation over a
network's layer instances is fixed.  This extension makes it evolvable:

* type ``net``: one number per network;
* aggregations ``(scalar) -> net`` over the network's instances: mean, sum, max, min, std, a
  depth-weighted mean, and the minimum / mean change between consecutive instances (execution
  order) -- each a registry row whose kernel scatters over all networks of a batch at once;
* every element-wise op of the paper also works on ``net`` values (add, sub, mul, log, abs, ...),
  so aggregated sub-programs combine into one formula (e.g. a sum of logs);
* per-instance terminals ``layer_position`` (execution index, 0-based) and ``layer_depth``
  (relative depth (position + 1) / instances, in (0, 1]);
* network terminals computed from the recorded shapes (no second pass over the model):
  ``net_instances`` (number of instances), ``net_params`` (conv weight elements of the
  instances: a parameter count of the conv layers) and ``net_macs`` (multiply-accumulates of
  those convs per image).
"""

from __future__ import annotations

import sympy

from . import kernels as K
from .registry import Extension, Op, Signature
from .types import NET, SCALAR

#: per-instance terminals (scalar per instance)
LAYER_TERMINALS: dict[str, str] = {"layer_position": SCALAR, "layer_depth": SCALAR}
#: network terminals (one number per network)
NET_TERMINALS: dict[str, str] = {"net_instances": NET, "net_params": NET, "net_macs": NET}

_AGG = (Signature((SCALAR,), NET),)


def _agg(name: str, paper_id: int, fn, latex: str, assumptions: tuple[str, ...] = ()) -> Op:
    f = sympy.Function(name)
    return Op(name, paper_id, _AGG, fn, lambda a: f(a), 1, "aggregation", fn.__doc__,
              atom_assumptions=assumptions, latex=latex)


#: the layer index l runs over the network's instances in execution order
AGGREGATIONS: tuple[Op, ...] = (
    _agg("layer_mean", 100, K.agg_mean, r"\operatorname*{{mean}}_{{l}} {0}"),
    _agg("layer_sum", 101, K.agg_sum, r"\sum_{{l}} {0}"),
    _agg("layer_max", 102, K.agg_max, r"\max_{{l}} {0}"),
    _agg("layer_min", 103, K.agg_min, r"\min_{{l}} {0}"),
    _agg("layer_std", 104, K.agg_std, r"\operatorname*{{std}}_{{l}} {0}", ("nonnegative",)),
    _agg("layer_depth_mean", 105, K.agg_depth_mean,
         r"\frac{{\sum_{{l}} d_{{l}} {0}}}{{\sum_{{l}} d_{{l}}}}"),
    _agg("layer_diff_min", 106, K.agg_diff_min, r"\min_{{l}} \Delta_{{l}} {0}"),
    _agg("layer_diff_mean", 107, K.agg_diff_mean, r"\operatorname*{{mean}}_{{l}} \Delta_{{l}} {0}"),
)
ASSUMPTIONS = {"layer_position": ("nonnegative",), "layer_depth": ("positive",),
               "net_instances": ("positive",), "net_params": ("positive",),
               "net_macs": ("positive",)}
LATEX = {"layer_position": "p_{l}", "layer_depth": "d_{l}", "net_instances": "L",
         "net_params": r"N_{\mathrm{params}}", "net_macs": r"N_{\mathrm{MACs}}"}


def _net_overload(op: Op) -> tuple[Signature, ...]:
    """An element-wise op's scalar signatures, on ``net`` values."""
    if op.kind != "elementwise":
        return ()
    return tuple(Signature(tuple(NET for _ in s.inputs), NET) for s in op.signatures
                 if s.output == SCALAR and all(t == SCALAR for t in s.inputs))


NETWORK = Extension("network", __doc__.split("\n\n")[0], {**LAYER_TERMINALS, **NET_TERMINALS},
                    AGGREGATIONS, _net_overload, latex=LATEX, assumptions=ASSUMPTIONS,
                    types={NET: ()})
