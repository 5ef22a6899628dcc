"""Drawers for the layer classes of keras.applications: LayerScale, StochasticDepth, CustomScaleLayer."""

from __future__ import annotations

from hypothesis import strategies as st

from . import Drawer


def _layer_scale(draw, shape: tuple) -> tuple[list[dict], tuple]:
    """A trained scale per feature of the last axis (known: the drawer asks for known dims)."""
    layer = {"type": "LayerScale", "init_values": draw(st.sampled_from([1e-6, 0.1, 1.0])), "projection_dim": shape[-1]}
    return [layer], shape


def _stochastic_depth(draw, shape: tuple) -> tuple[list[dict], tuple]:
    return [{"type": "StochasticDepth", "drop_path_rate": draw(st.sampled_from([0.0, 0.1, 0.5]))}], shape


def _custom_scale(draw, shape: tuple) -> tuple[list[dict], tuple]:
    """x + x * scale: the layer is to be called on `[x, x]` (a scale of -1 would be the constant-layer policy's)."""
    return [{"type": "CustomScaleLayer", "scale": draw(st.sampled_from([0.1, 0.17, 1.0]))}], shape


ANY = frozenset({1, 2, 3})
DRAWERS = (
    Drawer(types=("LayerScale",), ranks=ANY, fn=_layer_scale, known=True),
    Drawer(types=("StochasticDepth",), ranks=ANY, fn=_stochastic_depth),
    # Called on the tracked tensor twice (`Drawer.calls`).
    Drawer(types=("CustomScaleLayer",), ranks=ANY, fn=_custom_scale, calls=2),
)
