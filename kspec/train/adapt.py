"""Layers with `adapt: true`: adapted to the training split before `fit` (Keras's `layer.adapt()`).

Every layer type whose `adapts()` is true takes part: Normalization's mean and variance, the vocabularies of
TextVectorization, StringLookup and IntegerLookup (and TF-IDF weights), Discretization's bin boundaries.
The checker (`kspec.semantics._adapted_layers`) has made sure that each such layer is called once, outside
any wrapper, and that only layers without trainable weights lie between the model inputs and it: what it
sees before training is what it sees during training. Its state is saved with the model (`model.keras`).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..infer import upstream
from ..spec import Spec

#: Examples are fed to the layers before an adapted layer in batches of this many.
BATCH = 256


def adapt_layers(model: Any, spec: Spec, inference: Any, train: Any) -> list[str]:
    """Adapt every `adapt: true` layer of `model` to the training split `train` (a data.Split), in graph order;
    returns a line for the user per layer."""
    import keras

    from .data.stream import is_stream

    lines: list[str] = []
    for node in inference.nodes:
        if node.layer is None or node.shares is not None or not node.layer.adapts():
            continue
        before, needed = upstream(inference, node.name)
        layer = model.get_layer(node.name)
        if is_stream(train):  # read as a stream, batch by batch: Keras's adapt takes a tf.data pipeline
            layer.adapt(
                _streamed(
                    train,
                    needed,
                    None if not before else keras.Model([_model_input(model, name) for name in needed], layer.input),
                )
            )
        elif not before and len(node.inputs) == 1 and node.inputs[0] in train.x:
            layer.adapt(np.asarray(train.x[node.inputs[0]]))  # right after a model input: the training arrays
        else:
            feeder = keras.Model([_model_input(model, name) for name in needed], layer.input)
            layer.adapt(np.asarray(feeder.predict(_batches([train.x[name] for name in needed]), verbose=0)))
        what = ", ".join(f"'{name}'" for name in needed)
        lines.append(
            f"Adapted {node.layer.layer_type} '{node.name}' to the {len(train):,} training examples of {what}."
        )
    return lines


def _streamed(train: Any, needed: list[str], feeder: Any) -> Any:
    """The inputs `needed` of a streamed training split, in batches of BATCH (through `feeder`, the layers before the
    adapted one, when there are any), as a tf.data pipeline."""
    import tensorflow as tf

    dataset = train.dataset(batch_size=BATCH, shuffle=False, seed=None)
    names = list(train.input_fields)

    def inputs(x: Any, y: Any) -> Any:
        xs = x if isinstance(x, dict) else {names[0]: x}
        return tuple(xs[n] for n in needed) if len(needed) > 1 else xs[needed[0]]

    dataset = dataset.map(inputs)
    if feeder is None:
        return dataset

    def fed() -> Any:
        for batch in dataset:
            yield np.asarray(feeder.predict_on_batch(batch))

    spec = tf.TensorSpec((None, *feeder.output.shape[1:]), feeder.output.dtype)
    return tf.data.Dataset.from_generator(fed, output_signature=spec)


def _batches(arrays: list[Any]) -> Any:
    """The arrays in batches of BATCH, as a tf.data pipeline: string arrays (texts) reach Keras's TensorFlow
    backend as string tensors only this way (`predict` on a NumPy array of str fails)."""
    import tensorflow as tf

    features = tuple(arrays) if len(arrays) > 1 else arrays[0]
    return tf.data.Dataset.from_tensor_slices((features,)).batch(BATCH)


def _model_input(model: Any, name: str) -> Any:
    for tensor in model.inputs:
        if tensor.name == name:
            return tensor
    raise LookupError(f"the model has no input named '{name}'")  # compile names inputs after the spec
