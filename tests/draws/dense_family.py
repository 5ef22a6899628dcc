"""Drawers for EinsumDense, RMSNormalization and SpectralNormalization, and (not joined yet) the self-attention
of AdditiveAttention and GroupQueryAttention.

- EinsumDense on a vector (rank 1: features) or a sequence (rank 2: steps, features): an equation drawn to fit
  (a dense map of the features, with or without an ellipsis, an elementwise scale, a map across the steps), with
  `output_shape` giving the input's sizes where the equation keeps them.
- RMSNormalization anywhere: over the last axis, or the last two.
- SpectralNormalization on any rank: wrapping a Dense, or a convolution of the input's rank with `padding: same`.

Every drawer keeps its input's rank, so that the image and volume stacks can go on after it. Where the input
lacks a size a drawer needs (an unknown number of features), it draws an Identity.

AdditiveAttention and GroupQueryAttention take two or three inputs: SELF_ATTENTION draws them for one
sequence, meant to be called on it twice (`[x, x]`), which the single-input interface of tests/draws cannot
say yet, so `tests/draws` does not collect them.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from tests.draws import Drawer

ACTIVATIONS = [None, None, "relu", "tanh", "gelu", "sigmoid"]
IDENTITY = {"type": "Identity"}


def _chance(draw, percent: int) -> bool:
    return draw(st.integers(0, 99)) < percent


def _extras(draw, layer: dict[str, Any]) -> dict[str, Any]:
    """Now and then an activation, a LoRA rank or an initializer (orthogonal for a kernel of rank 2 or more)."""
    if _chance(draw, 30):
        layer["activation"] = draw(st.sampled_from(ACTIVATIONS))
    if _chance(draw, 12):
        layer["lora_rank"] = draw(st.integers(1, 3))
        if _chance(draw, 30):
            layer["lora_alpha"] = draw(st.sampled_from([0.5, 4.0]))
    if _chance(draw, 12):
        vector = layer["equation"] == "ab,b->ab"
        layer["kernel_initializer"] = draw(
            st.sampled_from(["he_normal", "lecun_uniform"] + ([] if vector else ["orthogonal"]))
        )
    return layer


# ---- EinsumDense -----------------------------------------------------------------------------------


def _einsum(draw, shape: tuple) -> tuple[list[dict], tuple]:
    units = draw(st.integers(1, 6))
    if len(shape) == 1:
        (f,) = shape
        if f is None:
            return [IDENTITY], shape
        kind = draw(st.sampled_from(["dense", "ellipsis", "scale"]))
        if kind == "scale":  # a weight per feature
            layer = {"type": "EinsumDense", "equation": "ab,b->ab", "output_shape": f}
            bias, out = "b", (f,)
        else:
            equation = "ab,bc->ac" if kind == "dense" else "...b,bc->...c"
            layer = {"type": "EinsumDense", "equation": equation, "output_shape": units}
            bias, out = "c", (units,)
    else:
        t, f = shape
        if f is None:
            return [IDENTITY], shape
        kinds = ["dense", "dense", "ellipsis"] + (["across", "trailing"] if t is not None else [])
        kind = draw(st.sampled_from(kinds))
        if kind == "dense":  # the features of each step; the steps as output_shape gives them
            said = t if t is not None and _chance(draw, 70) else None
            layer = {"type": "EinsumDense", "equation": "abc,cd->abd", "output_shape": [said, units]}
            bias, out = ("bd" if said is not None and _chance(draw, 30) else "d"), (said, units)
        elif kind == "ellipsis":
            layer = {"type": "EinsumDense", "equation": "...b,bc->...c", "output_shape": units}
            bias, out = "c", (t, units)
        elif kind == "across":  # a map across the steps, for each feature
            layer = {"type": "EinsumDense", "equation": "abc,bd->acd", "output_shape": [f, units]}
            bias, out = draw(st.sampled_from(["d", "cd"])), (f, units)
        else:  # the ellipsis on the right: a map of the steps, the features kept as they are
            layer = {"type": "EinsumDense", "equation": "ab...,bc->ac...", "output_shape": units}
            bias, out = "c", (units, f)
    if _chance(draw, 60):
        layer["bias_axes"] = bias
    return [_extras(draw, layer)], out


# ---- RMSNormalization ------------------------------------------------------------------------------


def _rms(draw, shape: tuple) -> tuple[list[dict], tuple]:
    # a single value normalizes to its sign (refused): over the last two axes where the last has one value
    two = len(shape) >= 2 and None not in shape[-2:] and (shape[-1] == 1 or _chance(draw, 25))
    sizes = shape[-2:] if two else shape[-1:]
    if None in sizes or sizes == (1,) or (two and sizes == (1, 1)):
        return [IDENTITY], shape
    layer: dict[str, Any] = {"type": "RMSNormalization"}
    if two:
        layer["axis"] = draw(st.sampled_from([[-2, -1], [len(shape) - 1, len(shape)], [-1, -2]]))
    elif _chance(draw, 20):
        layer["axis"] = draw(st.sampled_from([-1, len(shape)]))
    if _chance(draw, 20):
        layer["epsilon"] = draw(st.sampled_from([1e-5, 1e-3]))
    return [layer], shape


# ---- SpectralNormalization -------------------------------------------------------------------------

#: The convolutions SpectralNormalization wraps, by the rank of their input (without the batch axis).
CONVOLUTIONS = {
    2: ["Conv1D", "Conv1DTranspose", "DepthwiseConv1D"],
    3: ["Conv2D", "Conv2DTranspose", "DepthwiseConv2D"],
    4: ["Conv3D"],
}


def _spectral(draw, shape: tuple) -> tuple[list[dict], tuple]:
    if shape[-1] is None:
        return [IDENTITY], shape
    convolutions = CONVOLUTIONS.get(len(shape), [])
    kind = draw(st.sampled_from(["Dense", "Dense"] + convolutions))
    if kind == "Dense":
        inner: dict[str, Any] = {"type": "Dense", "units": draw(st.integers(1, 6))}
        out = shape[:-1] + (inner["units"],)
    elif kind.startswith("Depthwise"):
        multiplier = draw(st.integers(1, 2))
        inner = {"type": kind, "kernel_size": draw(st.integers(1, 3)), "padding": "same"}
        if multiplier > 1:
            inner["depth_multiplier"] = multiplier
        out = shape[:-1] + (shape[-1] * multiplier,)
    else:
        inner = {
            "type": kind,
            "filters": draw(st.integers(1, 4)),
            "kernel_size": draw(st.integers(1, 3)),
            "padding": "same",
        }
        out = shape[:-1] + (inner["filters"],)
    if _chance(draw, 30):
        inner["activation"] = draw(st.sampled_from(ACTIVATIONS))
    if _chance(draw, 15):
        inner["use_bias"] = False
    layer: dict[str, Any] = {"type": "SpectralNormalization", "layer": inner}
    if _chance(draw, 25):
        layer["power_iterations"] = draw(st.integers(2, 3))
    return [layer], out


DRAWERS = (
    Drawer(types=("EinsumDense",), ranks=frozenset({1, 2}), fn=_einsum),
    Drawer(types=("RMSNormalization",), ranks=frozenset({1, 2, 3, 4}), fn=_rms),
    Drawer(types=("SpectralNormalization",), ranks=frozenset({1, 2, 3, 4}), fn=_spectral),
)


# ---- self-attention (not collected: see the module's docstring) --------------------------------------


def _self_attention(draw, shape: tuple) -> tuple[list[dict], tuple]:
    """AdditiveAttention or GroupQueryAttention of a sequence with itself: the layer is to be called on `[x, x]`
    (query and value; the key is the value)."""
    t, f = shape
    if f is None:
        return [IDENTITY], shape
    if _chance(draw, 50):
        layer: dict[str, Any] = {"type": "AdditiveAttention"}
        if _chance(draw, 30):
            layer["use_scale"] = False
        if _chance(draw, 20):
            layer["dropout"] = 0.1
        return [layer], shape
    kv_heads = draw(st.integers(1, 2))
    layer = {
        "type": "GroupQueryAttention",
        "head_dim": draw(st.integers(1, 4)),
        "num_key_value_heads": kv_heads,
        "num_query_heads": kv_heads * draw(st.integers(1, 2)),
    }
    for key, value, percent in (("use_bias", False, 20), ("use_gate", True, 20), ("dropout", 0.1, 20)):
        if _chance(draw, percent):
            layer[key] = value
    if t is not None and _chance(draw, 20):
        layer["sliding_window"] = draw(st.integers(1, 3))
    return [layer], shape


#: Self-attention: the run's last layer is called on the tracked tensor twice (`Drawer.calls`).
SELF_ATTENTION = (
    Drawer(types=("AdditiveAttention", "GroupQueryAttention"), ranks=frozenset({2}), fn=_self_attention, calls=2),
)

DRAWERS = DRAWERS + SELF_ATTENTION
