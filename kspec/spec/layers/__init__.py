"""The closed set of first-class layers, listed in one place.

Each family module defines its layer classes and exports them as `LAYERS`;
this module joins them into the discriminated union `AnyLayer` (discriminator:
`type`). A layer type exists only if it is listed here or provided by an
installed package through the `kspec.layers` entry point (`kspec.spec.plugins`):
nothing is registered by import side effects, and a spec can never name a class
outside this list.
"""

from typing import Annotated, Union

from pydantic import ConfigDict, Field, TypeAdapter
from typing_extensions import TypeAliasType

from .. import plugins
from . import (
    activation,
    applications,
    attention,
    audio,
    augmentation,
    conv,
    convrecurrent,
    core,
    embedding,
    merge,
    normalization,
    ops,
    pooling,
    preprocessing,
    recurrent,
    regularization,
    reshaping,
    text,
)
from ._base import Inferred, Layer, ShapeError, Tensor, shape_str

BUILTIN_LAYER_CLASSES: tuple[type[Layer], ...] = (
    core.LAYERS
    + activation.LAYERS
    + embedding.LAYERS
    + conv.LAYERS
    + pooling.LAYERS
    + normalization.LAYERS
    + regularization.LAYERS
    + reshaping.LAYERS
    + merge.LAYERS
    + recurrent.LAYERS
    + attention.LAYERS
    + preprocessing.LAYERS
    + augmentation.LAYERS
    + audio.LAYERS
    + convrecurrent.LAYERS
    + text.LAYERS
    + ops.LAYERS
    + applications.LAYERS
)

PLUGIN_LAYER_CLASSES: tuple[type[Layer], ...] = plugins.load_layers(
    Layer, {cls.type_name() for cls in BUILTIN_LAYER_CLASSES}
)
LAYER_CLASSES: tuple[type[Layer], ...] = BUILTIN_LAYER_CLASSES + PLUGIN_LAYER_CLASSES

#: Every layer type by name, Keras's aliases (`MaxPool2D`, `Convolution2D`) included.
LAYER_TYPES: dict[str, type[Layer]] = {name: cls for cls in LAYER_CLASSES for name in cls.type_names()}

# Written once in the JSON Schema's `$defs` (as `AnyLayer`) and referenced by every place that holds a layer.
AnyLayer = TypeAliasType(
    "AnyLayer",
    Annotated[Union[LAYER_CLASSES], Field(discriminator="type")],  # type: ignore[valid-type]  # noqa: UP007 (a union of a tuple)
)

# Wrapper layers (TimeDistributed) name `AnyLayer` as a forward reference in their module;
# models are built lazily (defer_build), so it is enough that the name resolves there.
recurrent.AnyLayer = AnyLayer  # type: ignore[attr-defined]

_adapter: TypeAdapter | None = None


def parse_layer(data: object) -> Layer:
    """Validate one layer mapping (strict). Raises pydantic.ValidationError."""
    global _adapter
    if _adapter is None:
        # The models' regex engine (kspec.spec.base), for the shared definitions (`LayerName`) built here too.
        _adapter = TypeAdapter(AnyLayer, config=ConfigDict(regex_engine="python-re"))
    return _adapter.validate_python(data)


__all__ = [
    "AnyLayer",
    "LAYER_CLASSES",
    "LAYER_TYPES",
    "Inferred",
    "Layer",
    "ShapeError",
    "Tensor",
    "parse_layer",
    "shape_str",
]
