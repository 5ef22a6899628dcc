"""Drawers for the recurrent family: RNN over cells (SimpleRNNCell, LSTMCell, GRUCell, StackedRNNCells), and
ConvLSTM1D, ConvLSTM2D, ConvLSTM3D.

- RNN on a sequence (rank 2: timesteps, features): one cell, a list of cells or an explicit StackedRNNCells
  (nested once now and then), sometimes inside a Bidirectional.
- On an image (rank 3: h, w, c): a TimeDistributed RNN (h steps of w-long sequences), and ConvLSTM1D, which
  reads h as time, w as the steps of each signal and c as channels.
- On a volume (rank 4: t, h, w, c; an image's detour, see tests/draws/__init__.py): ConvLSTM2D, and ConvLSTM3D
  behind a Reshape to (t, h, w, c, 1).

Every drawer keeps its input's rank (a sequence-to-vector layer is followed by a Reshape to the rank it was
given), so that the image and volume stacks can go on after it.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from kspec.shapes import conv_output_length
from tests.draws import Drawer

ACTIVATIONS = ["tanh", "tanh", "relu", "sigmoid", "softsign", None]


def _chance(draw, percent: int) -> bool:
    return draw(st.integers(0, 99)) < percent


# ---- RNN over cells ------------------------------------------------------------------------------


def _one_cell(draw) -> dict[str, Any]:
    kind = draw(st.sampled_from(["LSTMCell", "GRUCell", "SimpleRNNCell"]))
    cell: dict[str, Any] = {"type": kind, "units": draw(st.integers(1, 6))}
    if _chance(draw, 25):
        cell["activation"] = draw(st.sampled_from(ACTIVATIONS))
    if kind != "SimpleRNNCell" and _chance(draw, 15):
        cell["recurrent_activation"] = draw(st.sampled_from(["sigmoid", "hard_sigmoid", "tanh"]))
    if _chance(draw, 15):
        cell["use_bias"] = False
    if _chance(draw, 12):
        cell["dropout"] = 0.2
    if _chance(draw, 12):
        cell["recurrent_dropout"] = 0.3
    if kind == "GRUCell" and _chance(draw, 25):
        cell["reset_after"] = False
    if kind == "LSTMCell" and _chance(draw, 15):
        cell["unit_forget_bias"] = False
    return cell


def _stack(draw, nested: bool) -> dict[str, Any]:
    """A StackedRNNCells of two or three cells (a stack of one changes its states' structure in Keras)."""
    cells = [_stack(draw, False) if nested and _chance(draw, 25) else _one_cell(draw) for _ in range(draw(st.integers(2, 3)))]
    return {"type": "StackedRNNCells", "cells": cells}


def _output_size(cell: dict[str, Any]) -> int:
    return _output_size(cell["cells"][-1]) if cell["type"] == "StackedRNNCells" else cell["units"]


def _rnn(draw, steps: int | None, *, backwards_ok: bool = True) -> tuple[dict[str, Any], int]:
    """An RNN layer and its output size, for `steps` timesteps (None: unknown)."""
    layer: dict[str, Any] = {"type": "RNN"}
    form = draw(st.sampled_from(["one", "one", "list", "stack"]))
    if form == "one":
        cell: Any = _one_cell(draw)
        size = cell["units"]
    elif form == "list":
        cell = _stack(draw, nested=True)["cells"]
        size = _output_size(cell[-1])
    else:
        cell = _stack(draw, nested=True)
        size = _output_size(cell)
    if steps is not None and _chance(draw, 12):
        layer["unroll"] = True
        if form == "one" and cell["type"] != "LSTMCell" and _chance(draw, 30):
            cell = [cell]  # a stack of one cell with one state: Keras runs it unrolled
    layer["cell"] = cell
    if _chance(draw, 50):
        layer["return_sequences"] = True
    if backwards_ok and _chance(draw, 10):
        layer["go_backwards"] = True
    if _chance(draw, 10):
        layer["zero_output_for_mask"] = True
    return layer, size


def _rnn_on_sequence(draw, shape: tuple) -> tuple[list[dict], tuple]:
    steps, _ = shape
    if _chance(draw, 20):
        inner, size = _rnn(draw, steps, backwards_ok=False)
        mode = draw(st.sampled_from(["concat", "concat", "sum", "ave", "mul"]))
        layer = {"type": "Bidirectional", "layer": inner, "merge_mode": mode}
        size *= 2 if mode == "concat" else 1
    else:
        layer, size = _rnn(draw, steps)
        inner = layer
    if inner.get("return_sequences"):
        return [layer], (steps, size)
    return [layer, {"type": "Reshape", "target_shape": [1, size]}], (1, size)


def _rnn_on_image(draw, shape: tuple) -> tuple[list[dict], tuple]:
    """TimeDistributed over the rows: each row is a sequence of w steps."""
    h, w, _ = shape
    inner, size = _rnn(draw, w)
    inner["return_sequences"] = True
    return [{"type": "TimeDistributed", "layer": inner}], (h, w, size)


# ---- ConvLSTM --------------------------------------------------------------------------------------


def _conv_lstm(draw, kind: str, spatial: tuple) -> tuple[dict[str, Any], tuple]:
    """A ConvLSTM layer of `kind` for these spatial dims (known), and its output's spatial dims."""
    padding = draw(st.sampled_from(["valid", "same"]))
    dilation = [2 if _chance(draw, 12) else 1 for _ in spatial]
    strides = [1] * len(spatial) if max(dilation) > 1 else [2 if _chance(draw, 20) else 1 for _ in spatial]
    kernel = []
    for axis, n in enumerate(spatial):
        if padding == "valid" and (n - 1) // dilation[axis] + 1 < 2:
            dilation[axis] = 1
        most = 3 if padding == "same" else min(3, (n - 1) // dilation[axis] + 1)
        kernel.append(draw(st.integers(1, most)))
    layer: dict[str, Any] = {"type": kind, "filters": draw(st.integers(1, 4)), "kernel_size": kernel, "padding": padding}
    if len(set(kernel)) == 1 and _chance(draw, 50):
        layer["kernel_size"] = kernel[0]
    if max(strides) > 1:
        layer["strides"] = strides
    if max(dilation) > 1:
        layer["dilation_rate"] = dilation
    if _chance(draw, 20):
        layer["activation"] = draw(st.sampled_from(ACTIVATIONS))
    if _chance(draw, 10):
        layer["recurrent_activation"] = "hard_sigmoid"
    if _chance(draw, 15):
        layer["use_bias"] = False
    if _chance(draw, 10):
        layer["unit_forget_bias"] = False
    if _chance(draw, 10):
        layer["dropout"] = 0.2
    if _chance(draw, 10):
        layer["recurrent_dropout"] = 0.2
    if _chance(draw, 50):
        layer["return_sequences"] = True
    if _chance(draw, 10):
        layer["go_backwards"] = True
    out = tuple(conv_output_length(n, k, s, padding, d) for n, k, s, d in zip(spatial, kernel, strides, dilation))
    return layer, out


def _conv_lstm1d(draw, shape: tuple) -> tuple[list[dict], tuple]:
    """On an image: h timesteps of w-long signals with c channels."""
    steps, n, _ = shape
    layer, (length,) = _conv_lstm(draw, "ConvLSTM1D", (n,))
    if layer.get("return_sequences"):
        return [layer], (steps, length, layer["filters"])
    return [layer, {"type": "Reshape", "target_shape": [1, length, layer["filters"]]}], (1, length, layer["filters"])


def _conv_lstm2d(draw, shape: tuple) -> tuple[list[dict], tuple]:
    steps, h, w, _ = shape
    layer, (oh, ow) = _conv_lstm(draw, "ConvLSTM2D", (h, w))
    out = (oh, ow, layer["filters"])
    if layer.get("return_sequences"):
        return [layer], (steps, *out)
    return [layer, {"type": "Reshape", "target_shape": [1, *out]}], (1, *out)


def _conv_lstm3d(draw, shape: tuple) -> tuple[list[dict], tuple]:
    """A volume (t, h, w, c) as t steps of (h, w, c) volumes with one channel, and back to rank 4."""
    steps, h, w, c = shape
    layer, (oh, ow, oc) = _conv_lstm(draw, "ConvLSTM3D", (h, w, c))
    depth = oc * layer["filters"]
    before = {"type": "Reshape", "target_shape": [steps, h, w, c, 1]}
    if layer.get("return_sequences"):
        return [before, layer, {"type": "Reshape", "target_shape": [steps, oh, ow, depth]}], (steps, oh, ow, depth)
    return [before, layer, {"type": "Reshape", "target_shape": [1, oh, ow, depth]}], (1, oh, ow, depth)


def _known_spatial(fn):
    """ConvLSTM needs known spatial dims and channels (Keras refuses others): where they are unknown, the layer is
    drawn anyway for a stand-in size, and both refuse it."""

    def draw_on(draw, shape: tuple) -> tuple[list[dict], tuple]:
        return fn(draw, (shape[0], *(4 if d is None else d for d in shape[1:])))

    return draw_on


DRAWERS = (
    Drawer(types=("RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells"), ranks=frozenset({2}), fn=_rnn_on_sequence),
    Drawer(types=("RNN", "TimeDistributed"), ranks=frozenset({3}), fn=_rnn_on_image),
    Drawer(types=("ConvLSTM1D",), ranks=frozenset({3}), fn=_known_spatial(_conv_lstm1d)),
    Drawer(types=("ConvLSTM2D",), ranks=frozenset({4}), fn=_known_spatial(_conv_lstm2d)),
    Drawer(types=("ConvLSTM3D",), ranks=frozenset({4}), fn=_conv_lstm3d, known=True),
)
