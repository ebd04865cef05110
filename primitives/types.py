"""Value types of the DSL.

The paper's types are *per instance* (one row per ReLU-Conv-BN layer instance; at run time a
value carries a leading axis of instances):

* ``act``    - tensors shaped like the ReLU input/output (= the conv input): (B, C_in, H, W)
* ``bn``     - tensors shaped like the BatchNorm output (= the conv output): (B, C_out, H', W')
* ``weight`` - tensors shaped like the conv weight: (C_out, C_in / groups, k, k)
* ``scalar`` - one number per instance

Extensions of the DSL add types of their own: ``net`` (one number per network, the value of a
network-level program; the ``network`` extension), and the cross-sample matrices of the ``cross``
extension: ``bmat`` (per instance, a B x B matrix across the B samples of a batch), ``cmat`` (per
instance, a C x C matrix across the output channels) and ``nmat`` (per network, a B x B matrix);
the ``grid`` extension's ``act_grid``, ``bn_grid``, ``weight_grid``: a tensor type with its two
trailing axes reduced to one number per trailing square matrix (``(B, C)``, ``(B, C_out)``,
``(C_out, C_in / groups)``).

Binary element-wise operations only combine values of one type, so a type-correct program can
never meet a shape mismatch at run time.
"""

ACT = "act"
BN = "bn"
WEIGHT = "weight"
SCALAR = "scalar"
NET = "net"
BMAT = "bmat"
CMAT = "cmat"
NMAT = "nmat"
ACT_GRID = "act_grid"
BN_GRID = "bn_grid"
WEIGHT_GRID = "weight_grid"

TENSOR_TYPES: tuple[str, ...] = (ACT, BN, WEIGHT)
#: the paper's types: every value is per layer instance
ALL_TYPES: tuple[str, ...] = (ACT, BN, WEIGHT, SCALAR)
#: every type a primitive set may use, in a fixed order
KNOWN_TYPES: tuple[str, ...] = (*ALL_TYPES, NET, BMAT, CMAT, NMAT, ACT_GRID, BN_GRID, WEIGHT_GRID)
#: types with one value per network (not per instance): computed after the per-instance nodes
NETWORK_TYPES: tuple[str, ...] = (NET, NMAT)
