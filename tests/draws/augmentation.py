"""Drawers for the image augmentation layers (kspec/spec/layers/augmentation.py), on images (h, w, c).

Valid by construction for the tracked shape: layers that need 3 (or 1 or 3) channels only where the channels are
known to be that many; RandomPerspective on images at least 2 pixels high and wide; RandomCrop to the image's own
size (kspec refuses the rest: Keras returns its input unchanged at inference); tile grids that pad no axis by more
than its size; Equalization inside a Pipeline. The input's dtype is not tracked: on an integer image the layers
that need floating-point images are refused (Keras returns the integer image at inference), which the properties
check like any refusal. CutMix and MixUp are drawn too, though kspec always refuses them (by the
batch-mixing-labels policy), so that the properties see that refusal.
"""

from __future__ import annotations

from hypothesis import strategies as st

from tests.draws import Drawer

VALUE_RANGES = [[0, 255], [0, 1], [-1, 1]]
UNIT = st.sampled_from([0.0, 0.2, 0.5, 1.0, [0.1, 0.4]])
SIGNED = st.sampled_from([0.2, 0.5, [-0.3, 0.1]])


def _seeded(draw, layer: dict) -> dict:
    if draw(st.integers(0, 3)) == 0:
        layer["seed"] = draw(st.integers(0, 100))
    return layer


def _ranged(draw, layer: dict, seeded: bool = True) -> dict:
    if draw(st.booleans()):
        layer["value_range"] = draw(st.sampled_from(VALUE_RANGES))
    return _seeded(draw, layer) if seeded else layer


def _colour(draw, shape: tuple) -> tuple[list[dict], tuple]:
    """A colour transform; those that need RGB (or gray) images where the channels are that many."""
    c = shape[2]
    types = ["RandomBrightness", "RandomInvert", "RandomPosterization", "RandomSharpness", "RandomColorJitter"]
    if c == 3:
        types += ["RandomSaturation", "RandomHue", "RandomColorDegeneration"]
    if c in (1, 3):
        types += ["RandomGrayscale"]
    t = draw(st.sampled_from(types))
    layer: dict = {"type": t}
    if t in ("RandomBrightness", "RandomSaturation", "RandomColorDegeneration"):
        layer["factor"] = draw(SIGNED)
    elif t in ("RandomHue", "RandomSharpness"):
        layer["factor"] = draw(UNIT)
    elif t == "RandomInvert" and draw(st.booleans()):
        layer["factor"] = draw(UNIT)
    elif t == "RandomPosterization":
        layer["factor"] = draw(st.sampled_from([1, 4, 8, [2, 6]]))
    elif t == "RandomGrayscale":
        layer["factor"] = draw(st.sampled_from([0.0, 0.5, 1.0]))
        return [_seeded(draw, layer)], shape
    elif t == "RandomColorJitter":
        layer["brightness_factor"] = draw(st.none() | SIGNED)
        layer["contrast_factor"] = draw(st.none() | UNIT)
        if c == 3:
            layer["saturation_factor"] = draw(st.none() | SIGNED)
            layer["hue_factor"] = draw(st.none() | UNIT)
    return [_ranged(draw, layer)], shape


def _geometry(draw, shape: tuple) -> tuple[list[dict], tuple]:
    """A geometric transform, an erasure or a blur."""
    h, w, _ = shape
    types = ["RandomShear", "RandomErasing", "RandomGaussianBlur", "RandomElasticTransform"]
    if h not in (None, 1) and w not in (None, 1):
        types += ["RandomPerspective", "RandomCrop"]
    t = draw(st.sampled_from(types))
    layer: dict = {"type": t}
    if t == "RandomCrop":  # to the image's own size: kspec refuses any other
        layer.update(height=h, width=w)
    elif t == "RandomShear":
        layer["x_factor"] = draw(st.sampled_from([0.0, 0.3, [0.1, 0.5]]))
        layer["y_factor"] = draw(st.sampled_from([0.2, 1.0]))
        layer["fill_mode"] = draw(st.sampled_from(["reflect", "wrap", "constant", "nearest"]))
        layer["interpolation"] = draw(st.sampled_from(["nearest", "bilinear"]))
    elif t == "RandomPerspective":
        layer.update(factor=draw(UNIT), scale=draw(st.sampled_from([0.0, 0.3, 1.0])))
        layer["fill_value"] = draw(st.sampled_from([0.0, 1.0]))
    elif t == "RandomElasticTransform":  # only where it does nothing: Keras fails in a JAX training step otherwise
        layer.update(factor=0.0, scale=draw(UNIT), fill_mode=draw(st.sampled_from(["mirror", "constant"])))
    elif t == "RandomErasing":
        layer.update(factor=draw(UNIT), scale=draw(st.sampled_from([0.3, [0.02, 0.33], 1.0])))
        layer["fill_value"] = draw(st.sampled_from([None, 0.0, 5.0]))
        return [_ranged(draw, layer)], shape
    elif t == "RandomGaussianBlur":
        layer["kernel_size"] = draw(st.sampled_from([1, 3, 5, [3, 3]]))
        layer["sigma"] = draw(UNIT)
        return [_ranged(draw, layer)], shape
    return [_seeded(draw, layer)], shape


