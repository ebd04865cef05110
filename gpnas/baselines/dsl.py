"""Hand-made proxies written in the gpnas DSL (the ``network`` and ``cross`` extensions): they
read the cross-sample statistics, so they cost nothing beyond the statistics a run collects
anyway, and ``programs/*.json`` holds them as program files for ``gpnas score``.

Each is a tree in the DSL's text form; :func:`dsl_program` gives its IR program.
"""

from __future__ import annotations

#: name -> (program text, what it is)
DSL_PROXIES: dict[str, tuple[str, str]] = {
    "naswot": ("mat_logdet(layer_sum_mat(relu_codes.kernel))",
               "NASWOT (Mellor et al. 2021): log|det| of the layer sum of the ReLU codes' "
               "kernels"),
    "jacov": ("sub(zeros_like(net_instances), add(mat_logdet(mat_corr(input_grad.gram)), "
              "mat_invtrace(mat_corr(input_grad.gram))))",
              "jacob_cov (Mellor et al. 2020): -sum(log v + 1/v) over the eigenvalues v of the "
              "input-gradient correlation (a tiny ridge instead of jacov's k = 1e-5)"),
    "swap": ("layer_sum(relu_codes.patterns)",
             "SWAP-like (Peng et al. 2024): distinct sample-wise activation patterns, counted "
             "per layer and summed (SWAP counts them over all units at once)"),
    "meco": ("layer_sum(mat_eigmin(mat_corr(bn_out.chancov)))",
             "MeCo-like (Jiang et al. 2023): sum over layers of the smallest eigenvalue of the "
             "BN output's channel correlation (over the batch and positions)"),
}
#: the DSL extensions the proxies need
DSL = ("network", "cross")


def dsl_tree(name: str):
    """(tree representation, tree genome) of a DSL proxy."""
    from primitives import NET, primitive_set
    from representations.tree import TreeRepresentation

    rep = TreeRepresentation(primitive_set(*DSL), root_type=NET)
    return rep, rep.parse(DSL_PROXIES[name][0])


def dsl_program(name: str):
    """The IR program of a DSL proxy."""
    rep, tree = dsl_tree(name)
    return rep.lower(tree)
