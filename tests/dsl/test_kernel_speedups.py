"""The faster forms of some kernels give what their plain forms gave (issue 17): bit for bit,
except normalize's two-pass standard deviation (within float32 rounding for normal numbers;
rows of subnormal numbers differ up to 1e-4 relatively).  The plain forms are
kept here only, as the reference."""

import pytest
import torch

from primitives import kernels as K

NAN = float("nan")


def _reference():
    def as_float(mask, like):
        return mask.to(like.dtype)

    def normalize(a):
        r = a.reshape(a.shape[0], -1)
        mean = r.mean(dim=1, keepdim=True)
        std = r.std(dim=1, keepdim=True) if r.shape[1] > 1 else torch.zeros_like(mean)
        std = std.masked_fill((r == r[:, :1]).all(dim=1, keepdim=True), 0.0)
        return torch.nan_to_num_((r - mean) / std, nan=0.0, posinf=0.0, neginf=0.0).reshape(
            a.shape)

    return {
        "op_log": lambda a: torch.log(torch.clamp(a, min=0)).nan_to_num_(
            nan=NAN, posinf=NAN, neginf=0.0),
        "op_abslog": lambda a: torch.log(torch.abs(a)).nan_to_num_(
            nan=NAN, posinf=NAN, neginf=0.0),
        "op_invert": lambda a: K._inf_to_nan(torch.where(a == 0, torch.zeros_like(a), 1 / a)),
        "op_heaviside": lambda a: as_float(a > 0, a),
        "op_gt0": lambda a: as_float(a > 0, a),
        "op_lt0": lambda a: as_float(a < 0, a),
        "op_lt": lambda a, b: as_float(a < b, a),
        "op_gt": lambda a, b: as_float(a > b, a),
        "op_eq": lambda a, b: as_float(a == b, a),
        "op_normalize": normalize,
    }


def _values():
    g = torch.Generator().manual_seed(0)
    special = torch.tensor([0.0, -0.0, float("inf"), -float("inf"), NAN, 1e-45, -1e-45, 1e-40,
                            3.4e38, -3.4e38, 1.0, -1.0, 1e-38, 88.7, 89.0, -104.0])
    x = torch.cat([special, torch.randn(500, generator=g), torch.randn(500, generator=g) * 1e-30,
                   torch.randn(500, generator=g) * 1e30, torch.zeros(84)])
    return x, x[torch.randperm(x.numel(), generator=g)]


def _bits(t):
    return t.view(torch.int32)


@pytest.mark.parametrize("name", ["op_log", "op_abslog", "op_invert", "op_heaviside", "op_gt0",
                                  "op_lt0", "op_lt", "op_gt", "op_eq"])
def test_bit_for_bit(name):
    ref, new = _reference()[name], getattr(K, name)
    x, y = _values()
    if name in ("op_lt", "op_gt", "op_eq"):
        for b in (x, y, torch.full_like(x, NAN)):
            assert torch.equal(_bits(ref(x, b)), _bits(new(x, b)))
    else:
        assert torch.equal(_bits(ref(x)), _bits(new(x)))


def test_normalize_within_float32_rounding():
    ref = _reference()["op_normalize"]
    x, y = _values()
    finite = torch.where(torch.isfinite(y) & (y.abs() < 1e18), y, 0.5)
    for rows in (finite.reshape(32, -1), finite.reshape(-1, 1), torch.ones(4, 7),
                 torch.full((3, 4), float("inf")), torch.tensor([[1.0, NAN], [2.0, 2.0]]),
                 x.reshape(32, -1), torch.randn(5, 3, 4, 4),
                 torch.randn(2, 50) * torch.tensor([[1e-30], [1e36]])):
        want, got = ref(rows), K.op_normalize(rows)
        assert torch.equal(want == 0, got == 0)
        torch.testing.assert_close(got, want, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("name", ["op_matmul", "op_det", "op_logdet"])
def test_one_by_one_kernels_bit_for_bit(name):
    """1 x 1 matrices (the weights of 1 x 1 convs) skip LAPACK and matmul: same bits."""
    x, y = _values()
    a, b = x.reshape(16, 10, 10, 1, 1), y.reshape(16, 10, 10, 1, 1)
    a = torch.where(torch.isfinite(a) | (torch.arange(16) % 2 == 0).view(-1, 1, 1, 1, 1), a, 1.0)
    reference = {
        "op_matmul": lambda: K._inf_to_nan(torch.matmul(a, b)),
        "op_det": lambda: K._mask_rows(K._inf_to_nan(K._per_instance_mean(
            torch.linalg.det(K._finite_rows(a)[0]))), K._finite_rows(a)[1]),
        "op_logdet": lambda: K._mask_rows(K._per_instance_mean(torch.where(
            torch.linalg.slogdet(K._finite_rows(a)[0])[0] > 0,
            torch.linalg.slogdet(K._finite_rows(a)[0])[1], 0.0)), K._finite_rows(a)[1]),
    }[name]()
    got = K.op_matmul(a, b) if name == "op_matmul" else getattr(K, name)(a)
    assert torch.equal(_bits(reference), _bits(got))


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_small_matmul_bit_for_bit(k):
    """k x k kernels (k <= 5) take vectorised multiply-adds instead of matmul's loop over tiny
    matrices: the same bits, special values and several chunks included."""
    x, y = _values()
    n = (1 << 17) // (k * k) + 3  # more than two chunks, the last one short
    reps = -(-n * k * k // x.numel()) + 1
    a = x.repeat(reps)[:n * k * k].reshape(n, 1, k, k)
    b = y.repeat(reps)[7:n * k * k + 7].reshape(n, 1, k, k)
    a[0], b[0] = -0.0, 1.0  # all products -0: matmul gives +0
    assert torch.equal(_bits(K._inf_to_nan(torch.matmul(a, b))), _bits(K.op_matmul(a, b)))