def _tiles(draw, size) -> int:
    """A tile count that pads the axis by no more than its size (TensorFlow's padding fails otherwise)."""
    return draw(st.integers(1, 2 if size is None else min(size, 4)))


def _whole(draw, shape: tuple) -> tuple[list[dict], tuple]:
    """A whole-image transform, or a combination of augmentations."""
    h, w, c = shape
    types = ["AutoContrast", "Solarization", "ContrastLimitedAdaptiveHistogramEqualization", "AugMix"]
    if c in (1, 3):
        types += ["RandAugment"]
    t = draw(st.sampled_from(types))
    layer: dict = {"type": t}
    if t == "Solarization":
        layer.update(addition_factor=draw(UNIT), threshold_factor=draw(UNIT))
    elif t == "ContrastLimitedAdaptiveHistogramEqualization":
        layer["tile_grid_size"] = [_tiles(draw, h), _tiles(draw, w)]
        layer["clip_limit"] = draw(st.sampled_from([0.0, 2.0, 4.0]))
        return [_ranged(draw, layer, seeded=False)], shape
    elif t == "AugMix":
        layer.update(num_chains=draw(st.integers(1, 2)), chain_depth=draw(st.integers(0, 2)), factor=draw(UNIT))
        layer["all_ops"] = c in (1, 3) and draw(st.booleans())
    elif t == "RandAugment":
        layer.update(num_ops=draw(st.integers(0, 2)), factor=draw(UNIT))
    return [_ranged(draw, layer, seeded=t != "AutoContrast")], shape


def _pipeline(draw, shape: tuple) -> tuple[list[dict], tuple]:
    """A Pipeline of one to three image layers, an Equalization among them now and then."""
    inner = []
    for _ in range(draw(st.integers(1, 3))):
        kind = draw(st.sampled_from(["colour", "geometry", "whole", "Equalization", "RandomFlip"]))
        if kind == "Equalization":
            inner.append({"type": "Equalization", "bins": draw(st.sampled_from([2, 256]))})
        elif kind == "RandomFlip":
            inner.append({"type": "RandomFlip"})
        else:
            inner.extend({"colour": _colour, "geometry": _geometry, "whole": _whole}[kind](draw, shape)[0])
    return [{"type": "Pipeline", "layers": inner}], shape


def _batch_mixing(draw, shape: tuple) -> tuple[list[dict], tuple]:
    """CutMix or MixUp: always refused (batch-mixing-labels policy)."""
    if draw(st.booleans()):
        return [{"type": "CutMix", "factor": draw(UNIT)}], shape
    return [{"type": "MixUp", "alpha": draw(st.sampled_from([0.2, 1.0]))}], shape


IMAGE = frozenset({3})
DRAWERS = (
    Drawer(
        types=("RandomBrightness", "RandomSaturation", "RandomHue", "RandomGrayscale", "RandomInvert",
               "RandomPosterization", "RandomSharpness", "RandomColorJitter", "RandomColorDegeneration"),
        ranks=IMAGE,
        fn=_colour,
    ),
    Drawer(
        types=("RandomCrop", "RandomShear", "RandomPerspective", "RandomElasticTransform", "RandomErasing",
               "RandomGaussianBlur"),
        ranks=IMAGE,
        fn=_geometry,
    ),
    Drawer(
        types=("AutoContrast", "Solarization", "ContrastLimitedAdaptiveHistogramEqualization", "AugMix",
               "RandAugment"),
        ranks=IMAGE,
        fn=_whole,
    ),
    Drawer(types=("Pipeline", "Equalization"), ranks=IMAGE, fn=_pipeline),
    Drawer(types=("CutMix", "MixUp"), ranks=IMAGE, fn=_batch_mixing),
)
