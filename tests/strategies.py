"""Hypothesis strategies for kspec specs, reusable across the property tests.

Valid specs are built **by construction**: each layer's arguments are drawn with the tracked shape of
its input in mind (None where unknown), so that most draws fit and some are drawn at the edge of
fitting; nothing is filtered. Three model families, each with a training section drawn to fit its
outputs (`training_section`):

- `image_specs`: a sequential stack on an (h, w, c) input (now and then an integer one): convolution,
  pooling, normalization, regularization, padding, cropping, resizing, augmentation, activation
  layers, a volume detour (Reshape to 4-D, Conv3D / MaxPooling3D, Reshape back), then a global
  pooling or Flatten and a Dense head;
- `sequence_specs`: a (T, F) float input or (T,) integer tokens (usually embedded, with or without
  a mask), T unknown now and then: recurrent layers and Bidirectional, 1-D convolutions (transposed
  too), pooling, TimeDistributed, self-attention (which makes the spec graph-form), a per-step or
  pooled head;
- `graph_specs`: 1-3 inputs, Dense / sequence / normalization nodes, every merge, attention, shared
  calls (`{name, shares, inputs}`), nodes listed in any order, one or two outputs with a loss each (and
  now and then a shared call as one more output).

Across the families, classes that an independent generator found kspec wrong on are drawn too (`drawn_kinds`
tells them, and the property tests count them): now and then a spec's layers get argument objects (any
initializer, regularizer or constraint, by name or as a class with random arguments, on any of the
`*_initializer` / `*_regularizer` / `*_constraint` fields the layer class has: `with_argument_objects`);
an output ends behind layers that pass the head's values on, with any loss (`pass_through_end`; in graphs
also a shared call of such a layer); a graph lists a shared call among its outputs; an optimizer has
arguments at or next to the bounds of kspec's schema (`optimizer_bounds`).

`valid_specs()` draws from all three. `near_miss_specs()` (see there) applies one mutation to a valid
spec. Shrinking goes towards short stacks, the first choices of each list and no optional arguments,
so a counterexample reads like a hand-written spec.
"""

from __future__ import annotations

import functools
import re
import types
import typing
from collections import Counter
from typing import Any

import numpy as np
from hypothesis import strategies as st
from typing_extensions import TypeAliasType

from kspec.spec.objects import ACTIVATIONS as ACTIVATION_NAMES
from kspec.spec.training import (
    LOSS_ALIASES,
    LOSS_CLASS_KIND,
    LOSSES,
    METRIC_NAMES,
    METRIC_TYPES,
    OPTIMIZER_NAMES,
    OPTIMIZER_TYPES,
    loss_kind,
)
from tests.draws import extra_run


def chance(draw, percent: int) -> bool:
    """True with about `percent`% probability; shrinks to False (the common case)."""
    return draw(st.integers(0, 99)) >= 100 - percent


def fitting_window(draw, n: int | None, dilation: int = 1, hi: int = 5, edge: int = 15) -> int:
    """A window (kernel, pool) size for an axis of size n with padding "valid": mostly one in 1..hi that
    fits; `edge`% of the time one at the edge: the largest that fits, or one or two more."""
    if n is None:
        return draw(st.integers(1, hi))
    fit = (n - 1) // dilation + 1
    if chance(draw, edge):
        return fit + draw(st.integers(0, 2))
    return draw(st.integers(1, max(1, min(hi, fit))))


def int_or_pair(draw, a: int, b: int) -> int | list[int]:
    """`a` when both axes agree (usually), else `[a, b]`."""
    if a == b and not chance(draw, 20):
        return a
    return [a, b]


def conv_length(n, k, s, padding, d=1):
    if n is None:
        return None
    out = (n - d * (k - 1) - 1) // s + 1 if padding == "valid" else (n - 1) // s + 1
    return out if out > 0 else None


#: Every activation name the schema allows; None (linear) first, so shrinking removes activations.
ACTIVATIONS = [None, *ACTIVATION_NAMES]
IMAGE_TYPES = (
    ["Conv2D"] * 4 + ["MaxPooling2D"] * 2
    + ["DepthwiseConv2D", "SeparableConv2D", "Conv2DTranspose", "AveragePooling2D", "BatchNormalization",
       "LayerNormalization", "GroupNormalization", "Dropout", "SpatialDropout2D", "GaussianNoise",
       "ZeroPadding2D", "Cropping2D", "UpSampling2D", "Activation", "ReLU", "LeakyReLU", "PReLU", "ELU",
       "Identity", "Permute", "CenterCrop", "Resizing", "Rescaling", "RandomContrast", "RandomFlip",
       "RandomRotation", "RandomTranslation", "RandomZoom", "Softmax", "UnitNormalization", "GaussianDropout",
       "Normalization", "Volume", "Volume"] + ["Extra"] * 20
)


