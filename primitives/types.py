"""Value types of the DSL.

Every value a program handles is one row per layer instance (ReLU-Conv-BN instance), so every
type below is *per instance*; at run time a value carries a leading batch axis of instances.

* ``act``    - tensors shaped like the ReLU input/output (= the conv input): (B, C_in, H, W)
* ``bn``     - tensors shaped like the BatchNorm output (= the conv output): (B, C_out, H', W')
* ``weight`` - tensors shaped like the conv weight: (C_out, C_in / groups, k, k)
* ``scalar`` - one number per instance

Binary element-wise operations only combine values of one type, so a type-correct program can
never meet a shape mismatch at run time.
"""

ACT = "act"
BN = "bn"
WEIGHT = "weight"
SCALAR = "scalar"

TENSOR_TYPES: tuple[str, ...] = (ACT, BN, WEIGHT)
ALL_TYPES: tuple[str, ...] = (ACT, BN, WEIGHT, SCALAR)
