"""Drawers for the 3-D layers and adaptive pooling.

The 3-D layers draw for a volume (d1, d2, d3, channels), rank 4: on an image, the strategies reach it through the
Reshape detour of tests/draws/__init__.py. Adaptive pooling draws for a sequence (T, F), an image (h, w, c) or a
volume; it needs every spatial size known (TensorFlow traces it with static sizes), and an output size that every
backend pools right: not 1 and not on an axis of size 1 (TensorFlow), not one that Keras's JAX backend gets wrong.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kspec.shapes import conv_output_length, deconv_output_length
from kspec.spec.layers.pooling import windows_wrong_on_jax

from . import Drawer


def _chance(draw, percent: int) -> bool:
    """True with about `percent`% probability; shrinks to False."""
    return draw(st.integers(0, 99)) >= 100 - percent


def _one_or_each(draw, values: list[int]) -> int | list[int]:
    """One int where every axis takes the same (mostly), else one per axis."""
    return values[0] if len(set(values)) == 1 and not _chance(draw, 20) else values


def _conv3d_transpose(draw, shape: tuple) -> tuple[list[dict], tuple]:
    *spatial, _ = shape
    strides = draw(st.sampled_from([1, 1, 2]))
    padding = draw(st.sampled_from(["valid", "same"]))
    # kernels at least as large as the strides: a 1x1x1 kernel with strides is a policy refusal
    kernel = [draw(st.integers(strides, 3)) for _ in spatial]
    layer: dict[str, Any] = {"type": "Conv3DTranspose", "filters": draw(st.integers(1, 3)), "kernel_size": _one_or_each(draw, kernel)}
    if strides > 1:
        layer["strides"] = strides
    if padding == "same" or _chance(draw, 30):
        layer["padding"] = padding
    pads: list[int | None] = [None] * 3
    if strides > 1 and _chance(draw, 30):  # below the strides; at least 1 where "same" meets an even kernel
        pads = [1 if padding == "same" and k % 2 == 0 else draw(st.integers(0, strides - 1)) for k in kernel]
        layer["output_padding"] = pads
    if _chance(draw, 20):
        layer["activation"] = draw(st.sampled_from(["relu", "tanh"]))
    out = tuple(deconv_output_length(n, k, strides, padding, p) for n, k, p in zip(spatial, kernel, pads))
    return [layer], (*out, layer["filters"])


def _average_pooling3d(draw, shape: tuple) -> tuple[list[dict], tuple]:
    *spatial, c = shape
    padding = draw(st.sampled_from(["valid", "same"]))
    pool = [draw(st.integers(1, 2 if n is None else max(1, min(2, n)))) for n in spatial]
    layer: dict[str, Any] = {"type": "AveragePooling3D", "pool_size": _one_or_each(draw, pool), "padding": padding}
    strides = pool
    if _chance(draw, 30):
        strides = [draw(st.integers(1, 2))] * 3
        layer["strides"] = strides[0]
    out = tuple(conv_output_length(n, p, s, padding) for n, p, s in zip(spatial, pool, strides))
    return [layer], (*out, c)


def _global_pooling3d(type_: str):
    def fn(draw, shape: tuple) -> tuple[list[dict], tuple]:
        # keepdims: a volume stays a volume (the detour reshapes it back to an image)
        return [{"type": type_, "keepdims": True}], (1, 1, 1, shape[-1])

    return fn


def _zero_padding3d(draw, shape: tuple) -> tuple[list[dict], tuple]:
    *spatial, c = shape
    pads = [[draw(st.integers(0, 1)), draw(st.integers(0, 1))] for _ in spatial]
    flat = [p for pair in pads for p in pair]
    layer = {"type": "ZeroPadding3D", "padding": flat[0] if len(set(flat)) == 1 else pads}
    out = tuple(None if n is None else n + a + b for n, (a, b) in zip(spatial, pads))
    return [layer], (*out, c)


def _cropping3d(draw, shape: tuple) -> tuple[list[dict], tuple]:
    *spatial, c = shape
    crops = []
    for n in spatial:
        hi = 1 if n is None else max(0, min(1, (n - 1) // 2))  # at least one element left
        crops.append([draw(st.integers(0, hi)), draw(st.integers(0, hi))])
    layer = {"type": "Cropping3D", "cropping": crops}
    out = tuple(None if n is None else n - a - b for n, (a, b) in zip(spatial, crops))
    return [layer], (*out, c)


def _up_sampling3d(draw, shape: tuple) -> tuple[list[dict], tuple]:
    *spatial, c = shape
    size = [draw(st.integers(1, 2)) for _ in spatial]
    layer = {"type": "UpSampling3D", "size": _one_or_each(draw, size)}
    return [layer], (*(None if n is None else n * s for n, s in zip(spatial, size)), c)


def _spatial_dropout3d(draw, shape: tuple) -> tuple[list[dict], tuple]:
    return [{"type": "SpatialDropout3D", "rate": draw(st.sampled_from([0.1, 0.3, 0.5]))}], shape


def _adaptive(kind: str):
    """Adaptive pooling of a rank-2, -3 or -4 input (every dim known) to output sizes from 2 to 4."""

    def fn(draw, shape: tuple) -> tuple[list[dict], tuple]:
        *spatial, c = shape
        rank = len(spatial)
        sizes = []
        for n in spatial:
            fitting = [size for size in range(2, 5) if n > 1 and not windows_wrong_on_jax(n, size)]
            sizes.append(draw(st.sampled_from(fitting or [2])))  # an axis of 1: no size fits (refused)
        layer = {"type": f"Adaptive{kind}Pooling{rank}D", "output_size": _one_or_each(draw, sizes)}
        return [layer], (*sizes, c)

    return fn


#: One drawer for each 3-D layer type, by type.
VOLUME_LAYERS = {
    "Conv3DTranspose": _conv3d_transpose,
    "AveragePooling3D": _average_pooling3d,
    "GlobalAveragePooling3D": _global_pooling3d("GlobalAveragePooling3D"),
    "GlobalMaxPooling3D": _global_pooling3d("GlobalMaxPooling3D"),
    "ZeroPadding3D": _zero_padding3d,
    "Cropping3D": _cropping3d,
    "UpSampling3D": _up_sampling3d,
    "SpatialDropout3D": _spatial_dropout3d,
    "AdaptiveAveragePooling3D": _adaptive("Average"),
    "AdaptiveMaxPooling3D": _adaptive("Max"),
}


def _volume_run(first):
    """The layer of `first`, now and then followed by another 3-D layer (the volume's detour is rare: a second layer
    draws each type more often, and chains of them)."""

    def fn(draw, shape: tuple) -> tuple[list[dict], tuple]:
        layers, out = first(draw, shape)
        if _chance(draw, 40):
            more, out = VOLUME_LAYERS[draw(st.sampled_from(sorted(VOLUME_LAYERS)))](draw, out)
            layers = layers + more
        return layers, out

    return fn


VOLUME = frozenset({4})
DRAWERS = (
    *(
        Drawer(types=(type_,), ranks=VOLUME, fn=_volume_run(fn), known=type_.startswith("Adaptive"))
        for type_, fn in VOLUME_LAYERS.items()
    ),
    # a sequence or an image; a volume apart (an image takes the detour only to drawers without rank 3)
    Drawer(types=("AdaptiveAveragePooling1D", "AdaptiveAveragePooling2D"), ranks=frozenset({2, 3}),
           fn=_adaptive("Average"), known=True),
    Drawer(types=("AdaptiveMaxPooling1D", "AdaptiveMaxPooling2D"), ranks=frozenset({2, 3}), fn=_adaptive("Max"),
           known=True),
)