@st.composite
def image_layer(draw, shape, only: str | None = None):
    """One layer for a tracked (h, w, c) input (None where unknown); returns (layer, tracked output). `only`
    names the type to draw (the coverage test draws each type on its own)."""
    h, w, c = shape
    t = only or draw(st.sampled_from(IMAGE_TYPES))
    layer: dict[str, Any] = {"type": t}
    big = h is not None and w is not None and h * w > 40 * 40

    if t in ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"):
        square = not chance(draw, 25)
        padding = draw(st.sampled_from(["valid", "same"]))
        s = [draw(st.integers(1, 2))]
        s.append(s[0] if square else draw(st.integers(1, 2)))
        d = [1, 1]
        if chance(draw, 20):
            d = [draw(st.integers(1, 2))]
            d.append(d[0] if square else draw(st.integers(1, 2)))
            if t == "Conv2D" and max(s) > 1 and not chance(draw, 30):
                s = [1, 1]  # Keras refuses strides > 1 with dilation > 1 in Conv2D; sometimes keep it
        ks = []
        for n, dd in zip((h, w), d):
            ks.append(draw(st.integers(1, 5)) if padding == "same" else fitting_window(draw, n, dd))
        if square:
            ks[1] = ks[0] if padding == "same" or h == w else ks[1]
        layer["kernel_size"] = int_or_pair(draw, *ks)
        if s != [1, 1] or chance(draw, 10):
            layer["strides"] = int_or_pair(draw, *s)
        if d != [1, 1]:
            layer["dilation_rate"] = int_or_pair(draw, *d)
        layer["padding"] = padding
        if t != "DepthwiseConv2D":
            layer["filters"] = draw(st.integers(1, 8))
        if t != "Conv2D" and chance(draw, 30):
            layer["depth_multiplier"] = draw(st.integers(1, 2))
        if t == "Conv2D" and chance(draw, 10):
            layer["groups"] = draw(st.integers(1, 3))
        if chance(draw, 30):
            layer["use_bias"] = False
        if chance(draw, 50):
            layer["activation"] = draw(st.sampled_from(ACTIVATIONS))
        out_c = layer.get("filters", (c or 1) * layer.get("depth_multiplier", 1))
        ks2 = ks if not isinstance(layer["kernel_size"], int) else [ks[0], ks[0]]
        return layer, (conv_length(h, ks2[0], s[0], padding, d[0]), conv_length(w, ks2[1], s[1], padding, d[1]), out_c)

    if t == "Conv2DTranspose":
        padding = draw(st.sampled_from(["valid", "same"]))
        k = draw(st.integers(1, 4))
        s = 1 if big else draw(st.integers(1, 2))
        layer.update(filters=draw(st.integers(1, 6)), kernel_size=k, strides=s, padding=padding)
        if s == 1 and chance(draw, 15):
            layer["dilation_rate"] = 2
            k = 2 * (k - 1) + 1  # the dilated kernel, for the tracked shape
        op = None
        if chance(draw, 20):
            op = draw(st.integers(0, max(0, s - 1))) if not chance(draw, 20) else draw(st.integers(0, 2))
            layer["output_padding"] = op
        if chance(draw, 30):
            layer["activation"] = draw(st.sampled_from(ACTIVATIONS))

        def length(n):
            if n is None:
                return None
            if op is None:
                return n * s + max(k - s, 0) if padding == "valid" else n * s
            return (n - 1) * s + k - 2 * (k // 2 if padding == "same" else 0) + op

        return layer, (length(h), length(w), layer["filters"])

    if t in ("MaxPooling2D", "AveragePooling2D"):
        padding = draw(st.sampled_from(["valid", "same"]))
        p = [fitting_window(draw, n, hi=3) if padding == "valid" else draw(st.integers(1, 3)) for n in (h, w)]
        layer["pool_size"] = int_or_pair(draw, *p)
        if isinstance(layer["pool_size"], int):
            p = [p[0], p[0]]
        s = list(p)
        if chance(draw, 40):
            s = [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
            layer["strides"] = int_or_pair(draw, *s)
            if isinstance(layer["strides"], int):
                s = [s[0], s[0]]
        if padding != "valid" or chance(draw, 20):
            layer["padding"] = padding
        return layer, (conv_length(h, p[0], s[0], padding), conv_length(w, p[1], s[1], padding), c)

    if t == "BatchNormalization":
        if chance(draw, 20):
            layer["axis"] = draw(st.sampled_from([-1, 1, 2, 3, -2, -3]))
        if chance(draw, 20):
            layer["center"] = False
        if chance(draw, 20):
            layer["scale"] = False
        if chance(draw, 10):
            layer["renorm"] = True
        return layer, shape
    if t == "LayerNormalization":
        if chance(draw, 40):
            layer["axis"] = draw(st.sampled_from([-1, [1, 2, 3], [-3, -2, -1], [1, 2], 2, -2]))
        if chance(draw, 20):
            layer["center"] = False
        if chance(draw, 20):
            layer["scale"] = False
        return layer, shape
    if t == "GroupNormalization":
        layer["groups"] = draw(st.sampled_from([1, 2, 4, -1] + ([c] if c else [])))
        return layer, shape
    if t == "Dropout":
        layer["rate"] = draw(st.sampled_from([0.0, 0.1, 0.5, 0.9]))
        if chance(draw, 10):
            layer["noise_shape"] = [None, 1, 1, draw(st.sampled_from([1, c or 1, (c or 1) + 1]))]
        return layer, shape
    if t == "SpatialDropout2D":
        layer["rate"] = draw(st.sampled_from([0.0, 0.2, 0.5]))
        return layer, shape
    if t == "GaussianNoise":
        layer["stddev"] = draw(st.sampled_from([0.0, 0.1, 1.0]))
        return layer, shape
    if t == "ZeroPadding2D":
        a, b = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        form = draw(st.integers(0, 2))
        if form == 0:
            layer["padding"] = a
            return layer, (h and h + 2 * a, w and w + 2 * a, c)
        if form == 1:
            layer["padding"] = [a, b]
            return layer, (h and h + 2 * a, w and w + 2 * b, c)
        a2, b2 = draw(st.integers(0, 2)), draw(st.integers(0, 2))
        layer["padding"] = [[a, a2], [b, b2]]
        return layer, (h and h + a + a2, w and w + b + b2, c)
    if t == "Cropping2D":
        crops = []
        for n in (h, w):
            if n is not None and chance(draw, 15):  # at the edge: one row left, or none
                a = draw(st.integers(0, n))
                crops.append([a, max(0, n - 1 - a + draw(st.integers(0, 1)))])
                continue
            hi = 2 if n is None else max(0, min(2, (n - 1) // 2))
            crops.append([draw(st.integers(0, hi)), draw(st.integers(0, hi))])
        if crops[0][0] == crops[0][1] == crops[1][0] == crops[1][1] and not chance(draw, 20):
            layer["cropping"] = crops[0][0]
        else:
            layer["cropping"] = crops
        out = [None if n is None or n - sum(cr) <= 0 else n - sum(cr) for n, cr in zip((h, w), crops)]
        return layer, (out[0], out[1], c)
    if t == "UpSampling2D":
        size = [1, 1] if big else [draw(st.integers(1, 2)), draw(st.integers(1, 2))]
        layer["size"] = int_or_pair(draw, *size)
        if chance(draw, 30):
            layer["interpolation"] = draw(st.sampled_from(["nearest", "bilinear"]))
        return layer, (h and h * size[0], w and w * size[1], c)
    if t == "Activation":
        layer["activation"] = draw(st.sampled_from(ACTIVATION_NAMES))
        return layer, shape
    if t in ("CenterCrop", "Resizing"):
        hi = 12 if t == "Resizing" else max(h or 1, w or 1) + 1
        layer["height"], layer["width"] = draw(st.integers(1, hi)), draw(st.integers(1, hi))
        if t == "Resizing" and chance(draw, 30):
            layer["interpolation"] = draw(st.sampled_from(["nearest", "bicubic", "lanczos3", "lanczos5"]))
        if t == "Resizing" and chance(draw, 15):
            layer[draw(st.sampled_from(["crop_to_aspect_ratio", "pad_to_aspect_ratio"]))] = True
        return layer, (layer["height"], layer["width"], c)
    if t == "Rescaling":
        layer["scale"] = draw(st.sampled_from([1 / 255, 2.0, -1.0]))
        if c is not None and chance(draw, 20):
            layer["scale"] = [draw(st.sampled_from([0.5, 1.0, 2.0])) for _ in range(c)]  # one per channel
        if chance(draw, 30):
            layer["offset"] = -1.0
        return layer, shape
    if t == "Normalization":
        # The kept axis needs a known size; scalar statistics broadcast anywhere, per-channel ones need c.
        if c is None or chance(draw, 30):
            layer["axis"] = None
        elif h is not None and chance(draw, 20):
            layer["axis"] = [1, -1]
        if chance(draw, 50):
            per_channel = c is not None and layer.get("axis", -1) is not None and chance(draw, 50)
            n = draw(st.sampled_from([1, c])) if per_channel else 0
            mean = [draw(st.sampled_from([-1.0, 0.0, 0.5])) for _ in range(n)] if n else draw(st.sampled_from([0.0, 2.0]))
            var = [draw(st.sampled_from([0.25, 1.0, 4.0])) for _ in range(n)] if n else draw(st.sampled_from([0.5, 1.0]))
            layer["mean"], layer["variance"] = mean, var
        if chance(draw, 20):
            layer["invert"] = True
        return layer, shape
    if t == "RandomContrast":
        layer["factor"] = draw(st.sampled_from([0.2, 0.5, [0.1, 0.3]]))
        return layer, shape
    if t == "RandomFlip":
        if chance(draw, 50):
            layer["mode"] = draw(st.sampled_from(["horizontal", "vertical"]))
        return layer, shape
    if t == "RandomRotation":
        layer["factor"] = draw(st.sampled_from([0.1, [-0.2, 0.3]]))
        if chance(draw, 30):
            layer["fill_mode"] = draw(st.sampled_from(["wrap", "constant", "nearest"]))
        return layer, shape
    if t == "RandomTranslation":
        layer["height_factor"], layer["width_factor"] = draw(st.sampled_from([0.1, 0.2])), draw(st.sampled_from([0.1, [-0.2, 0.1]]))
        return layer, shape
    if t == "RandomZoom":
        layer["height_factor"] = draw(st.sampled_from([0.1, [-0.2, 0.2]]))
        if chance(draw, 40):
            layer["width_factor"] = 0.1
        return layer, shape
    if t in ("Softmax", "UnitNormalization"):
        if chance(draw, 30):
            layer["axis"] = draw(st.sampled_from([1, 2, -1, [1, 2]]))
        return layer, shape
    if t == "GaussianDropout":
        layer["rate"] = draw(st.sampled_from([0.1, 0.5]))
        return layer, shape
    if t == "Volume":
        return draw(volume_detour(shape))
    if t == "Extra":  # a layer of a family drawn by tests/draws/
        run = draw(extra_run(shape))
        return run[:2] if run is not None else ({"type": "Identity"}, shape)
    if t == "ReLU":
        if chance(draw, 30):
            layer["max_value"] = 6.0
        if chance(draw, 30):
            layer["negative_slope"] = 0.1
        if chance(draw, 20):
            layer["threshold"] = 0.5
        return layer, shape
    if t == "LeakyReLU":
        if chance(draw, 50):
            layer["negative_slope"] = draw(st.sampled_from([0.1, 0.2]))
        return layer, shape
    if t == "PReLU":
        if chance(draw, 50):
            layer["shared_axes"] = draw(st.sampled_from([[1, 2], [1], [2], [3]]))
        return layer, shape
    if t == "Identity":
        return layer, shape
    if t == "Permute":
        layer["dims"] = draw(st.sampled_from([[2, 1, 3], [1, 2, 3], [3, 1, 2]]))
        return layer, tuple(shape[d - 1] for d in layer["dims"])
    assert t == "ELU"
    if chance(draw, 30):
        layer["alpha"] = 0.5
    return layer, shape


@st.composite
def volume_detour(draw, shape):
    """Reshape (h, w, c) to a volume (h, w, c, 1), a Conv3D or MaxPooling3D, and Reshape back to
    (h', w', -1): a list of layers and the tracked output."""
    h, w, c = shape
    if h is None or w is None or c is None:
        return [{"type": "Reshape", "target_shape": [-1]}, {"type": "Reshape", "target_shape": [1, 1, -1]}], (1, 1, None)
    t = draw(st.sampled_from(["Conv3D", "MaxPooling3D"]))
    padding = draw(st.sampled_from(["valid", "same"]))
    ks = [fitting_window(draw, n, hi=3) if padding == "valid" else draw(st.integers(1, 3)) for n in (h, w, c)]
    key = "kernel_size" if t == "Conv3D" else "pool_size"
    layer: dict[str, Any] = {"type": t, key: ks[0] if len(set(ks)) == 1 and not chance(draw, 20) else ks, "padding": padding}
    s = ks if t == "MaxPooling3D" else [1, 1, 1]
    if t == "Conv3D":
        layer["filters"] = draw(st.integers(1, 4))
        if chance(draw, 20):
            s = [2, 2, 2]
            layer["strides"] = 2
        if chance(draw, 30):
            layer["activation"] = draw(st.sampled_from(ACTIVATIONS))
    out = [conv_length(n, k, st_, padding) for n, k, st_ in zip((h, w, c), ks, s)]
    back = {"type": "Reshape", "target_shape": [out[0] or 1, out[1] or 1, -1]}
    depth = None if None in out else out[2] * layer.get("filters", 1)
    return [{"type": "Reshape", "target_shape": [h, w, c, 1]}, layer, back], (out[0], out[1], depth)


def pick(draw, choices):
    """One of `choices`, uniformly: `sampled_from` favours the first ones, and the last of a long list (the
    names of losses, metrics and optimizers) would be drawn too rarely."""
    return draw(st.randoms(use_true_random=True)).choice(list(choices))


LOSS_NAMES = [*LOSSES, *LOSS_ALIASES]
#: Marks a loss class (drawn as a `{type: ...}` configuration) among the names (a class's name is a name too).
CLASS = "{type}"
#: Every loss of the schema: the names, then the classes.
ALL_LOSSES = LOSS_NAMES + [CLASS + c for c in LOSS_CLASS_KIND]
#: The losses of a first head: the common ones weighted up (and first, for shrinking), then all of them.
CLASSIFICATION_LOSSES = ["sparse_categorical_crossentropy"] * 3 + ["categorical_crossentropy", "mse"] + ALL_LOSSES
SECOND_HEAD_LOSSES = ["mse", "mse", "binary_crossentropy", "sparse_categorical_crossentropy"] + ALL_LOSSES


@st.composite
def loss_value(draw, loss: str):
    """`loss` as a name, or for a loss class (CLASS + its name) its `{type: ...}` configuration with some
    arguments drawn."""
    if not loss.startswith(CLASS):
        return loss
    loss = loss.removeprefix(CLASS)
    config: dict[str, Any] = {"type": loss}
    if "Crossentropy" in loss:
        if chance(draw, 40):
            config["from_logits"] = True
        if loss != "SparseCategoricalCrossentropy" and chance(draw, 20):
            config["label_smoothing"] = draw(st.sampled_from([0.1, 0.5]))
        if "Focal" in loss and chance(draw, 30):
            config["gamma"] = draw(st.sampled_from([0.0, 1.0, 3.0, 1.5]))
        if loss == "BinaryFocalCrossentropy" and chance(draw, 20):
            config.update(apply_class_balancing=True, alpha=draw(st.sampled_from([0.25, 0.75])))
    if loss == "SparseCategoricalCrossentropy" and chance(draw, 10):
        config["ignore_class"] = draw(st.sampled_from([0, 1, -1]))
    if loss == "Huber" and chance(draw, 40):
        config["delta"] = draw(st.sampled_from([0.5, 2.0]))
    if loss == "CategoricalGeneralizedCrossEntropy" and chance(draw, 40):
        config["q"] = draw(st.sampled_from([0.1, 0.7, 0.999]))
    if loss in ("Dice", "Tversky") and chance(draw, 40):
        config["axis"] = draw(st.sampled_from([-1, 1, [1, -1], 0]))  # the batch axis and the last; 1 may be the last
    if loss == "Tversky" and chance(draw, 40):
        config.update(alpha=draw(st.sampled_from([0.0, 0.3, 1.0])), beta=draw(st.sampled_from([0.7, 2.0])))
    if loss == "Circle" and chance(draw, 40):
        config.update(gamma=draw(st.sampled_from([1.0, 256.0])), margin=draw(st.sampled_from([0.0, 0.25, 1.0])))
        config["remove_diagonal"] = draw(st.booleans())
    if chance(draw, 10):
        config["reduction"] = draw(st.sampled_from(["sum", "mean", "mean_with_sample_weight", "none", None]))
    return config


@st.composite
def dense_head(draw, losses=CLASSIFICATION_LOSSES):
    """The last layer and its loss, drawn to fit each other: class scores (a softmax over 2-10 classes, or
    logits for a `from_logits` loss), sigmoid units for binary losses, a linear regression; now and then any
    activation at all on the head."""
    # now and then the common losses (first in the list: sampled_from favours them); else any, uniformly
    loss = draw(loss_value(draw(st.sampled_from(losses)) if chance(draw, 30) else pick(draw, losses)))
    kind = _kind(loss)
    logits = isinstance(loss, dict) and loss.get("from_logits", False)
    if kind in ("sparse", "one_hot"):
        head: dict[str, Any] = {"type": "Dense", "units": draw(st.integers(2, 10)), "activation": "softmax"}
    elif kind == "ctc":  # per-step class logits (on a sequence; elsewhere the loss is refused, as Keras fails)
        head = {"type": "Dense", "units": draw(st.integers(2, 10))}
    elif kind == "ids":  # embeddings (Circle reads their cosine similarities: `normalised` adds a UnitNormalization)
        head = {"type": "Dense", "units": draw(st.integers(1, 8))}
    elif kind == "binary":
        head = {"type": "Dense", "units": 1 if not chance(draw, 20) else draw(st.integers(2, 3)), "activation": "sigmoid"}
    else:
        head = {"type": "Dense", "units": draw(st.integers(1, 3))}
    if logits:
        head.pop("activation")
    if chance(draw, 15):
        head["activation"] = draw(st.sampled_from(ACTIVATIONS))
    if head.get("activation", "") is None:
        del head["activation"]
    return head, loss


def normalised(draw, loss) -> bool:
    """Whether an output trained with `loss` gets a UnitNormalization after its head: Circle's embeddings,
    mostly (without it, the loss-output-range policy refuses the spec)."""
    return _kind(loss) == "ids" and not chance(draw, 20)


#: How often (%) an output ends in layers that pass the head's values on (`pass_through_end`), with any loss.
PASS_THROUGH_PERCENT = 20
#: How often (%) a graph spec lists a shared call of a head as one more output (half as often: of a hidden layer).
SHARED_OUTPUT_PERCENT = 12


def spec_of(name: str, model: dict, loss) -> dict:
    """A spec with the plainest training section: SGD and the loss."""
    return {"kspec": 1, "name": name, "model": model, "training": {"optimizer": "sgd", "loss": loss}}


# ---- argument objects: initializers, regularizers and constraints on a layer's weights ------------

#: A layer argument that sets up a weight (`kernel_initializer`, `recurrent_regularizer`, `beta_constraint`,
#: `moving_variance_initializer`, ...) or penalises the output (`activity_regularizer`), known by its name.
ARGUMENT_FIELD = re.compile(r"_(initializer|regularizer|constraint)$")
#: How often (%) a spec has argument objects at all (`with_model_argument_objects`), and then how often each
#: argument of a layer gets one: a name, or a class with random arguments.
ARGUMENT_SPEC_PERCENT = 40
ARGUMENT_PERCENT = 12
#: The numbers tried for a float argument of an object class, as far as its bounds allow (0 first, for shrinking).
OBJECT_FLOATS = (0.0, 0.01, 0.05, 0.5, 1.0, 2.0, -0.05, -1.0)
#: Integer arguments of an object class (a norm constraint's `axis`, an initializer's `seed`): within their
#: bounds and within this range.
OBJECT_INTS = (-4, 4)


@functools.cache
def layer_classes() -> dict[str, type]:
    from kspec.spec.layers import LAYER_CLASSES

    return {cls.type_name(): cls for cls in LAYER_CLASSES}


def _members(tp) -> list:
    """The alternatives of a type: Literal values and classes, through Annotated, unions and Optional."""
    if isinstance(tp, TypeAliasType):  # a union written once in the schema's $defs (InitializerValue, ...)
        return _members(tp.__value__)
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:
        return _members(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for arg in typing.get_args(tp) for m in _members(arg)]
    if origin is typing.Literal:
        return list(typing.get_args(tp))
    return [] if tp is type(None) else [tp]


def numeric_bounds(info) -> tuple[type | None, dict[str, float]]:
    """A pydantic field's number type (int or float; None if it takes no number) and its bounds, as
    {"ge": ..., "gt": ..., "le": ..., "lt": ...}, looking through Optional and Annotated."""
    bounds: dict[str, float] = {}
    kinds: list[type] = []

    def collect(metadata) -> None:
        for m in metadata:
            for key in ("ge", "gt", "le", "lt"):
                if getattr(m, key, None) is not None:
                    bounds[key] = getattr(m, key)
            collect(getattr(m, "metadata", ()))

    def visit(tp) -> None:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            base, *extra = typing.get_args(tp)
            collect(extra)
            visit(base)
        elif origin in (typing.Union, types.UnionType):
            for arg in typing.get_args(tp):
                visit(arg)
        elif tp in (int, float):
            kinds.append(tp)

    collect(info.metadata)
    visit(info.annotation)
    return (kinds[0] if len(set(kinds)) == 1 else None), bounds


def within(value: float, bounds: dict[str, float]) -> bool:
    return (
        value >= bounds.get("ge", -np.inf) and value > bounds.get("gt", -np.inf)
        and value <= bounds.get("le", np.inf) and value < bounds.get("lt", np.inf)
    )


@functools.cache
def argument_fields(layer_type: str) -> tuple[str, ...]:
    """The argument-object fields of a layer type, from its class's fields (so a new layer type gets them too)."""
    cls = layer_classes().get(layer_type)
    return () if cls is None else tuple(k for k in cls.model_fields if ARGUMENT_FIELD.search(k))


@functools.cache
def object_choices(layer_type: str, field: str) -> tuple:
    """What the argument `field` of `layer_type` takes, from its annotation: names, and `{type: ...}` classes."""
    return tuple(_members(layer_classes()[layer_type].model_fields[field].annotation))


def object_type_name(cls) -> str:
    return cls.model_fields["type"].annotation.__args__[0]


@st.composite
def object_config(draw, cls) -> dict:
    """`{type: ...}` for an initializer, regularizer or constraint class, each argument drawn half the time:
    a choice of its Literal, a number within its bounds (OBJECT_FLOATS, OBJECT_INTS)."""
    config: dict[str, Any] = {"type": object_type_name(cls)}
    for name, info in cls.model_fields.items():
        if name == "type" or not chance(draw, 50):
            continue
        literals = [m for m in _members(info.annotation) if isinstance(m, (str, bool))]
        kind, bounds = numeric_bounds(info)
        if literals:
            config[name] = draw(st.sampled_from(literals))
        elif kind is float:
            config[name] = draw(st.sampled_from([v for v in OBJECT_FLOATS if within(v, bounds)]))
        elif kind is int:
            lo, hi = max(OBJECT_INTS[0], bounds.get("ge", OBJECT_INTS[0])), min(OBJECT_INTS[1], bounds.get("le", OBJECT_INTS[1]))
            config[name] = draw(st.integers(int(lo), int(hi)))
    return config


@st.composite
def argument_object(draw, layer_type: str, field: str):
    choice = draw(st.sampled_from(object_choices(layer_type, field)))
    return draw(object_config(choice)) if isinstance(choice, type) else choice


def with_argument_objects(draw, layer: dict, percent: int = ARGUMENT_PERCENT) -> dict:
    """`layer` (changed in place) with, `percent`% of the time each, an object on each of its argument-object
    fields it does not set yet (see `argument_fields`), and the same for the layers it wraps."""
    classes = layer_classes()
    for value in list(layer.values()):
        for item in value if isinstance(value, list) else [value]:  # a wrapped layer, or a list of them (cells)
            if isinstance(item, dict) and item.get("type") in classes:
                with_argument_objects(draw, item, percent)
    for field in argument_fields(layer["type"]):
        if field not in layer and chance(draw, percent):
            layer[field] = draw(argument_object(layer["type"], field))
    return layer


def with_model_argument_objects(draw, model: dict) -> dict:
    """ARGUMENT_SPEC_PERCENT% of the time, every layer of the model (not the shared calls) through
    `with_argument_objects`: most specs keep Keras's defaults, so that most are accepted."""
    if not chance(draw, ARGUMENT_SPEC_PERCENT):
        return model
    for item in model.get("layers", model.get("nodes", [])):
        if "type" in item:
            with_argument_objects(draw, item)
    return model


def has_argument_object(value) -> bool:
    if isinstance(value, dict):
        return any(isinstance(k, str) and ARGUMENT_FIELD.search(k) for k in value) or any(
            has_argument_object(v) for v in value.values()
        )
    if isinstance(value, list):
        return any(has_argument_object(v) for v in value)
    return False


@st.composite
def embedding_layer(draw, input_dims: tuple[int, int], output_dims: tuple[int, int]) -> dict:
    """An Embedding; now and then one of a vocabulary of one, whose single row an OrthogonalRegularizer
    (mode rows) cannot compare with another (a NaN penalty: refused). Only with it: the property tests feed
    token ids in [0, 5), which a vocabulary below 5 does not cover, so an accepted one would fail for that."""
    kind = "ReversibleEmbedding" if chance(draw, 15) else "Embedding"
    emb = {"type": kind, "input_dim": draw(st.integers(*input_dims)), "output_dim": draw(st.integers(*output_dims))}
    if kind == "ReversibleEmbedding" and chance(draw, 30):
        emb["tie_weights"] = False
    if chance(draw, 4):
        emb["input_dim"] = 1
        emb["embeddings_regularizer"] = {"type": "OrthogonalRegularizer"}
        if chance(draw, 50):
            emb["embeddings_regularizer"]["factor"] = draw(st.sampled_from([0.0, 0.01, 1.0]))
    return emb


# ---- outputs behind layers that pass values on ---------------------------------------------------

#: Layers of image or volume rank put between a Reshape (to (1, 1, u) or (1, 1, 1, u)) and a Flatten after a head:
#: they pass its values on too, whether kspec's output checks look through them (`Layer.passes_values`: the
#: pooling layers) or not.
SPATIAL_ENDS = ["UpSampling", "MaxPooling", "ZeroPadding", "AveragePooling", "SpatialDropout", "Cropping",
                "GlobalAveragePooling", "GlobalMaxPooling"]


@functools.cache
def image_ends() -> tuple[str, ...]:
    """The SPATIAL_ENDS of 2 and 3 dimensions that kspec has."""
    return tuple(t for d in (2, 3) for kind in SPATIAL_ENDS if (t := f"{kind}{d}D") in layer_classes())


@functools.cache
def pass_through_types() -> frozenset[str]:
    """Layers that end an output after its head: the ones kspec's output checks look through
    (`Layer.passes_values`), and the `image_ends`."""
    return frozenset({t for t, cls in layer_classes().items() if cls.passes_values} | set(image_ends()))


VECTOR_ENDS = ["Flatten", "Dropout", "Identity", "GaussianNoise", "RepeatVector", "RepeatVector", "GaussianDropout",
               "Reshape", "Image"]
STEP_ENDS = ["Flatten", "GlobalAveragePooling1D", "Dropout", "Identity", "GaussianNoise", "GlobalMaxPooling1D",
             "MaxPooling1D", "AveragePooling1D", "UpSampling1D", "GaussianDropout", "SpatialDropout1D", "ZeroPadding1D",
             "Cropping1D", "Masking", "Permute", "Reshape"]


def _product(*dims):
    return None if None in dims else int(np.prod(dims))


@st.composite
def pass_through_end(draw, shape: tuple) -> tuple[list[dict], tuple]:
    """1-2 layers after a head's output of tracked shape (u,) or (T, u) that pass its values on: Flatten,
    Dropout, Identity, noise, a RepeatVector and then a pooling, up-sampling, padding, cropping, masking or
    permuting layer, a Reshape, a layer of image or volume rank (`image_ends`) between Reshape and Flatten. Returns the
    layers and the tracked shape."""
    layers: list[dict] = []
    for _ in range(2 if chance(draw, 20) else 1):
        more, shape = _one_end(draw, shape)
        layers.extend(more)
    return layers, shape


def _one_end(draw, shape: tuple) -> tuple[list[dict], tuple]:
    if len(shape) == 1:
        (u,) = shape
        t = draw(st.sampled_from(VECTOR_ENDS))
        if t == "RepeatVector":
            n = draw(st.integers(1, 3))
            more, out = _one_end(draw, (n, u))
            return [{"type": t, "n": n}] + more, out
        if t == "Reshape":
            return [{"type": t, "target_shape": [1, -1]}], (1, u)
        if t == "Image":  # (1, 1, u) or (1, 1, 1, u) through a layer of image or volume rank, back to a vector
            t = draw(st.sampled_from(image_ends()))
            d = int(t[-2])
            layer = {"type": t}
            n = 1  # the length of each spatial axis after the layer
            if t.startswith("UpSampling"):
                n = draw(st.integers(1, 2))
                layer["size"] = n
            elif t.startswith("ZeroPadding"):
                layer["padding"] = draw(st.integers(0, 1))
                n = 1 + 2 * layer["padding"]
            elif t.startswith("Cropping"):
                layer["cropping"] = 0
            elif t.startswith("SpatialDropout"):
                layer["rate"] = draw(st.sampled_from([0.5, 0.0]))
            elif t.startswith(("MaxPooling", "AveragePooling")):
                layer["pool_size"] = 1
            reshape = {"type": "Reshape", "target_shape": [1] * d + [-1]}
            if t.startswith("Global"):
                return [reshape, layer], (u,)
            return [reshape, layer, {"type": "Flatten"}], (_product(n**d, u),)
    else:
        T, u = shape
        t = draw(st.sampled_from(STEP_ENDS))
        if t == "Flatten" or t == "Reshape":
            return [{"type": t, **({"target_shape": [-1]} if t == "Reshape" else {})}], (_product(T, u),)
        if t in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
            return [{"type": t}], (u,)
        if t in ("MaxPooling1D", "AveragePooling1D"):
            p = fitting_window(draw, T, hi=3, edge=0)
            return [{"type": t, "pool_size": p}], (conv_length(T, p, p, "valid"), u)
        if t == "UpSampling1D":
            size = draw(st.integers(1, 2))
            return [{"type": t, "size": size}], (T and T * size, u)
        if t == "ZeroPadding1D":
            a = draw(st.integers(0, 2))
            return [{"type": t, "padding": a}], (T and T + 2 * a, u)
        if t == "Cropping1D":
            hi = 0 if T is None else max(0, (T - 1) // 2)
            a, b = draw(st.integers(0, hi)), draw(st.integers(0, hi))
            return [{"type": t, "cropping": [a, b]}], (T and T - a - b, u)
        if t == "Permute":
            return [{"type": t, "dims": [2, 1]}], (u, T)
        if t == "SpatialDropout1D":
            return [{"type": t, "rate": draw(st.sampled_from([0.0, 0.5]))}], shape
        if t == "Masking":
            return [{"type": t}], shape
    layer: dict[str, Any] = {"type": t}
    if t in ("Dropout", "GaussianDropout"):
        layer["rate"] = draw(st.sampled_from([0.5, 0.0, 0.9] if t == "Dropout" else [0.2, 0.5]))
    if t == "GaussianNoise":
        layer["stddev"] = draw(st.sampled_from([0.1, 1.0]))
    return [layer], shape


# ---- the training section -----------------------------------------------------------------------

#: Every optimizer class that updates weights itself (the wrappers: OPTIMIZER_WRAPPERS).
OPTIMIZER_CLASSES = list(OPTIMIZER_TYPES)
OPTIMIZER_WRAPPERS = ["LossScaleOptimizer", "MultiOptimizer"]
SCHEDULES = ["ExponentialDecay", "InverseTimeDecay", "PolynomialDecay", "PiecewiseConstantDecay", "CosineDecay",
             "CosineDecayRestarts"]
#: Every metric class.
METRIC_CLASSES = list(METRIC_TYPES)


@st.composite
def learning_rates(draw):
    """A learning rate: a number, or one of every schedule."""
    lr = draw(st.sampled_from([0.01, 0.001, 0.1, 1e-5]))
    if not chance(draw, 40):
        return lr
    kind = draw(st.sampled_from(SCHEDULES))
    if kind == "PiecewiseConstantDecay":
        n = draw(st.integers(1, 3))
        return {"type": kind, "boundaries": list(range(1, 2 * n, 2)), "values": [lr / 2**i for i in range(n + 1)]}
    if kind == "CosineDecayRestarts":
        return {"type": kind, "initial_learning_rate": lr, "first_decay_steps": draw(st.integers(1, 100))}
    schedule: dict[str, Any] = {"type": kind, "initial_learning_rate": lr, "decay_steps": draw(st.integers(1, 1000))}
    if kind in ("ExponentialDecay", "InverseTimeDecay"):
        schedule["decay_rate"] = draw(st.sampled_from([0.9, 0.5]))
        if chance(draw, 30):
            schedule["staircase"] = True
    if kind == "PolynomialDecay" and chance(draw, 40):
        schedule.update(end_learning_rate=lr / 10, power=2.0, cycle=draw(st.booleans()))
    if kind == "CosineDecay" and chance(draw, 40):
        schedule.update(alpha=0.1, warmup_target=lr * 2, warmup_steps=draw(st.integers(0, 10)))
    return schedule


@st.composite
def optimizers(draw, layers: tuple[str, ...] = (), inner: bool = False):
    """An optimizer by name (with Keras's defaults), or a configuration of any class with its learning rate
    (or schedule) and now and then clipping, weight decay, EMA or gradient accumulation; now and then a
    wrapper: a LossScaleOptimizer around one, or (given the names of layers with weights) a MultiOptimizer
    with an optimizer for some of them."""
    wrapper = None if inner else draw(st.sampled_from([None] * 16 + OPTIMIZER_WRAPPERS))
    if wrapper == "LossScaleOptimizer":
        config: dict[str, Any] = {"type": wrapper, "inner_optimizer": draw(optimizers(layers, inner=True))}
        if chance(draw, 40):
            config.update(initial_scale=draw(st.sampled_from([1.0, 2.0**20])), dynamic_growth_steps=draw(st.integers(1, 3)))
        return config
    if wrapper == "MultiOptimizer" and layers:
        mapped = draw(st.lists(st.sampled_from(layers), min_size=1, max_size=2, unique=True))
        config = {"type": wrapper, "default_optimizer": draw(optimizers(layers, inner=True)),
                  "optimizer_map": {name: draw(optimizers(layers, inner=True)) for name in mapped}}
        if chance(draw, 20):
            config["loss_scale_factor"] = 4.0
        return config
    return draw(_plain_optimizers(layers))


@st.composite
def _plain_optimizers(draw, layers: tuple[str, ...]):
    if not chance(draw, 50):
        return pick(draw, OPTIMIZER_NAMES)
    config: dict[str, Any] = {"type": pick(draw, OPTIMIZER_CLASSES)}
    if chance(draw, 70):
        config["learning_rate"] = draw(learning_rates())
    if chance(draw, 20):
        config[draw(st.sampled_from(["clipnorm", "clipvalue", "global_clipnorm"]))] = draw(st.sampled_from([0.5, 1.0]))
    if chance(draw, 10):
        config["weight_decay"] = 0.01
    if chance(draw, 10):
        config["use_ema"] = True
        if chance(draw, 30):
            config["ema_overwrite_frequency"] = 1
    if chance(draw, 10):
        config["gradient_accumulation_steps"] = draw(st.integers(2, 3))
    if chance(draw, 5):
        config["loss_scale_factor"] = draw(st.sampled_from([0.5, 128.0]))
    kind = config["type"]
    if kind == "SGD" and chance(draw, 40):
        config.update(momentum=0.9, nesterov=draw(st.booleans()))
    if kind in ("Adam", "AdamW") and chance(draw, 20):
        config["amsgrad"] = True
    if kind == "RMSprop" and chance(draw, 20):
        config.update(centered=True, momentum=0.5)
    if kind == "Ftrl" and chance(draw, 30):
        config.update(l1_regularization_strength=0.01, l2_regularization_strength=0.01, beta=0.1)
    if kind == "Adafactor" and chance(draw, 30):
        config.update(relative_step=False, beta_2_decay=-0.5)
    if kind == "ScheduleFreeAdamW" and chance(draw, 30):
        config["warmup_steps"] = draw(st.integers(1, 5))
    if kind == "Muon" and chance(draw, 40):
        config.update(nesterov=draw(st.booleans()), ns_steps=draw(st.integers(0, 6)),
                      rms_rate=draw(st.sampled_from([None, 0.2])), exclude_embeddings=draw(st.booleans()))
        if layers and chance(draw, 50):
            config["exclude_layers"] = draw(st.lists(st.sampled_from(layers), min_size=1, max_size=2, unique=True))
    if chance(draw, 40):
        _arguments_at_bounds(draw, config)
    return config


#: How far from a bound "next to it" is: an inclusive bound is drawn as is, or NEAR inside (0.999999 for
#: momentum <= 1); an exclusive one TINY inside where it is 0 (an epsilon, a clip norm), NEAR inside otherwise
#: (0.999999 for beta < 1).
NEAR, TINY = 1e-6, 1e-10


def _next_to(bounds: dict[str, float]) -> list[float]:
    out = []
    if "ge" in bounds:
        out += [bounds["ge"], bounds["ge"] + NEAR]
    if "gt" in bounds:
        out += [bounds["gt"] + (TINY if bounds["gt"] == 0 else NEAR)]
    if "le" in bounds:
        out += [bounds["le"], bounds["le"] - NEAR]
    if "lt" in bounds:
        out += [bounds["lt"] - NEAR]
    return out


def _parses(cls, field: str, value: float) -> bool:
    try:
        cls.model_validate({"type": object_type_name(cls), field: value})
    except Exception:  # noqa: BLE001 - out of the schema, or refused by a policy as it is parsed (Lion beta_1 = 1)
        return False
    return True


@functools.cache
def optimizer_bounds() -> dict[str, dict[str, tuple[float, ...]]]:
    """For each optimizer class, each float argument (the learning rate aside: `learning_rates`) with the values
    at or next to its bounds (`_next_to`, from the schema's own bounds) that kspec parses: the ones a policy
    refuses as it parses (Lion's beta_1 of 1) would never reach inference, where the properties judge a spec."""
    out: dict[str, dict[str, tuple[float, ...]]] = {}
    for name in OPTIMIZER_CLASSES:
        cls = OPTIMIZER_TYPES[name]
        fields = {}
        for field, info in cls.model_fields.items():
            kind, bounds = numeric_bounds(info)
            if field == "learning_rate" or kind is not float:
                continue
            values = tuple(float(v) for v in dict.fromkeys(_next_to(bounds)) if _parses(cls, field, v))
            if values:
                fields[field] = values
        out[name] = fields
    return out


CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")


def _arguments_at_bounds(draw, config: dict) -> None:
    """Some of the optimizer's float arguments (at least one) at or next to their bounds (`optimizer_bounds`);
    an EMA momentum mostly with `use_ema`; never a second clip (the schema allows one)."""
    table = optimizer_bounds()[config["type"]]
    fields = sorted(table)
    clips = [f for f in fields if f in CLIPS]
    chosen = [f for f in fields if f not in CLIPS and chance(draw, 20)]
    clip = draw(st.sampled_from([*clips, None])) if clips else None  # one clip at most, each about as often
    chosen += [clip] if clip else []
    for field in chosen or [draw(st.sampled_from(fields))]:
        if field in CLIPS and any(config.get(c) is not None for c in CLIPS):
            continue
        config[field] = draw(st.sampled_from(table[field]))
        if field == "ema_momentum" and not chance(draw, 20):
            config["use_ema"] = True


def optimizer_at_bound(optimizer) -> bool:
    """Whether an optimizer configuration has an argument at or next to its bound (`optimizer_bounds`)."""
    if not isinstance(optimizer, dict):
        return False
    table = optimizer_bounds().get(optimizer.get("type"), {})
    return any(optimizer.get(field) in values for field, values in table.items())


#: Metrics that take integer class ids as labels (the others take labels of the output's shape), under every
#: name and class; IoU and MeanIoU by default (`sparse_y_true`).
SPARSE_METRICS = {"sparse_categorical_accuracy", "sparse_top_k_categorical_accuracy", "sparse_categorical_crossentropy",
                  "SparseCategoricalAccuracy", "SparseTopKCategoricalAccuracy", "SparseCategoricalCrossentropy",
                  "IoU", "MeanIoU"}
#: Keras's accuracy that fits the loss, under every spelling.
ANY_ACCURACY = {"accuracy", "acc", "ACC", "Accuracy"}
#: The label kinds that a metric reads: class ids, or labels of the output's shape. (The label sequences of CTC
#: and Circle's group ids are read by no metric.)
METRIC_KINDS = {"sparse", "one_hot", "binary", "regression"}


def _fits(metric: str, kind: str | None, sparse: bool | None = None) -> bool:
    """Whether the metric fits labels of this loss kind (None: any kind; "mixed": outputs of several kinds, all read
    by metrics; "unread": one of them is read by none); `sparse` overrides whether the metric reads class ids."""
    if kind is None:
        return True
    if kind == "mixed":
        return metric in ANY_ACCURACY
    if kind not in METRIC_KINDS:
        return False
    if metric in ANY_ACCURACY:
        return True
    return (metric in SPARSE_METRICS if sparse is None else sparse) == (kind == "sparse")


@st.composite
def metric_config(draw, kind: str) -> dict:
    """A `{type: kind, ...}` metric with some of its arguments drawn (the required ones always)."""
    metric: dict[str, Any] = {"type": kind}
    if "TopK" in kind:
        metric["k"] = draw(st.integers(1, 5))
    if kind == "AUC":
        if chance(draw, 40):
            metric["curve"] = "PR"
        if chance(draw, 20):
            metric["summation_method"] = draw(st.sampled_from(["minoring", "majoring"]))
        if chance(draw, 20):
            metric["thresholds"] = [0.25, 0.5, 0.75]
        if chance(draw, 20):
            metric["multi_label"] = True
        if chance(draw, 15):
            metric["from_logits"] = True
    if kind in ("Precision", "Recall") and chance(draw, 40):
        choice = draw(st.sampled_from(["thresholds", "thresholds list", "top_k", "class_id"]))
        if choice == "thresholds":
            metric["thresholds"] = 0.3
        elif choice == "thresholds list":
            metric["thresholds"] = [0.2, 0.7]
        elif choice == "top_k":
            metric["top_k"] = draw(st.integers(1, 3))
        else:
            metric["class_id"] = draw(st.integers(0, 2))
    if kind in ("TruePositives", "TrueNegatives", "FalsePositives", "FalseNegatives") and chance(draw, 30):
        metric["thresholds"] = draw(st.sampled_from([0.3, [0.1, 0.9]]))
    at = {"PrecisionAtRecall": "recall", "RecallAtPrecision": "precision", "SensitivityAtSpecificity": "specificity",
          "SpecificityAtSensitivity": "sensitivity"}
    if kind in at:
        metric[at[kind]] = draw(st.sampled_from([0.5, 0.0, 1.0, 0.8]))
        if chance(draw, 30):
            metric["num_thresholds"] = draw(st.sampled_from([1, 50]))
        if chance(draw, 20):
            metric["class_id"] = draw(st.integers(0, 2))
    if kind in ("F1Score", "FBetaScore") and chance(draw, 50):
        metric["average"] = draw(st.sampled_from([None, "micro", "macro", "weighted"]))
        if chance(draw, 50):
            metric["threshold"] = draw(st.sampled_from([0.5, 1.0]))
        if kind == "FBetaScore":
            metric["beta"] = draw(st.sampled_from([0.5, 2.0]))
    if kind == "R2Score" and chance(draw, 40):
        metric["class_aggregation"] = draw(st.sampled_from([None, "variance_weighted_average"]))
        if chance(draw, 20):
            metric["num_regressors"] = 1
    if kind in ("IoU", "MeanIoU", "OneHotIoU", "OneHotMeanIoU"):
        metric["num_classes"] = draw(st.integers(2, 6))
        if "Mean" not in kind:
            metric["target_class_ids"] = sorted({0, draw(st.integers(0, metric["num_classes"] - 1))})
        if kind in ("IoU", "MeanIoU"):  # class scores, as a classifier's output; ids now and then (refused mostly)
            metric["sparse_y_pred"] = chance(draw, 10)
            if chance(draw, 20):
                metric["sparse_y_true"] = False
        elif chance(draw, 10):
            metric["sparse_y_pred"] = True
        if chance(draw, 20):
            metric["ignore_class"] = draw(st.sampled_from([0, -1]))
    if kind == "BinaryIoU" and chance(draw, 40):
        metric.update(target_class_ids=draw(st.sampled_from([[1], [0], [0, 1]])), threshold=draw(st.sampled_from([0.0, 0.3])))
    if kind == "BinaryAccuracy" and chance(draw, 30):
        metric["threshold"] = draw(st.sampled_from([0.0, 0.7]))
    if kind in ("BinaryCrossentropy", "CategoricalCrossentropy", "SparseCategoricalCrossentropy") and chance(draw, 30):
        metric["from_logits"] = True
        if kind != "SparseCategoricalCrossentropy" and chance(draw, 50):
            metric["label_smoothing"] = 0.1
    if kind == "SparseCategoricalCrossentropy" and chance(draw, 15):
        metric["ignore_class"] = 0
    return metric


@st.composite
def metric_values(draw, kind: str | None = None):
    """0-5 metrics: names, and now and then a configured one; mostly ones that fit the labels of a loss of
    this kind (sparse or not), now and then any (which kspec refuses by its metric-labels policy)."""
    out: list[Any] = []
    any_metric = chance(draw, 10)
    names = [m for m in METRIC_NAMES if any_metric or _fits(m, kind)]
    # IoU and MeanIoU read class ids by default, labels of the output's shape with sparse_y_true: false
    either = ["IoU", "MeanIoU"] if kind in METRIC_KINDS - {"sparse"} else []
    classes = [m for m in METRIC_CLASSES if any_metric or _fits(m, kind)] + either
    for _ in range(pick(draw, range(6))):
        if classes and pick(draw, range(100)) < 40:
            metric = draw(metric_config(pick(draw, classes)))
            if metric["type"] in either and not any_metric:
                metric["sparse_y_true"] = False
            out.append(metric)
        elif names:
            out.append(pick(draw, names))
    return out


def _kind(loss) -> str:
    return loss_kind(loss) if isinstance(loss, str) else LOSS_CLASS_KIND[loss["type"]]


def per_output(loss) -> bool:
    """Whether `loss` is a mapping output -> loss (not one loss's `{type: ...}` configuration)."""
    return isinstance(loss, dict) and "type" not in loss


@st.composite
def training_section(draw, loss, layers: tuple[str, ...] = ()):
    """A training section for `loss` (one loss, or a mapping output -> loss): an optimizer (for the layers with
    these names now and then), metrics (per output now and then), loss weights for several outputs, a seed."""
    training: dict[str, Any] = {"optimizer": draw(optimizers(layers)), "loss": loss}
    if chance(draw, 80):
        if per_output(loss) and chance(draw, 50):
            training["metrics"] = {name: draw(metric_values(_kind(one))) for name, one in loss.items()}
        else:  # one list for every output
            kinds = {_kind(one) for one in (loss.values() if per_output(loss) else [loss])}
            mixed = "mixed" if kinds <= METRIC_KINDS else "unread"
            training["metrics"] = draw(metric_values(kinds.pop() if len(kinds) == 1 else mixed))
    if per_output(loss) and len(loss) > 1 and chance(draw, 30):
        training["loss_weights"] = {name: draw(st.sampled_from([1.0, 0.5, 2.0, 0.0])) for name in loss}
    if chance(draw, 20):
        training["seed"] = draw(st.integers(0, 2**31 - 1))
    return training


@st.composite
def with_training(draw, name: str, model: dict, loss) -> dict:
    """The spec: the model, its layers now and then with argument objects (`with_model_argument_objects`),
    and a training section for the loss."""
    model = with_model_argument_objects(draw, model)
    model, layers = _named_weighted_layers(draw, model)
    return {"kspec": 1, "name": name, "model": model, "training": draw(training_section(loss, layers))}


#: Layer types with trainable weights whatever their arguments (an optimizer may name them).
WEIGHTED_TYPES = frozenset({"Dense", "EinsumDense", "Conv1D", "Conv2D", "Conv3D", "LSTM", "GRU", "SimpleRNN", "Embedding"})


def _named_weighted_layers(draw, model: dict) -> tuple[dict, tuple[str, ...]]:
    """The names of layers with trainable weights that an optimizer may name: a graph's named nodes of such
    types; in a sequential model, one such layer that gets a name (the model is copied)."""
    if "nodes" in model:
        return model, tuple(n["name"] for n in model["nodes"] if n.get("type") in WEIGHTED_TYPES and "name" in n
                            and n.get("trainable", True))
    candidates = [i for i, layer in enumerate(model.get("layers", [])) if layer.get("type") in WEIGHTED_TYPES
                  and layer.get("trainable", True)]
    if not candidates or not chance(draw, 20):
        return model, ()
    i = draw(st.sampled_from(candidates))
    layers = list(model["layers"])
    layers[i] = {**layers[i], "name": layers[i].get("name", "tuned")}
    return {**model, "layers": layers}, (layers[i]["name"],)


@st.composite
def image_specs(draw):
    h, w, c = draw(st.integers(4, 32)), draw(st.integers(4, 32)), draw(st.integers(1, 4))
    model_input: dict[str, Any] = {"shape": [h, w, c]}
    if chance(draw, 12):
        model_input["dtype"] = draw(st.sampled_from(["float64", "uint8", "int32"]))
    layers = []
    shape: tuple = (h, w, c)
    for _ in range(draw(st.integers(1, 5))):
        layer, shape = draw(image_layer(shape))
        layers.extend(layer if isinstance(layer, list) else [layer])
    layers.append({"type": draw(st.sampled_from(["GlobalAveragePooling2D", "GlobalMaxPooling2D", "Flatten"]))})
    if chance(draw, 30):
        layers.append({"type": "Dense", "units": draw(st.integers(2, 16)), "activation": "relu"})
    ends = chance(draw, PASS_THROUGH_PERCENT)  # the output behind layers that pass the head's values on
    head, loss = draw(dense_head(ALL_LOSSES if ends else CLASSIFICATION_LOSSES))
    layers.append(head)
    if normalised(draw, loss):
        layers.append({"type": "UnitNormalization"})
    if ends:
        layers.extend(draw(pass_through_end((head["units"],)))[0])
    return draw(with_training("image_model", {"input": model_input, "layers": layers}, loss))


# ---- sequence models --------------------------------------------------------------------------


@st.composite
def recurrent_layer(draw, *, backwards_ok: bool = True):
    kind = draw(st.sampled_from(["LSTM", "GRU", "SimpleRNN"]))
    layer: dict[str, Any] = {"type": kind, "units": draw(st.integers(1, 8))}
    if draw(st.booleans()):
        layer["return_sequences"] = True
    if backwards_ok and chance(draw, 10):
        layer["go_backwards"] = True
    if chance(draw, 15):
        layer["dropout"] = 0.2
    if chance(draw, 10):
        layer["recurrent_dropout"] = 0.2
    if chance(draw, 15):
        layer["use_bias"] = False
    if chance(draw, 10):
        layer["unroll"] = True
    if kind == "GRU" and chance(draw, 20):
        layer["reset_after"] = False
    return layer


SEQ3_TYPES = (
    ["RNN"] * 4 + ["Bidirectional"] * 2 + ["Conv1D"] * 2 + ["MultiHeadAttention"] * 2 + ["SeparableConv1D", "DepthwiseConv1D"]
    + ["MaxPooling1D", "AveragePooling1D", "TimeDistributed", "Dense", "LayerNormalization", "Dropout",
       "SpatialDropout1D", "GlobalAveragePooling1D", "GlobalMaxPooling1D", "ZeroPadding1D", "Cropping1D",
       "UpSampling1D", "Masking", "Conv1DTranspose", "Reshape", "GaussianNoise", "UnitNormalization", "Softmax",
       "PReLU", "BatchNormalization"] + ["Extra"] * 12
)
SEQ2_TYPES = ["Dense", "Dense", "Dropout", "RepeatVector", "RepeatVector", "LayerNormalization", "BatchNormalization",
              "Activation", "Reshape", "GaussianDropout", "PReLU"] + ["Extra"] * 6


@st.composite
def sequence_layer(draw, shape):
    """One layer for a tracked (T, F) or (F,) input; returns (layer, tracked output, number of inputs)."""
    rank = len(shape)
    types = SEQ3_TYPES if rank == 2 else SEQ2_TYPES
    if chance(draw, 12):
        types = SEQ2_TYPES if rank == 2 else SEQ3_TYPES  # a layer for the other rank: mostly refused
    t = draw(st.sampled_from(types))
    T = shape[0] if rank == 2 else None
    F = shape[-1]
    if t == "Extra":  # a run of layers of a family drawn by tests/draws/ (a list: each takes one input)
        return draw(extra_run(shape, calls=True))
    if t == "RNN":
        layer = draw(recurrent_layer())
        u = layer["units"]
        return layer, ((T, u) if layer.get("return_sequences") else (u,)), 1
    if t == "Bidirectional":
        inner = draw(recurrent_layer(backwards_ok=False))
        layer = {"type": "Bidirectional", "layer": inner}
        mode = draw(st.sampled_from(["concat", "concat", "sum", "mul", "ave"]))
        if mode != "concat" or chance(draw, 20):
            layer["merge_mode"] = mode
        if chance(draw, 10):
            back = {**draw(recurrent_layer()), "go_backwards": True}
            if not chance(draw, 30):
                back["units"] = inner["units"]
                back["return_sequences"] = inner.get("return_sequences", False)
            layer["backward_layer"] = back
        u = inner["units"] * (2 if mode == "concat" else 1)
        return layer, ((T, u) if inner.get("return_sequences") else (u,)), 1
    if t in ("Conv1D", "SeparableConv1D", "DepthwiseConv1D"):
        padding = draw(st.sampled_from(["valid", "same", "causal"] if t == "Conv1D" else ["valid", "same"]))
        d = 2 if chance(draw, 20) else 1
        k = draw(st.integers(1, 5)) if padding != "valid" else fitting_window(draw, T, d)
        s = 2 if chance(draw, 25) and (d == 1 or chance(draw, 30)) else 1
        layer = {"type": t, "kernel_size": k, "padding": padding}
        if t != "DepthwiseConv1D":
            layer["filters"] = draw(st.integers(1, 8))
        elif chance(draw, 40):
            layer["depth_multiplier"] = draw(st.integers(1, 3))
        if s > 1:
            layer["strides"] = s
        if d > 1:
            layer["dilation_rate"] = d
        if chance(draw, 40):
            layer["activation"] = draw(st.sampled_from(ACTIVATIONS))
        channels = layer.get("filters", F and F * layer.get("depth_multiplier", 1))
        return layer, (conv_length(T, k, s, "valid" if padding == "valid" else "same", d), channels), 1
    if t in ("MaxPooling1D", "AveragePooling1D"):
        padding = draw(st.sampled_from(["valid", "same"]))
        p = fitting_window(draw, T, hi=3) if padding == "valid" else draw(st.integers(1, 3))
        layer = {"type": t, "pool_size": p, "padding": padding}
        s = p
        if chance(draw, 30):
            s = layer["strides"] = draw(st.integers(1, 2))
        return layer, (conv_length(T, p, s, padding), F), 1
    if t == "TimeDistributed":
        inner = draw(st.sampled_from(["Dense", "Dense", "Dropout", "LayerNormalization", "Activation"]))
        if inner != "Dense":
            args = {"Dropout": {"rate": 0.2}, "LayerNormalization": {}, "Activation": {"activation": "relu"}}[inner]
            return {"type": "TimeDistributed", "layer": {"type": inner, **args}}, shape, 1
        units = draw(st.integers(1, 6))
        return {"type": "TimeDistributed", "layer": {"type": "Dense", "units": units}}, shape[:-1] + (units,), 1
    if t == "Dense":
        units = draw(st.integers(1, 8))
        layer = {"type": "Dense", "units": units}
        if chance(draw, 50):
            layer["activation"] = draw(st.sampled_from(ACTIVATIONS))
        return layer, shape[:-1] + (units,), 1
    if t == "LayerNormalization":
        return {"type": t}, shape, 1
    if t == "BatchNormalization":
        return {"type": t}, shape, 1
    if t == "Activation":
        return {"type": t, "activation": draw(st.sampled_from(ACTIVATION_NAMES))}, shape, 1
    if t == "Conv1DTranspose":
        padding = draw(st.sampled_from(["valid", "same"]))
        k, s_ = draw(st.integers(1, 4)), draw(st.integers(1, 2))
        layer = {"type": t, "filters": draw(st.integers(1, 6)), "kernel_size": k, "padding": padding}
        if s_ > 1:
            layer["strides"] = s_
        length = None if T is None else (T * s_ + max(k - s_, 0) if padding == "valid" else T * s_)
        return layer, (length, layer["filters"]), 1
    if t == "Reshape":
        if rank == 1:  # (F,) -> (F, 1), or (1, F)
            target = draw(st.sampled_from([[F, 1], [1, -1]])) if F is not None else [-1, 1]
            return {"type": t, "target_shape": target}, (F, 1) if target[-1] == 1 else (1, F), 1
        if T is not None and F is not None and chance(draw, 50):
            return {"type": t, "target_shape": [F, T]}, (F, T), 1
        return {"type": t, "target_shape": [-1]}, (None if T is None or F is None else T * F,), 1
    if t == "GaussianNoise":
        return {"type": t, "stddev": 0.1}, shape, 1
    if t == "GaussianDropout":
        return {"type": t, "rate": 0.2}, shape, 1
    if t in ("UnitNormalization", "Softmax"):
        return ({"type": t, "axis": 1} if chance(draw, 25) else {"type": t}), shape, 1
    if t == "Dropout":
        return {"type": t, "rate": draw(st.sampled_from([0.0, 0.2, 0.5]))}, shape, 1
    if t == "SpatialDropout1D":
        return {"type": t, "rate": draw(st.sampled_from([0.0, 0.3]))}, shape, 1
    if t in ("GlobalAveragePooling1D", "GlobalMaxPooling1D"):
        return {"type": t}, (F,), 1
    if t == "ZeroPadding1D":
        a = draw(st.integers(0, 2))
        return {"type": t, "padding": a}, (T and T + 2 * a, F), 1
    if t == "Cropping1D":
        hi = 2 if T is None else max(0, min(2, (T - 1) // 2))
        a, b = draw(st.integers(0, hi)), draw(st.integers(0, hi))
        if T is not None and chance(draw, 15):  # at the edge: one step left, or none
            a = draw(st.integers(0, T))
            b = max(0, T - 1 - a + draw(st.integers(0, 1)))
        return {"type": t, "cropping": [a, b]}, (None if T is None or T - a - b <= 0 else T - a - b, F), 1
    if t == "UpSampling1D":
        size = draw(st.integers(1, 2))
        return {"type": t, "size": size}, (T and T * size, F), 1
    if t == "Masking":
        return {"type": t}, shape, 1
    if t == "PReLU":  # its alpha has the input's shape (a rank-1 or rank-2 weight), but along shared_axes
        layer = {"type": t}
        if chance(draw, 40):
            layer["shared_axes"] = draw(st.sampled_from([[1], [1, 2], [2]] if rank == 2 else [[1]]))
        return layer, shape, 1
    if t == "RepeatVector":
        n = draw(st.integers(1, 4))
        return {"type": t, "n": n}, (n, F), 1
    assert t == "MultiHeadAttention"
    layer = {"type": t, "num_heads": draw(st.integers(1, 3)), "key_dim": draw(st.integers(1, 4))}
    if chance(draw, 20):
        layer["value_dim"] = draw(st.integers(1, 4))
    if chance(draw, 20):
        layer["output_shape"] = draw(st.integers(1, 5))
    if chance(draw, 15):
        layer["dropout"] = 0.1
    if chance(draw, 15):
        layer["use_bias"] = False
    out = shape[:-1] + (layer.get("output_shape", F),)
    return layer, out, draw(st.sampled_from([2, 2, 3]))  # self-attention: [x, x] or [x, x, x]


@st.composite
def sequence_specs(draw):
    T = None if chance(draw, 15) else draw(st.integers(1, 12))
    layers: list[tuple[dict, int]] = []
    if draw(st.booleans()):
        dtype = draw(st.sampled_from(["int32", "int32", "int64", "uint8"])) if not chance(draw, 5) else "float32"
        model_input: dict[str, Any] = {"shape": [T], "dtype": dtype}
        shape: tuple = (T,)
        if not chance(draw, 10):  # without Embedding: integer tokens go straight into the next layer
            emb = draw(embedding_layer((5, 50), (1, 8)))
            if chance(draw, 50):
                emb["mask_zero"] = True
            layers.append((emb, 1))
            shape = (T, emb["output_dim"])
    else:
        F = draw(st.integers(1, 6))
        model_input = {"shape": [T, F]}
        shape = (T, F)
    for _ in range(draw(st.integers(1, 4))):
        drawn = draw(sequence_layer(shape))
        if drawn is None:  # no family drawer fits this shape
            continue
        layer, shape, n_inputs = drawn
        if isinstance(layer, list):  # a run of a family drawer: its last layer takes the tensor n_inputs times
            layers.extend([(one, 1) for one in layer[:-1]] + [(layer[-1], n_inputs)])
        else:
            layers.append((layer, n_inputs))
    ends = chance(draw, PASS_THROUGH_PERCENT)  # the output behind layers that pass the head's values on
    if len(shape) == 2 and chance(draw, 30):
        head, loss = draw(dense_head(ALL_LOSSES if ends else CLASSIFICATION_LOSSES))  # one prediction per step
        units = head["units"]
        if chance(draw, 30):
            head = {"type": "TimeDistributed", "layer": head}
        layers.append((head, 1))
        out: tuple = (shape[0], units)
    else:
        if len(shape) == 2:
            reduce = draw(st.sampled_from(["GlobalAveragePooling1D", "GlobalMaxPooling1D", "Flatten", "LSTM", "GRU"]))
            layers.append(({"type": reduce, "units": draw(st.integers(1, 6))} if reduce in ("LSTM", "GRU") else {"type": reduce}, 1))
        head, loss = draw(dense_head(ALL_LOSSES if ends else CLASSIFICATION_LOSSES + ["binary_crossentropy"]))
        layers.append((head, 1))
        if normalised(draw, loss):
            layers.append(({"type": "UnitNormalization"}, 1))
        out = (head["units"],)
    if ends:
        layers.extend((layer, 1) for layer in draw(pass_through_end(out))[0])

    if all(n == 1 for _, n in layers) and not chance(draw, 25):
        return draw(with_training("sequence_model", {"input": model_input, "layers": [layer for layer, _ in layers]}, loss))
    # Graph form: a chain of named nodes (self-attention takes its input two or three times).
    nodes, previous = [], "tokens"
    for i, (layer, n) in enumerate(layers):
        nodes.append({**layer, "name": f"x{i}", "inputs": [previous] * n})
        previous = f"x{i}"
    model = {"inputs": [{"name": "tokens", **model_input}], "nodes": nodes, "outputs": [previous]}
    return draw(with_training("sequence_graph", model, {previous: loss} if chance(draw, 50) else loss))


# ---- graph models -----------------------------------------------------------------------------

ELEMENTWISE = ["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"]


class _Graph:
    """A graph spec under construction: inputs, nodes, tracked shapes (no batch axis; None if unknown)."""

    def __init__(self, draw):
        self.draw = draw
        self.inputs: list[dict] = []
        self.nodes: list[dict] = []
        self.shapes: dict[str, tuple | None] = {}
        self.uses: Counter = Counter()
        self.owners: dict[str, tuple | None] = {}  # shareable node -> tracked shape of its first input

    def add_input(self, shape: tuple, dtype: str = "float32") -> str:
        name = f"in{len(self.inputs)}"
        self.inputs.append({"name": name, "shape": list(shape), **({} if dtype == "float32" else {"dtype": dtype})})
        self.shapes[name] = shape
        return name

    def add(self, layer: dict, inputs: list[str], shape: tuple | None, *, shareable: bool = False) -> str:
        name = f"n{len(self.nodes)}"
        self.nodes.append({**layer, "name": name, "inputs": inputs})
        self.shapes[name] = shape
        self.uses.update(inputs)
        if shareable:
            self.owners[name] = self.shapes[inputs[0]]
        return name

    def share(self, owner: str, x: str, shape: tuple | None) -> str:
        """A shared call `{name, shares: owner, inputs: x}`; returns its name."""
        name = f"n{len(self.nodes)}"
        self.nodes.append({"name": name, "shares": owner, "inputs": x})
        self.shapes[name] = shape
        self.uses.update([x])
        return name

    def pick(self, ok=lambda s: True) -> str | None:
        """A tensor whose tracked shape satisfies `ok`, preferring unused ones; None if there is none."""
        names = [n for n, s in self.shapes.items() if s is not None and ok(s)]
        if not names:
            return None
        unused = [n for n in names if not self.uses[n]]
        pool = unused if unused and not chance(self.draw, 30) else names
        return self.draw(st.sampled_from(pool))

    def any(self) -> str:
        return self.draw(st.sampled_from(sorted(self.shapes)))


def _dense(g: _Graph, x: str) -> str:
    draw = g.draw
    units = draw(st.integers(1, 8))
    layer = {"type": "Dense", "units": units}
    if chance(draw, 50):
        layer["activation"] = draw(st.sampled_from(ACTIVATIONS))
    s = g.shapes[x]
    return g.add(layer, [x], None if s is None else s[:-1] + (units,), shareable=True)


def _partner(g: _Graph, a: str, compatible) -> str:
    """Another tensor to merge with `a`: one of a compatible shape, a Dense projection made compatible,
    `a` itself, or (sometimes) anything."""
    draw, sa = g.draw, g.shapes[a]
    if chance(draw, 20) or sa is None:
        return g.any()
    b = g.pick(lambda s: compatible(s, sa))
    if b is not None and b != a and not chance(draw, 25):
        return b
    b = g.pick(lambda s: len(s) == len(sa) and s[:-1] == sa[:-1])
    if b is not None and b != a and sa[-1] is not None:  # a Dense projection needs a known width
        return g.add({"type": "Dense", "units": sa[-1]}, [b], sa)
    return a


def _merge(g: _Graph) -> None:
    draw = g.draw
    kind = draw(st.sampled_from(ELEMENTWISE + ["Concatenate", "Concatenate", "Dot", "Dot"]))
    a = g.pick()
    sa = g.shapes[a]
    layer: dict[str, Any] = {"type": kind}
    if kind in ELEMENTWISE:
        n = 2 if kind == "Subtract" else draw(st.integers(2, 3))
        others = [_partner(g, a, lambda s, t: s == t) for _ in range(n - 1)]
        g.add(layer, [a] + others, sa)
        return
    if kind == "Concatenate":
        _concatenate(g, a)
        return
    # Dot: over the last axis (vectors, or the features of two sequences), or over the steps of two sequences.
    over_steps = sa is not None and len(sa) == 2 and chance(draw, 30)
    axis = 1 if over_steps else (len(sa) if sa is not None else 1)
    layer["axes"] = axis if not chance(draw, 30) else [axis, axis]
    if chance(draw, 15):
        layer["normalize"] = True
    b = _partner(g, a, lambda s, t: len(s) == len(t) and s[axis - 1] == t[axis - 1])
    sb = g.shapes[b]
    out = None
    if sa is not None and sb is not None and len(sa) == len(sb):
        out = tuple(d for i, d in enumerate(sa) if i != axis - 1) + tuple(d for i, d in enumerate(sb) if i != axis - 1)
        out = out if len(out) > 1 else (1,)
    g.add(layer, [a, b], out)


def concatenated_length(lengths: list[int | None]) -> int | None:
    """The length of the concatenation axis after a Concatenate: the sum of the inputs' lengths, None
    (unknown) if one of them is unknown, as Keras has it."""
    return None if None in lengths else sum(lengths)


def _concatenate(g: _Graph, a: str) -> str:
    """A Concatenate of `a` with one or two partners (usually along the last axis, sometimes along
    axis 1); returns the node's name."""
    draw, sa = g.draw, g.shapes[a]
    layer: dict[str, Any] = {"type": "Concatenate"}
    axis = -1 if sa is None or len(sa) == 1 or not chance(draw, 30) else 1
    if axis != -1:
        layer["axis"] = axis
    pos = len(sa) - 1 if axis == -1 else 0
    same_but_axis = lambda s, t: len(s) == len(t) and all(x == y for i, (x, y) in enumerate(zip(s, t)) if i != pos)  # noqa: E731
    others = [_partner(g, a, same_but_axis) for _ in range(draw(st.integers(1, 2)))]
    out = None
    if sa is not None and all(g.shapes[o] is not None for o in others):
        out = list(sa)
        # Any of the lengths may be None: a sequence of unknown length, a window past the edge, ...
        out[pos] = concatenated_length([g.shapes[o][pos] for o in [a] + others if len(g.shapes[o]) > pos])
        out = tuple(out)
    return g.add(layer, [a] + others, out)


def _shared(g: _Graph) -> str:
    draw = g.draw
    if not g.owners:
        _dense(g, g.pick())
    owner = draw(st.sampled_from(sorted(g.owners)))
    first = g.owners[owner]
    x = None
    if first is not None and not chance(draw, 25):
        x = g.pick(lambda s: len(s) == len(first) and s[-1] == first[-1])
    x = x or g.any()
    sx = g.shapes[x]
    out_last = g.shapes[owner][-1] if g.shapes[owner] else None
    out = None if sx is None or out_last is None else sx[:-1] + (out_last,)
    if g.shapes[owner] is not None and first is not None and len(g.shapes[owner]) != len(first):
        out = g.shapes[owner]  # a pooling / RNN owner: the tracked shape is approximate
    return g.share(owner, x, out)


def _sequence_op(g: _Graph) -> None:
    draw = g.draw
    x = g.pick(lambda s: len(s) == 2)
    if x is None or chance(draw, 10):
        v = g.pick(lambda s: len(s) == 1) or g.any()
        n = draw(st.integers(1, 4))
        sv = g.shapes[v]
        x = g.add({"type": "RepeatVector", "n": n}, [v], None if sv is None else (n,) + sv)
    T, F = g.shapes[x] if g.shapes[x] is not None and len(g.shapes[x]) == 2 else (None, None)
    kind = draw(st.sampled_from(["Conv1D", "RNN", "GlobalAveragePooling1D", "Flatten", "MultiHeadAttention", "Attention"]))
    if kind == "Conv1D":
        padding = draw(st.sampled_from(["valid", "same", "causal"]))
        k = fitting_window(draw, T) if padding == "valid" else draw(st.integers(1, 4))
        f = draw(st.integers(1, 6))
        g.add({"type": kind, "filters": f, "kernel_size": k, "padding": padding}, [x],
              (conv_length(T, k, 1, "valid" if padding == "valid" else "same"), f), shareable=True)
    elif kind == "RNN":
        layer = draw(recurrent_layer())
        u = layer["units"]
        g.add(layer, [x], (T, u) if layer.get("return_sequences") else (u,), shareable=True)
    elif kind == "GlobalAveragePooling1D":
        g.add({"type": kind}, [x], (F,))
    elif kind == "Flatten":
        g.add({"type": kind}, [x], None if T is None or F is None else (T * F,))
    elif kind == "MultiHeadAttention":
        v = g.pick(lambda s: len(s) == 2) or x
        layer = {"type": kind, "num_heads": draw(st.integers(1, 2)), "key_dim": draw(st.integers(1, 4))}
        g.add(layer, [x, v] + ([v] if chance(draw, 20) else []), (T, F), shareable=False)
    else:
        v = g.pick(lambda s: len(s) == 2 and s[-1] == F) if not chance(draw, 25) else g.any()
        v = v or x
        layer = {"type": kind}
        if chance(draw, 20):
            layer["score_mode"] = "concat"
        if chance(draw, 20):
            layer["use_scale"] = True
        sv = g.shapes[v]
        g.add(layer, [x, v], None if sv is None else (T, sv[-1]))


def _unary(g: _Graph) -> None:
    draw = g.draw
    x = g.pick()
    kind = draw(st.sampled_from(["LayerNormalization", "BatchNormalization", "Dropout", "Activation", "ReLU", "PReLU"]
                                + ["Extra"] * 6))
    if kind == "Extra":  # a run of layers of a family drawn by tests/draws/
        run = draw(extra_run(g.shapes[x], calls=True)) if g.shapes[x] is not None else None
        if run is not None:
            for one in run[0][:-1]:
                x = g.add(one, [x], None)
            g.add(run[0][-1], [x] * run[2], run[1])
        return
    layer: dict[str, Any] = {"type": kind}
    if kind == "PReLU" and g.shapes[x] is not None and len(g.shapes[x]) > 1 and chance(draw, 40):
        layer["shared_axes"] = [1]
    if kind == "Dropout":
        layer["rate"] = 0.3
    if kind == "Activation":
        layer["activation"] = draw(st.sampled_from(ACTIVATION_NAMES))
    g.add(layer, [x], g.shapes[x], shareable=kind != "Dropout")


@st.composite
def graph_specs(draw):
    g = _Graph(draw)
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["vector", "vector", "vector", "sequence", "tokens"]))
        dtype = "float64" if chance(draw, 10) else "float32"
        if kind == "vector":
            g.add_input((draw(st.integers(1, 8)),), dtype)
        elif kind == "sequence":
            g.add_input((draw(st.integers(2, 6)), draw(st.integers(1, 4))), dtype)
        else:  # integer tokens, usually embedded (with a mask, half the time)
            T = draw(st.integers(2, 6))
            tokens = g.add_input((T,), "int32")
            if not chance(draw, 10):
                emb = draw(embedding_layer((5, 20), (1, 4)))
                if draw(st.booleans()):
                    emb["mask_zero"] = True
                g.add(emb, [tokens], (T, emb["output_dim"]))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["dense", "dense", "merge", "merge", "merge", "shared", "shared", "sequence", "unary"]))
        if op == "dense":
            _dense(g, g.pick())
        elif op == "merge":
            _merge(g)
        elif op == "shared":
            _shared(g)
        elif op == "sequence":
            _sequence_op(g)
        else:
            _unary(g)
    # Every tensor nobody uses goes into the heads: sequences pooled to vectors, then concatenated.
    ends = []
    for name in [n for n in g.shapes if not g.uses[n]]:
        s = g.shapes[name]
        if s is None or len(s) != 1:
            kind = draw(st.sampled_from(["GlobalAveragePooling1D", "GlobalMaxPooling1D", "Flatten"]))
            if s is None:
                kind = "Flatten"
            flat = None if s is None or None in s else (int(np.prod(s)),)
            name = g.add({"type": kind}, [name], (s[-1],) if kind != "Flatten" else flat)
        ends.append(name)
    joined = ends[0] if len(ends) == 1 else g.add({"type": "Concatenate"}, ends, None)
    if chance(draw, 30):
        joined = g.add({"type": "Dense", "units": draw(st.integers(2, 8)), "activation": "relu"}, [joined], None)
    n_outputs = draw(st.integers(1, 2))
    outputs, losses, heads = [], {}, []
    for i in range(n_outputs):
        pool = CLASSIFICATION_LOSSES if i == 0 else SECOND_HEAD_LOSSES
        ends = chance(draw, PASS_THROUGH_PERCENT)  # the output behind layers that pass the head's values on
        head, loss = draw(dense_head(ALL_LOSSES if ends else pool))
        if ends and chance(draw, 30):
            # A layer that passes values on, defined before the head (on its input) and called again on the head:
            # the output is a shared call, and behind it the head.
            passing = draw(st.sampled_from([{"type": "Identity"}, {"type": "Dropout", "rate": 0.5}, {"type": "Flatten"},
                                            {"type": "GaussianNoise", "stddev": 0.1}]))
            before = g.add(passing, [joined], g.shapes[joined], shareable=True)
            name = g.add(head, [before], (head["units"],))
            heads.append(name)
            name = g.share(before, name, (head["units"],))
        else:
            name = g.add(head, [joined], (head["units"],))
            heads.append(name)
            if normalised(draw, loss):
                name = g.add({"type": "UnitNormalization"}, [name], (head["units"],))
            if ends:
                for layer in draw(pass_through_end((head["units"],)))[0]:
                    name = g.add(layer, [name], None)
        outputs.append(name)
        losses[name] = loss
    if chance(draw, SHARED_OUTPUT_PERCENT):
        # A shared call of a head as one more output (on the head's own input): the loss of that head, or any.
        head = draw(st.sampled_from(heads))
        name = g.share(head, g.nodes[[n["name"] for n in g.nodes].index(head)]["inputs"][0], g.shapes[head])
        outputs.append(name)
        losses[name] = losses[outputs[heads.index(head)]] if not chance(draw, 30) else draw(loss_value(draw(st.sampled_from(ALL_LOSSES))))
    if g.owners and chance(draw, SHARED_OUTPUT_PERCENT // 2):
        # A shared call of a hidden layer as one more output.
        name = _shared(g)
        outputs.append(name)
        losses[name] = draw(loss_value(draw(st.sampled_from(SECOND_HEAD_LOSSES))))
    nodes = g.nodes
    if chance(draw, 50):
        nodes = draw(st.permutations(nodes))  # the graph form takes nodes in any order
    model = {"inputs": g.inputs, "nodes": list(nodes), "outputs": outputs}
    loss = losses if len(outputs) > 1 or chance(draw, 50) else losses[outputs[0]]
    return draw(with_training("graph_model", model, loss))


def valid_specs() -> st.SearchStrategy[dict]:
    """A valid spec of any family (see the module docstring), as a plain dict."""
    return st.one_of(image_specs(), sequence_specs(), graph_specs())


#: The classes of specs that the property tests count (`drawn_kinds`).
KINDS = ("with argument objects", "shared node as output", "output behind a pass-through layer",
         "optimizer argument at a bound")


def drawn_kinds(spec: dict) -> set[str]:
    """Which of KINDS a spec belongs to: a layer with an initializer, regularizer or constraint; a shared call
    among the outputs; an output whose last layer (a shared call's: its owner's) passes values on
    (`pass_through_types`); an optimizer argument at or next to its bound (`optimizer_at_bound`)."""
    kinds = set()
    model = spec.get("model", {})
    if has_argument_object(model.get("layers", model.get("nodes", []))):
        kinds.add("with argument objects")
    if "layers" in model:
        ends = [model["layers"][-1]] if model["layers"] else []
    else:
        by_name = {n.get("name"): n for n in model.get("nodes", [])}
        outputs = model.get("outputs", [])
        ends = []
        for out in outputs if isinstance(outputs, list) else [outputs]:
            node = by_name.get(out, {})
            if "shares" in node:
                kinds.add("shared node as output")
                node = by_name.get(node["shares"], {})
            ends.append(node)
    if any(end.get("type") in pass_through_types() for end in ends):
        kinds.add("output behind a pass-through layer")
    if optimizer_at_bound(spec.get("training", {}).get("optimizer")):
        kinds.add("optimizer argument at a bound")
    return kinds


# ---- near misses: a valid spec with one mutation ------------------------------------------------

MUTATIONS = ["wrong-rank", "incompatible-merge", "typo-key", "bad-reference", "out-of-range", "wrong-loss"]
MERGES = {*ELEMENTWISE, "Concatenate", "Dot"}
#: Layer arguments a mutation may push out of range, and the values it tries.
RATE_FIELDS = {"rate", "dropout", "recurrent_dropout"}
COUNT_FIELDS = {
    "units", "filters", "kernel_size", "pool_size", "strides", "n", "num_heads", "key_dim", "input_dim",
    "output_dim", "size", "depth_multiplier", "groups", "dilation_rate", "height", "width", "value_dim",
}
OUT_OF_RANGE_COUNTS = [0, -1, -3]
OUT_OF_RANGE_RATES = [1.0, 1.5, -0.1]


def typo(draw, word: str) -> str:
    """`word` with one edit (a swap, a deletion, a doubled or replaced letter) that changes it."""
    for _ in range(5):
        i = draw(st.integers(0, max(0, len(word) - 1)))
        edit = draw(st.sampled_from(["swap", "delete", "double", "replace"]))
        if edit == "swap" and len(word) > 1:
            i = min(i, len(word) - 2)
            out = word[:i] + word[i + 1] + word[i] + word[i + 2:]
        elif edit == "delete" and len(word) > 1:
            out = word[:i] + word[i + 1:]
        elif edit == "double":
            out = word[:i] + word[i] + word[i:]
        else:
            out = word[:i] + draw(st.sampled_from("aeiouxz_")) + word[i + 1:]
        if out != word:
            return out
    return word + "x"


def top_layers(spec: dict) -> list[tuple[tuple, dict]]:
    """(path, layer) for every layer of the model (not the shared calls, which have no arguments)."""
    model = spec["model"]
    key = "layers" if "layers" in model else "nodes"
    return [(("model", key, i), layer) for i, layer in enumerate(model[key]) if "type" in layer]


def _inputs(spec: dict) -> list[dict]:
    model = spec["model"]
    return [model["input"]] if "input" in model else model["inputs"]


def _wrong_rank(draw, spec):
    inputs = _inputs(spec)
    i = draw(st.integers(0, len(inputs) - 1))
    shape = inputs[i]["shape"]
    if len(shape) > 1 and draw(st.booleans()):
        inputs[i]["shape"] = shape[:-1]
        return f"input {i}: dropped the last axis of {shape}"
    inputs[i]["shape"] = shape + [draw(st.integers(1, 4))]
    return f"input {i}: one more axis than {shape}"


def _descendants(nodes: list[dict], name: str) -> set[str]:
    out, grew = {name}, True
    while grew:
        grew = False
        for node in nodes:
            ins = node["inputs"] if isinstance(node["inputs"], list) else [node["inputs"]]
            if node["name"] not in out and (set(ins) & out or node.get("shares") in out):
                out.add(node["name"])
                grew = True
    return out


def _incompatible_merge(draw, spec):
    model = spec["model"]
    merges = [n for n in model.get("nodes", []) if n.get("type") in MERGES]
    if not merges:
        return None
    node = draw(st.sampled_from(merges))
    j = draw(st.integers(0, len(node["inputs"]) - 1))
    old = node["inputs"][j]
    if chance(draw, 30):  # rewire to another tensor above the merge
        below = _descendants(model["nodes"], node["name"])
        names = [i["name"] for i in model["inputs"]] + [n["name"] for n in model["nodes"] if n["name"] not in below]
        node["inputs"][j] = draw(st.sampled_from(names))
        return f"merge {node['name']}: input {j} {old} -> {node['inputs'][j]}"
    # or project one input to another width, keeping the graph connected
    units = draw(st.integers(1, 9))
    model["nodes"].append({"type": "Dense", "units": units, "name": "near_miss", "inputs": [old]})
    node["inputs"][j] = "near_miss"
    return f"merge {node['name']}: input {j} {old} through Dense({units})"


def _typo_key(draw, spec):
    from kspec.spec.layers import LAYER_CLASSES

    classes = {cls.type_name(): cls for cls in LAYER_CLASSES}
    path, layer = draw(st.sampled_from(top_layers(spec)))
    keys = [k for k in layer if k not in ("type", "name", "inputs")]
    if keys and not typo_chance(draw):
        key = draw(st.sampled_from(keys))
        wrong = typo(draw, key)
        layer[wrong] = layer.pop(key)
    else:  # a key the layer could have, misspelled, with its default value
        fields = {k: f.default for k, f in classes[layer["type"]].model_fields.items() if k not in ("type", "name", "inputs")}
        fields = {k: v for k, v in fields.items() if isinstance(v, (int, float, bool, str)) and not isinstance(v, tuple)}
        if not fields:
            return None
        key = draw(st.sampled_from(sorted(fields)))
        wrong = typo(draw, key)
        layer[wrong] = fields[key]
    return f"{layer['type']} at {path}: key {key} -> {wrong}"


def typo_chance(draw) -> bool:
    return chance(draw, 20)


def _bad_reference(draw, spec):
    model = spec["model"]
    if "nodes" not in model:
        return None
    where = draw(st.sampled_from(["inputs", "inputs", "outputs", "shares"]))
    if where == "outputs":
        j = draw(st.integers(0, len(model["outputs"]) - 1))
        old = model["outputs"][j]
        model["outputs"][j] = typo(draw, old)
        loss = spec["training"]["loss"]
        if per_output(loss) and old in loss:  # keep the loss on the (misspelled) output: one mutation
            loss[model["outputs"][j]] = loss.pop(old)
        return f"outputs[{j}]: {old} -> {model['outputs'][j]}"
    nodes = [n for n in model["nodes"] if where == "inputs" or "shares" in n]
    if not nodes:
        return None
    node = draw(st.sampled_from(nodes))
    if where == "shares":
        old = node["shares"]
        node["shares"] = typo(draw, old)
        return f"{node['name']}.shares: {old} -> {node['shares']}"
    ins = node["inputs"] if isinstance(node["inputs"], list) else [node["inputs"]]
    j = draw(st.integers(0, len(ins) - 1))
    old = ins[j]
    ins[j] = typo(draw, old)
    node["inputs"] = ins
    return f"{node['name']}.inputs[{j}]: {old} -> {ins[j]}"


def _out_of_range(draw, spec):
    candidates = [(p, layer, k) for p, layer in top_layers(spec) for k in layer if k in COUNT_FIELDS | RATE_FIELDS]
    if not candidates:
        return None
    path, layer, key = draw(st.sampled_from(candidates))
    bad = draw(st.sampled_from(OUT_OF_RANGE_RATES if key in RATE_FIELDS else OUT_OF_RANGE_COUNTS))
    old = layer[key]
    if isinstance(old, list):
        j = draw(st.integers(0, len(old) - 1))
        layer[key] = old[:j] + [bad] + old[j + 1:]
    else:
        layer[key] = bad
    return f"{layer['type']} at {path}: {key} {old} -> {layer[key]}"


def _wrong_loss(draw, spec):
    training = spec["training"]
    loss = training["loss"]
    new = draw(loss_value(draw(st.sampled_from(ALL_LOSSES))))
    if per_output(loss):
        name = draw(st.sampled_from(sorted(loss)))
        if chance(draw, 30):
            wrong = typo(draw, name)
            loss[wrong] = loss.pop(name)
            return f"loss key {name} -> {wrong}"
        old, loss[name] = loss[name], new
        return f"loss of {name}: {old} -> {new}"
    training["loss"] = new
    return f"loss: {loss} -> {new}"


MUTATE = {
    "wrong-rank": _wrong_rank, "incompatible-merge": _incompatible_merge, "typo-key": _typo_key,
    "bad-reference": _bad_reference, "out-of-range": _out_of_range, "wrong-loss": _wrong_loss,
}


@st.composite
def near_miss_specs(draw, base: dict | None = None):
    """(spec, mutation, what changed): a valid spec with one mutation of the kind `mutation` (MUTATIONS): a
    wrong input rank, a merge fed an incompatible tensor, a misspelled layer key, a reference to nothing, an
    out-of-range layer argument, a loss that does not fit its output. Where the kind does not apply to the
    spec (no merge in a sequential model), the mutation falls back to the next kind that does."""
    import copy

    spec = copy.deepcopy(base if base is not None else draw(valid_specs()))
    first = draw(st.sampled_from(MUTATIONS))
    order = MUTATIONS[MUTATIONS.index(first):] + MUTATIONS[:MUTATIONS.index(first)]
    for kind in order:
        what = MUTATE[kind](draw, spec)
        if what is not None:
            return spec, kind, what
    raise AssertionError("no mutation applies")  # wrong-rank always does
