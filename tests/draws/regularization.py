"""Drawers for the regularization layers that take any rank: AlphaDropout and ActivityRegularization."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from . import Drawer


def _alpha_dropout(draw, shape: tuple) -> tuple[list[dict], tuple]:
    layer: dict[str, Any] = {"type": "AlphaDropout", "rate": draw(st.sampled_from([0.1, 0.3]))}
    if draw(st.integers(0, 99)) >= 70:  # a mask shared along some axes: each entry null, 1 or the input's size
        layer["noise_shape"] = [None] + [draw(st.sampled_from([None, 1] if d is None else [None, 1, d])) for d in shape]
    return [layer], shape


def _activity_regularization(draw, shape: tuple) -> tuple[list[dict], tuple]:
    layer = {"type": "ActivityRegularization", "l1": draw(st.sampled_from([0.0, 0.01])), "l2": draw(st.sampled_from([0.0, 0.01]))}
    return [layer], shape


ANY = frozenset({1, 2, 3})
DRAWERS = (
    Drawer(types=("AlphaDropout",), ranks=ANY, fn=_alpha_dropout),
    Drawer(types=("ActivityRegularization",), ranks=ANY, fn=_activity_regularization),
)
