"""Arithmetic for the floating-point operations of a forward pass (`Layer.flops`), counted the way XLA's cost
analysis counts them: a multiply-add is 2 FLOPs, an element-wise operation 1 per element, a transcendental
function (exp, tanh, log) 0 (XLA counts those apart), a reduction of n values n - 1. Every count is per example:
the batch axis (axis 0) is left out, and an unknown size (None) counts as 1 (`kspec.cost` reports such a layer's
count as unknown).
"""

from __future__ import annotations

from math import prod

Shape = tuple[int | None, ...]

#: FLOPs per output value of each Keras activation, as XLA's cost analysis counts Keras 3's implementation on
#: the JAX backend (measured per value; tanh and exponential are transcendental only). An activation not listed
#: counts 1 per value.
ACTIVATION_FLOPS: dict[str, int] = {
    "linear": 0,
    "relu": 1,
    "relu6": 1,
    "leaky_relu": 3,
    "elu": 3,
    "selu": 5,
    "celu": 3,
    "gelu": 64,
    "silu": 4,
    "swish": 4,
    "hard_silu": 4,
    "hard_swish": 4,
    "mish": 7,
    "sigmoid": 3,
    "hard_sigmoid": 3,
    "log_sigmoid": 8,
    "tanh": 0,
    "hard_tanh": 4,
    "tanh_shrink": 1,
    "softmax": 4,
    "log_softmax": 5,
    "sparsemax": 44,
    "softplus": 6,
    "softsign": 3,
    "sparse_plus": 7,
    "squareplus": 4,
    "exponential": 0,
    # keras.ops functions that are no Keras activation name
    "exp": 0,
    "log": 0,
    "log1p": 0,
    "sin": 0,
    "cos": 0,
    "erf": 0,
    "sqrt": 0,
    "rsqrt": 0,
    "clip": 2,
    "cast": 0,
}


def elements(shape: Shape) -> int:
    """Values per example: the product of every axis but the batch axis (an unknown size counts 1).

    >>> elements((None, 4, 5))
    20
    """
    return prod(d if d is not None else 1 for d in shape[1:])


def activation_flops(activation: str | None, values: int) -> int:
    """FLOPs of an activation applied to `values` values (`ACTIVATION_FLOPS`; None is linear)."""
    return ACTIVATION_FLOPS.get(activation or "linear", 1) * values


#: Above this many kernel taps along one axis, a convolution's pairs are counted as if every tap read an input value
#: (an upper bound, exact for "valid" padding), so that an absurd kernel costs no time to count.
MAX_TAPS = 100_000


def _in_range(offset: int, stride: int, count: int, limit: int) -> int:
    """How many i in [0, count) have 0 <= i * stride + offset < limit."""
    first = max(0, -(offset // stride))  # ceil(-offset / stride), at least 0
    last = min(count - 1, (limit - 1 - offset) // stride) if limit - 1 - offset >= 0 else -1
    return max(0, last - first + 1)


def window_pairs(size: int, kernel: int, stride: int, dilation: int, padding: str, out: int) -> int:
    """The (output position, kernel tap) pairs of a convolution along one axis whose tap reads an input value
    rather than padding: what XLA counts (taps that land in padding cost nothing).

    >>> window_pairs(8, 3, 1, 1, "same", 8)
    22
    >>> window_pairs(8, 3, 1, 1, "valid", 6)
    18
    """
    if padding == "valid" or kernel > MAX_TAPS:
        return out * kernel
    span = (kernel - 1) * dilation + 1
    low = max((out - 1) * stride + span - size, 0) // 2 if padding == "same" else span - 1  # "causal": all left
    return sum(_in_range(tap * dilation - low, stride, out, size) for tap in range(kernel))


def transpose_pairs(size: int, kernel: int, stride: int, dilation: int, out: int) -> int:
    """The (input position, kernel tap) pairs of a transposed convolution along one axis that land inside the
    output (the full output, `(size - 1) * stride + span`, cropped evenly to `out`).

    >>> transpose_pairs(8, 3, 2, 1, 17)
    24
    """
    span = (kernel - 1) * dilation + 1
    full = (size - 1) * stride + span
    if full <= out or kernel > MAX_TAPS:
        return size * kernel
    low = (full - out) // 2
    return sum(_in_range(tap * dilation - low, stride, size, out) for tap in range(kernel))
