"""Shape arithmetic as pure functions on tuples, `None` for unknown.

The same arithmetic as `keras/src/ops/operation_utils.py`
(`compute_conv_output_shape`, `compute_pooling_output_shape`) and
`keras/src/utils/conv_utils.py` (`deconv_output_length`); it is re-implemented
here, not imported, so that checking never loads Keras.
"""

from __future__ import annotations

from math import prod

Dim = int | None


def conv_output_length(length: Dim, kernel: int, stride: int, padding: str, dilation: int = 1) -> Dim:
    """One spatial axis of a convolution or pooling window.

    >>> conv_output_length(28, 3, 1, "valid")
    26
    >>> conv_output_length(28, 3, 2, "same")
    14
    >>> conv_output_length(None, 3, 1, "valid") is None
    True
    """
    if length is None:
        return None
    if padding == "valid":
        return (length - dilation * (kernel - 1) - 1) // stride + 1
    return (length - 1) // stride + 1  # same, causal


def deconv_output_length(
    length: Dim, kernel: int, stride: int, padding: str, output_padding: int | None = None, dilation: int = 1
) -> Dim:
    """One spatial axis of a transposed convolution (Keras's `deconv_output_length`).

    >>> deconv_output_length(7, 3, 2, "same")
    14
    >>> deconv_output_length(7, 3, 2, "valid")
    15
    """
    if length is None:
        return None
    kernel = kernel + (kernel - 1) * (dilation - 1)
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(kernel - stride, 0)
        return length * stride
    pad = kernel // 2 if padding == "same" else 0
    return (length - 1) * stride + kernel - 2 * pad + output_padding


def known_prod(dims) -> Dim:
    """Product of the dims, or None if any is unknown."""
    dims = tuple(dims)
    if any(d is None for d in dims):
        return None
    return prod(dims)
