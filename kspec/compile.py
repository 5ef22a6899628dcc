"""Stage: compile. The only module that imports Keras for models (lazily, inside functions).

`build_layer` maps one layer spec to the built-in Keras layer; the model
builder (`build_model`) and its shape-equality assertion come with the
compiler issue.
"""

from __future__ import annotations

from typing import Any

from .spec.layers import Layer


def build_layer(layer: Layer) -> Any:
    """The Keras layer for a layer spec. Only classes of `keras.layers` named by the closed layer set."""
    import keras

    kwargs = layer.keras_kwargs()
    for field_name, value in layer:
        if isinstance(value, Layer):
            kwargs[field_name] = build_layer(value)
    if layer.name is not None:
        kwargs["name"] = layer.name
    cls = getattr(keras.layers, layer.keras_class_name)
    return cls(**kwargs)


def call_layer(layer: Layer, keras_layer: Any, tensors: list) -> Any:
    """Apply a Keras layer to its input tensors the way that layer type is called."""
    if len(tensors) == 1:
        return keras_layer(tensors[0])
    if layer.call_style == "positional":
        return keras_layer(*tensors)
    return keras_layer(list(tensors))
