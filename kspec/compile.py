"""Stage: compile. The only module that imports Keras for models (lazily, inside functions).

`build_layer` maps one layer spec to the built-in Keras layer; the model
builder (`build_model`) and its shape-equality assertion come with the
compiler issue.
"""

from __future__ import annotations

from typing import Any

from .spec.layers import Layer


def build_layer(layer: Layer, name: str | None = None) -> Any:
    """The Keras layer for a layer spec. Only classes of `keras.layers` named by the closed layer set."""
    import keras

    kwargs = layer.keras_kwargs()
    for field_name, value in layer:
        if isinstance(value, Layer):
            kwargs[field_name] = build_layer(value)
    if name or layer.name:
        kwargs["name"] = name or layer.name
    cls = getattr(keras.layers, layer.keras_class_name)
    return cls(**kwargs)


def call_layer(layer: Layer, keras_layer: Any, tensors: list) -> Any:
    """Apply a Keras layer to its input tensors the way that layer type is called."""
    if len(tensors) == 1:
        return keras_layer(tensors[0])
    if layer.call_style == "positional":
        return keras_layer(*tensors)
    return keras_layer(list(tensors))


def build_model(spec: Any, inference: Any = None) -> Any:
    """The Keras model for a validated Spec: `keras.Sequential` for the sequential form, Functional for the graph.

    Layer names in Keras are the spec's names (generated the Keras way where the sequential form
    leaves them out); shared nodes call the same layer object, so they share weights.
    """
    import keras

    from .infer import infer
    from .spec import SequentialModel

    inference = inference or infer(spec)
    if isinstance(spec.model, SequentialModel):
        (name, tensor), = inference.inputs.items()
        layers = [keras.Input(shape=tensor.shape[1:], dtype=tensor.dtype, name=name)]
        for node in inference.nodes:
            layers.append(build_layer(node.layer, node.name))
        return keras.Sequential(layers, name=spec.name)

    tensors: dict[str, Any] = {
        name: keras.Input(shape=t.shape[1:], dtype=t.dtype, name=name) for name, t in inference.inputs.items()
    }
    keras_layers: dict[str, Any] = {}
    for node in inference.nodes:
        if node.shares is not None:
            klayer = keras_layers[node.shares]
        else:
            klayer = keras_layers[node.name] = build_layer(node.layer, node.name)
        tensors[node.name] = call_layer(node.layer, klayer, [tensors[r] for r in node.inputs])
    return keras.Model(
        inputs=[tensors[name] for name in inference.inputs],
        outputs=[tensors[name] for name in inference.outputs],
        name=spec.name,
    )
