"""`kspec import` and `kspec.import_model`: Keras models in, specs out. Keras is the oracle: the spec an import
writes validates, and builds a model with the original's topology, layer configurations and parameter counts,
which, given the original's weights, computes the same outputs."""

from __future__ import annotations

import gc
import json
import time
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, example, given, settings

import kspec
from kspec.cli import main
from kspec.importer import ModelFileError, UnsupportedModel, spec_text
from kspec.spec import GraphModel, SequentialModel
from kspec.spec.model import SharedNode
from tests.stats import record
from tests.strategies import valid_specs

L = keras.layers


# ---- the oracle -------------------------------------------------------------------------------


def layer_graph(model) -> list:
    """Every layer's and operation's name and class, with the inputs of each of its calls: the producing layer's
    name and node index, `input:i` for the model's i-th input (whose name a sequential spec leaves to Keras). The
    call's positional arguments only: the masks Keras propagates (`mask=`) come from operations it names itself.
    An operation's other arguments (`x + 3.0`: 3.0, an index, a constant array) and configuration too."""
    inputs = {id(t): f"input:{i}" for i, t in enumerate(model.inputs)}
    graph = []
    used = _used(model)
    for layer in getattr(model, "operations", model.layers):  # a Sequential model has layers only
        if isinstance(layer, L.InputLayer) or id(layer) not in used:
            continue
        calls = []
        for node in layer._inbound_nodes:
            sources = []
            for t in keras.tree.flatten(node.arguments.args):
                if not isinstance(t, keras.KerasTensor):
                    sources.append(repr(np.asarray(t).tolist()) if isinstance(t, np.ndarray) else repr(t))
                    continue
                op, index, _ = t._keras_history
                sources.append(inputs.get(id(t), f"{op.name}:{index}"))
            calls.append(sources)
        config = None if isinstance(layer, L.Layer) else layer.get_config()
        graph.append((layer.name, type(layer).__name__, calls, config))
    return graph


def _used(model) -> set[int]:
    """The operations the outputs are computed from through positional arguments: not the ones Keras adds to
    compute the masks it propagates (NotEqual after Embedding(mask_zero), ...), which it names itself."""
    used: set[int] = set()
    stack = [t._keras_history.operation for t in model.outputs]
    while stack:
        operation = stack.pop()
        if id(operation) in used:
            continue
        used.add(id(operation))
        for node in operation._inbound_nodes:
            stack.extend(t._keras_history.operation for t in keras.tree.flatten(node.arguments.args)
                         if isinstance(t, keras.KerasTensor))
    return used


def leaf_layers(model) -> list:
    """The model's layers but its inputs, with each nested model's layers in its place (its own, recursively)."""
    return [
        leaf for layer in model.layers if not isinstance(layer, L.InputLayer)
        for leaf in (leaf_layers(layer) if isinstance(layer, keras.Model) else [layer])
    ]


def nests_models(model) -> bool:
    return any(isinstance(layer, keras.Model) for layer in model.layers)


def outputs_of(model, batch) -> list:
    """The model's outputs on a batch, in inference (a plain call: no compiled predict function to trace)."""
    with warnings.catch_warnings():  # a model whose inputs are a list of one, given the tensor
        warnings.filterwarnings("ignore", "The structure of `inputs` doesn't match", UserWarning)
        got = model(batch, training=False)
    return [keras.ops.convert_to_numpy(t) for t in (got if isinstance(got, (list, tuple)) else [got])]


def assert_same_model(original, rebuilt, *, outputs: bool = True, names: dict | None = None) -> None:
    """Same topology, layer configurations, parameter counts and, with the original's weights copied in by
    layer name, the same outputs (unless `outputs` is false). A model that nests models is compared with its
    nested models' layers in their place (the import inlines them): the same layers, by name (`names`: the
    names the import gave those it renamed), with the same configurations and outputs."""
    names = names or {}  # id(original layer) -> its name in the import, where it was renamed
    if not nests_models(original):
        assert layer_graph(rebuilt) == layer_graph(original)
    else:
        imported = sorted(names.get(id(layer), layer.name) for layer in leaf_layers(original))
        # (An output made by a shared layer's later call is named by an Identity layer of kspec's.)
        kept = [layer.name for layer in leaf_layers(rebuilt) if layer.name in imported or not isinstance(layer, L.Identity)]
        assert sorted(kept) == imported
    for layer in leaf_layers(original):
        twin = rebuilt.get_layer(names.get(id(layer), layer.name))
        # The whole configuration, with nothing excluded: name (or the one the import gave it), trainable, dtype
        # policy, every argument (initializers, regularizers and constraints as Keras serialises them).
        assert {**twin.get_config(), "name": layer.name} == layer.get_config(), layer.name
        assert twin.count_params() == layer.count_params(), layer.name
        twin.set_weights(layer.get_weights())
        if isinstance(twin, L.Normalization):
            twin.finalize_state()  # Normalization reads its mean and variance weights at build (and load) time
    assert rebuilt.count_params() == original.count_params()
    if not outputs:
        return
    rng = np.random.default_rng(0)
    batch = [rng.standard_normal((2,) + tuple(t.shape[1:])).astype("float32") for t in original.inputs]
    batch = batch if len(batch) > 1 else batch[0]
    for a, b in zip(outputs_of(original, batch), outputs_of(rebuilt, batch), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)


def round_trip(original, source=None, *, names: dict | None = None):
    """Import (from the model itself, or `source`), check the written text reads back as the same spec, build it."""
    spec = kspec.import_model(original if source is None else source)
    text = spec_text(spec)
    report = kspec.check(text)
    assert report.ok, [d.message for d in report.diagnostics]
    assert report.spec == spec
    rebuilt = kspec.build_model(text)
    assert_same_model(original, rebuilt, names=names)
    return spec, text


# ---- Keras Applications -----------------------------------------------------------------------

#: Every model of keras.applications, at the smallest input it takes with weights=None (32, or 75 and 71; a few
#: seconds each), 10 classes.
APPLICATIONS = [
    ("ConvNeXtTiny", 32),  # nested Sequential models, LayerScale, `inputs + x`
    ("ConvNeXtSmall", 32),
    ("ConvNeXtBase", 32),
    ("ConvNeXtLarge", 32),
    ("ConvNeXtXLarge", 32),
    ("DenseNet121", 32),
    ("DenseNet169", 32),
    ("DenseNet201", 32),
    ("EfficientNetB0", 32),
    ("EfficientNetB1", 32),
    ("EfficientNetB2", 32),
    ("EfficientNetB3", 32),
    ("EfficientNetB4", 32),
    ("EfficientNetB5", 32),
    ("EfficientNetB6", 32),
    ("EfficientNetB7", 32),
    ("EfficientNetV2B0", 32),
    ("EfficientNetV2B1", 32),
    ("EfficientNetV2B2", 32),
    ("EfficientNetV2B3", 32),
    ("EfficientNetV2S", 32),
    ("EfficientNetV2M", 32),
    ("EfficientNetV2L", 32),
    ("InceptionResNetV2", 75),  # CustomScaleLayer
    ("InceptionV3", 75),
    ("MobileNet", 32),
    ("MobileNetV2", 32),
    ("MobileNetV3Small", 32),  # operators between layers: x + 3.0, x * (1.0 / 6.0)
    ("MobileNetV3Large", 32),
    ("NASNetMobile", 32),
    ("NASNetLarge", 32),
    ("ResNet50", 32),
    ("ResNet101", 32),
    ("ResNet152", 32),
    ("ResNet50V2", 32),
    ("ResNet101V2", 32),
    ("ResNet152V2", 32),
    ("VGG16", 32),
    ("VGG19", 32),
    ("Xception", 71),
]


def test_every_application_is_listed():
    assert sorted(app for app, _ in APPLICATIONS) == sorted(n for n in dir(keras.applications) if n[0].isupper())


@pytest.mark.parametrize("app, size", APPLICATIONS)
def test_keras_applications_round_trip(app, size):
    original = getattr(keras.applications, app)(weights=None, input_shape=(size, size, 3), classes=10)
    try:
        spec, text = round_trip(original)
        # VGG and MobileNet are plain chains: the sequential form. The others branch: the graph form.
        assert isinstance(spec.model, SequentialModel if app in ("VGG16", "VGG19", "MobileNet") else GraphModel)
        assert spec.training.loss == "sparse_categorical_crossentropy"  # a softmax output
        operations = [o for o in original.operations if not isinstance(o, L.Layer)]
        # One line per layer or operation, and a few more.
        assert len(text.splitlines()) <= len(leaf_layers(original)) + len(operations) + 16
    finally:
        original = None
        keras.backend.clear_session()  # the large ones hold hundreds of MB each
        gc.collect()


#: Failures the property found, run first every time.
FOUND = [
    # Keras writes the backward layer Bidirectional makes itself: imported as kspec's default (none).
    {"kspec": 1, "name": "sequence_model",
     "model": {"input": {"shape": [1, 1]}, "layers": [{"type": "Bidirectional", "layer": {"type": "LSTM", "units": 1}},
                                                      {"type": "Dense", "units": 2, "activation": "softmax"}]},
     "training": {"optimizer": "sgd", "loss": "sparse_categorical_crossentropy"}},
    # Bidirectional sets zero_output_for_mask to return_sequences on the layers it wraps.
    {"kspec": 1, "name": "sequence_model",
     "model": {"input": {"shape": [2, 5]}, "layers": [
         {"type": "Bidirectional", "layer": {"type": "LSTM", "units": 3, "return_sequences": True}},
         {"type": "GlobalAveragePooling1D"}, {"type": "Dense", "units": 1}]},
     "training": {"optimizer": "sgd", "loss": "mse"}},
    # Keras records `training=True`, its call's default, on a plain call of an augmentation layer.
    {"kspec": 1, "name": "image_model",
     "model": {"input": {"shape": [4, 4, 1]}, "layers": [{"type": "RandomContrast", "factor": 0.2}, {"type": "ops.relu"},
                                                         {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 1}]},
     "training": {"optimizer": "adam", "loss": "mse"}},
    # StackedRNNCells: its `cells` are a list of serialised layers.
    {"kspec": 1, "name": "sequence_model",
     "model": {"input": {"shape": [1], "dtype": "int32"}, "layers": [
         {"type": "Embedding", "input_dim": 5, "output_dim": 1},
         {"type": "Bidirectional", "layer": {"type": "RNN", "unroll": True, "return_sequences": True,
                                             "cell": [{"type": "SimpleRNNCell", "units": 1, "use_bias": False}]}},
         {"type": "GlobalAveragePooling1D"}, {"type": "Dense", "units": 1}]},
     "training": {"optimizer": "adam", "loss": "mse"}},
    # Keras gives Hashing the int64 dtype policy (its bin ids) when it is built without one, as kspec builds it.
    {"kspec": 1, "name": "sequence_model",
     "model": {"input": {"shape": [1, 1]}, "layers": [
         {"type": "Hashing", "num_bins": 1, "salt": 7}, {"type": "CategoryEncoding", "num_tokens": 1, "output_mode": "one_hot"},
         {"type": "GlobalAveragePooling1D"}, {"type": "Dense", "units": 1}]},
     "training": {"optimizer": "schedulefreeadamw", "loss": "CosineSimilarity"}},
    # Keras writes a lookup's vocabulary_size (its vocabulary and special tokens), which kspec computes.
    {"kspec": 1, "name": "sequence_model",
     "model": {"input": {"shape": [1, 1]}, "layers": [
         {"type": "IntegerLookup", "vocabulary": [0], "mask_token": 9},
         {"type": "CategoryEncoding", "num_tokens": 3, "output_mode": "one_hot"},
         {"type": "GlobalAveragePooling1D"}, {"type": "Dense", "units": 1}]},
     "training": {"optimizer": "schedulefreeadamw", "loss": "CosineSimilarity"}},
    # A Pipeline without a name in the spec named its layers from Keras's process-wide counter; they are named
    # after the name the compiler gives the Pipeline, as when the spec names it.
    {"kspec": 1, "name": "image_model",
     "model": {"input": {"shape": [4, 4, 1]}, "layers": [
         {"type": "Pipeline", "layers": [{"type": "RandomBrightness", "factor": 0.2}]},
         {"type": "GlobalAveragePooling2D"}, {"type": "Dense", "units": 1}]},
     "training": {"optimizer": "schedulefreeadamw", "loss": "CosineSimilarity"}},
]


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_specs())
@example(FOUND[0])
@example(FOUND[1])
@example(FOUND[2])
@example(FOUND[3])
@example(FOUND[4])
@example(FOUND[5])
@example(FOUND[6])
def test_property_models_kspec_builds_import_back(spec):
    """Every layer type and argument kspec offers survives the trip: a model built from a spec kspec accepts
    imports to a spec that builds the same model (the same outputs where every input size is known; integer
    inputs are zeros, a valid index for any Embedding)."""
    start = time.perf_counter()
    report = kspec.check(spec)
    assume(report.ok)  # the strategies also draw what a documented policy refuses
    original = kspec.build_model(report.spec)
    imported = kspec.import_model(original)
    text = spec_text(imported)
    assert kspec.check(text).spec == imported
    known = all(None not in t.shape[1:] for t in original.inputs)
    if known:
        assert_same_model(original, kspec.build_model(text), outputs=False)
        rng = np.random.default_rng(0)
        batch = [
            np.zeros((2,) + tuple(t.shape[1:]), t.dtype) if "int" in str(t.dtype)
            else rng.standard_normal((2,) + tuple(t.shape[1:])).astype(t.dtype)
            for t in original.inputs
        ]
        rebuilt = kspec.build_model(text)
        for layer in original.layers:
            if layer.weights:
                rebuilt.get_layer(layer.name).set_weights(layer.get_weights())
        expected, got = original.predict(batch, verbose=0), rebuilt.predict(batch, verbose=0)
        for a, b in zip(expected if isinstance(expected, list) else [expected], got if isinstance(got, list) else [got]):
            np.testing.assert_allclose(b, a, rtol=1e-6, atol=1e-6)
    else:
        assert_same_model(original, kspec.build_model(text), outputs=False)
    record("import: kspec-built models imported back", 1, time.perf_counter() - start)


# ---- the three kinds of input ------------------------------------------------------------------


def small_model():
    """A Functional model with a branch, a shared layer, and non-default initializers and regularizers."""
    x = keras.Input((6,), name="x")
    shared = L.Dense(6, activation="relu", kernel_initializer="he_normal", name="shared")
    a = shared(x)
    b = shared(a)  # the same layer, called again
    c = L.Dense(6, kernel_regularizer=keras.regularizers.L2(0.001), bias_initializer=keras.initializers.Constant(0.5), name="side")(x)
    merged = L.Add(name="add")([b, c])
    out = L.Dense(3, activation="softmax", name="probs")(merged)
    return keras.Model(x, out, name="small.model-1")


def test_model_file_json_text_and_memory_give_the_same_spec(tmp_path):
    original = small_model()
    original.save(tmp_path / "m.keras")
    (tmp_path / "m.json").write_text(original.to_json())
    from_memory, _ = round_trip(original)
    assert round_trip(original, tmp_path / "m.keras")[0] == from_memory
    assert round_trip(original, str(tmp_path / "m.json"))[0] == from_memory
    assert round_trip(original, original.to_json())[0] == from_memory
    assert from_memory.name == "small_model_1"  # the model's name, made a valid kspec name


@pytest.mark.parametrize("make", [small_model, lambda: keras.Model(*_chain(), name="chain")])
def test_the_weights_of_the_keras_file_load_into_the_built_model(tmp_path, make):
    """`load_weights` of the original `.keras` file, also where the Functional chain became a keras.Sequential."""
    original = make()
    original.save(tmp_path / "m.keras")
    rebuilt = kspec.build_model(kspec.import_model(tmp_path / "m.keras"))
    rebuilt.load_weights(tmp_path / "m.keras")
    batch = np.random.default_rng(1).standard_normal((3,) + tuple(original.inputs[0].shape[1:])).astype("float32")
    np.testing.assert_allclose(rebuilt.predict(batch, verbose=0), original.predict(batch, verbose=0), rtol=1e-6, atol=1e-6)


def _chain():
    x = keras.Input((5, 5, 1), name="image")
    return x, L.Dense(2, name="out")(L.Flatten(name="flat")(L.Conv2D(3, 3, activation="tanh", name="conv")(x)))


def test_a_shared_layer_imports_as_shares():
    spec = kspec.import_model(small_model())
    shared = [n for n in spec.model.nodes if isinstance(n, SharedNode)]
    assert [(n.name, n.shares, n.inputs) for n in shared] == [("shared_call1", "shared", ["shared"])]


def test_a_sequential_model_imports_to_the_sequential_form():
    original = keras.Sequential(
        [keras.Input((8, 8, 1)), L.Conv2D(4, 3, name="conv"), L.Flatten(name="flat"), L.Dense(2, name="out")], name="seq"
    )
    spec, text = round_trip(original)
    assert isinstance(spec.model, SequentialModel)
    assert [layer.name for layer in spec.model.layers] == ["conv", "flat", "out"]
    assert spec.training.loss == "mean_squared_error"  # no softmax output


def test_a_graph_with_two_inputs_and_three_outputs():
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    joined = L.Concatenate(name="join")([a, b])
    outs = [
        L.Dense(2, activation="softmax", name="cls")(joined),
        L.Dense(1, name="reg")(joined),
        L.Dense(1, activation="sigmoid", name="flag")(joined),
    ]
    spec, _ = round_trip(keras.Model([a, b], outs, name="three"))
    # The placeholder training: a loss that fits each output, accuracy where it means something.
    assert spec.training.loss == {"cls": "sparse_categorical_crossentropy", "reg": "mean_squared_error", "flag": "binary_crossentropy"}
    assert spec.training.metrics == {"cls": ["accuracy"], "flag": ["accuracy"]}
    assert spec.model.outputs == ["cls", "reg", "flag"]


def test_efficientnet_imagenet_stem():
    """What EfficientNet adds with weights="imagenet" (not downloadable here): a Rescaling by one value per
    channel after the Normalization; and a Normalization with a fixed mean and variance."""
    x = keras.Input((8, 8, 3), name="image")
    h = L.Rescaling(1.0 / 255.0, name="rescaling")(x)
    h = L.Normalization(axis=3, name="normalization")(h)
    h = L.Rescaling([1 / 0.229**0.5, 1 / 0.224**0.5, 1 / 0.225**0.5], name="rescaling_1")(h)
    h = L.Normalization(mean=[0.5, 0.4, 0.3], variance=[0.2, 0.3, 0.4], invert=True, name="denormalization")(h)
    spec, text = round_trip(keras.Model(x, L.Conv2D(2, 3, name="conv")(h), name="stem"))
    assert "    - {type: Rescaling, name: rescaling_1, scale: [2.08" in text


def ops_model():
    """Operators and keras.ops between layers, as people write them (Keras names the operations itself)."""
    O = keras.ops  # noqa: E741 - as people write it
    x = keras.Input((4, 3), name="x")
    h = L.Dense(3, name="d")(x)
    a = L.ReLU(6.0, name="relu")(h + 3.0) * (1.0 / 6.0)  # MobileNetV3's hard sigmoid
    b = 1.0 - abs(a) / 2 + a**2 - O.relu6(-h)
    c = O.multiply(b, np.array([1.0, 0.5, 0.25], "float32")) + O.mean(b, axis=-1, keepdims=True)
    d = O.concatenate([c[:, 1:3], O.squeeze(O.expand_dims(c[:, :1], 1), 1)], axis=1)
    e = O.reshape(O.transpose(d, (0, 2, 1)), (-1, 9))
    f = O.clip(O.sigmoid(e), 0.0, 1.0) * O.cast(O.max(x, axis=2), "float32")[:, None, 0]
    return keras.Model(x, L.Dense(2, activation="softmax", name="out")(f), name="ops_model")


def test_operators_and_keras_ops_round_trip():
    """`x + 3.0`, `1.0 - x`, `x[:, 0]`, keras.ops calls: each Operation node becomes the operation type of its
    keras.ops function, with its constants, and the spec builds the same nodes (names, constants, configs)."""
    spec, text = round_trip(ops_model())
    lines = text.splitlines()
    assert any(line.startswith("    - {type: ops.add, name: add") and "x2: 3.0" in line for line in lines)
    assert any("type: ops.subtract" in line and "x1: 1.0" in line for line in lines)
    assert any("type: ops.get_item" in line and "key: ':, 1:3'" in line for line in lines)
    assert any("type: ops.multiply" in line and "x2: [1.0, 0.5, 0.25]" in line for line in lines)
    types = {node.type for node in spec.model.nodes}
    assert {"ops.abs", "ops.true_divide", "ops.power", "ops.negative", "ops.relu6", "ops.mean", "ops.reshape"} <= types


def test_a_model_of_operations_alone_keeps_its_sequential_chain():
    x = keras.Input((6,), name="x")
    y = keras.ops.get_item(keras.ops.sigmoid(L.Dense(4, name="d")(x) * 2.0), (slice(None), slice(0, 2)))
    spec, text = round_trip(keras.Model(x, y, name="chain"))
    assert isinstance(spec.model, SequentialModel)
    assert spec.training.loss == "binary_crossentropy"  # a sigmoid output, told by the operation


def test_inputs_and_outputs_given_as_dicts_become_lists():
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    joined = L.Concatenate(name="join")([a, b])
    outputs = {"o1": L.Dense(1, name="o1")(joined), "o2": L.Dense(2, name="o2")(joined)}
    spec = kspec.import_model(keras.Model({"a": a, "b": b}, outputs, name="dicts"))
    assert [i.name for i in spec.model.inputs] == ["a", "b"] and spec.model.outputs == ["o1", "o2"]
    assert_same_model(keras.Model([a, b], list(outputs.values())), kspec.build_model(spec))


# ---- readability ------------------------------------------------------------------------------


def test_default_values_are_left_out_and_objects_named():
    text = spec_text(kspec.import_model(small_model()))
    lines = text.splitlines()
    assert "    - {type: Dense, name: shared, inputs: x, units: 6, activation: relu, kernel_initializer: he_normal}" in lines
    assert (
        "    - {type: Dense, name: side, inputs: x, units: 6, bias_initializer: {type: Constant, value: 0.5}, "
        "kernel_regularizer: {type: L2, l2: 0.001}}"
    ) in lines
    assert "    - {name: shared_call1, shares: shared, inputs: shared}" in lines
    assert "use_bias" not in text and "glorot_uniform" not in text and "zeros" not in text
    assert lines[:2] == [
        "# Imported by `kspec import`.",
        "# The training section is a placeholder: edit the optimizer, loss and metrics before training.",
    ]


def test_regularizers_and_constraints_by_name_or_with_their_arguments():
    """Keras keeps regularizer factors as float32: written as the shortest decimal that is the same float32."""
    x = keras.Input((4,), name="x")
    y = L.Dense(
        3, kernel_regularizer=keras.regularizers.L1L2(0.01, 0.002), bias_regularizer="l1",
        activity_regularizer=keras.regularizers.OrthogonalRegularizer(0.123456789, mode="columns"),
        kernel_constraint=keras.constraints.MaxNorm(3), bias_constraint="non_neg", name="d",
    )(x)
    _, text = round_trip(keras.Model(x, y, name="r"))
    assert (
        "    - {type: Dense, name: d, units: 3, kernel_regularizer: {type: L1L2, l1: 0.01, l2: 0.002}, "
        "bias_regularizer: l1, activity_regularizer: {type: OrthogonalRegularizer, factor: 0.12345679, mode: columns}, "
        "kernel_constraint: {type: MaxNorm, max_value: 3.0}, bias_constraint: non_neg}"
    ) in text.splitlines()


def test_repeated_tuples_are_written_once():
    model = keras.Sequential([keras.Input((9, 9, 2)), L.ZeroPadding2D(((1, 1), (2, 2)), name="pad"),
                              L.Conv2D(2, (3, 3), strides=(2, 2), name="conv"), L.Cropping2D(((1, 0), (1, 0)), name="crop")])
    text = round_trip(model)[1]
    assert "    - {type: ZeroPadding2D, name: pad, padding: [1, 2]}" in text
    assert "    - {type: Conv2D, name: conv, filters: 2, kernel_size: 3, strides: 2}" in text
    assert "    - {type: Cropping2D, name: crop, cropping: [[1, 0], [1, 0]]}" in text


# ---- what cannot be imported --------------------------------------------------------------------


@keras.saving.register_keras_serializable(package="tests")
class Scale(L.Layer):
    def call(self, x):
        return x * 2.0


def unsupported_model():
    x = keras.Input((4,), name="x")
    h = L.Dense(4, name="d")(x)
    h = L.Lambda(lambda t: t + 1.0, name="plus_one")(h)
    h = Scale(name="scale")(h)
    return keras.Model(x, L.Dense(2, name="out")(h), name="custom")


UNSUPPORTED_MESSAGE = (
    "Cannot import model 'custom': kspec cannot express 2 thing(s) in it:\n"
    "  - Layer 'plus_one' (Lambda): Lambda layers hold Python code; a spec cannot name code (use a kspec layer type)\n"
    "  - Layer 'scale' (Scale): a custom layer class, not one of kspec's layer types\n"
)


def test_unsupported_layers_are_listed_all_at_once_with_their_names():
    with pytest.raises(UnsupportedModel) as refused:
        kspec.import_model(unsupported_model())
    assert str(refused.value) + "\n" == UNSUPPORTED_MESSAGE
    assert len(refused.value.problems) == 2  # nothing about the layers after them: their inputs are not at fault


def test_unsupported_arguments_name_the_layer_and_argument():
    x = keras.Input((4, 4, 2), name="x")
    h = L.Conv2D(2, 1, data_format="channels_first", name="conv")(x)
    h = L.Flatten(name="flat")(h)
    h = L.Dense(3, kernel_initializer=keras.initializers.Identity(), name="dense", trainable=False)(h)
    h = L.Dense(3, dtype="float64", name="wide")(h)
    with pytest.raises(UnsupportedModel) as refused:
        kspec.import_model(keras.Model(x, h, name="args"))
    assert refused.value.problems == [
        "Layer 'conv' (Conv2D): argument data_format='channels_first' is not supported: "
        "kspec does not offer this argument (kspec builds it with 'channels_last')",
        "Layer 'dense' (Dense): argument trainable=false is not supported: "
        "kspec does not offer this argument (kspec builds it with true)",
        "Layer 'dense' (Dense): argument kernel_initializer='Identity' is not supported: kspec offers the initializers "
        "Constant, GlorotNormal, GlorotUniform, HeNormal, HeUniform, LecunNormal, LecunUniform, Orthogonal, "
        "RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling",
        "Layer 'wide' (Dense): argument dtype={\"module\": \"keras\", \"class_name\": \"DTypePolicy\", \"config\": "
        "{\"name\": \"float64\"}, \"registered_name\": null} is not supported: kspec builds this layer with the "
        "float32 dtype policy",
    ]


def test_argument_values_kspec_refuses_are_reported():
    model = keras.Sequential([keras.Input((4,)), L.Dropout(1.0, name="drop"), L.Dense(2, name="d")])
    with pytest.raises(UnsupportedModel) as refused:
        kspec.import_model(model)
    (problem,) = refused.value.problems
    assert problem.startswith("Layer 'drop' (Dropout): argument rate=1.0 is not supported: Input should be less than 1")


class Net(keras.Model):
    """A subclassed model: its call is Python code."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.dense = L.Dense(4)

    def call(self, x):
        return self.dense(x)


def test_operations_and_nested_models_are_each_reported_once_for_what_they_are():
    """An operation kspec lacks is named as one (not as a custom layer class), once: not again for its call or
    for the layers after it; a nested subclassed model is named as a nested model, and the layers using its
    output add nothing."""
    x = keras.Input((4,), name="x")
    h = Net(name="inner")(L.Dense(4, name="d")(x))
    h = h // 2.0 + 1.0  # FloorDivide: not a kspec operation; Add: one
    h = keras.ops.mean(h, axis=None, keepdims=True)  # every axis, the batch axis too
    with pytest.raises(UnsupportedModel) as refused:
        kspec.import_model(keras.Model(x, L.Dense(2, name="out")(h), name="nested"))
    nested, floor_divide, mean = refused.value.problems  # (Keras numbers the operations' names process-wide)
    assert nested == (
        "Model 'inner' (Net), nested in the model as a layer: a subclassed model (its call is Python code); kspec "
        "takes the layers of nested keras.Sequential and Functional models"
    )
    assert floor_divide.startswith("Operation 'floor_divide") and floor_divide.endswith(
        " (FloorDivide): a keras.ops operation that kspec does not offer (its operations: docs/language.md)"
    )
    assert mean.startswith("Operation 'mean") and mean.endswith(
        " (Mean): argument axis=null is not supported: kspec names the axes: Keras's default acts on the batch axis too"
    )


def test_an_operator_between_two_tensors_is_reported_once():
    """`a // b` (an operation kspec lacks) feeding `+` (one it has, made by Keras as an `Add` Operation with two
    positional tensors): one problem, the FloorDivide; the `+` is neither a custom layer nor a positional call of
    the Add merge layer."""
    a, b = keras.Input((3,), name="a"), keras.Input((3,), name="b")
    y = (a // b) + b
    with pytest.raises(UnsupportedModel) as refused:
        kspec.import_model(keras.Model([a, b], L.Dense(1, name="out")(y), name="ops"))
    (problem,) = refused.value.problems
    assert "(FloorDivide): a keras.ops operation that kspec does not offer" in problem
    # The same `+` on supported operands imports, as ops.add of two tensors.
    spec, _ = round_trip(keras.Model([a, b], L.Dense(1, name="out")(a * 2.0 + b), name="ops"))
    assert {"ops.add", "ops.multiply"} <= {node.type for node in spec.model.nodes}


def tower(name: str = "tower", *, functional: bool = True):
    """A small tower: a Functional model (or a keras.Sequential one) of two Dense layers."""
    if not functional:
        return keras.Sequential([keras.Input((5,)), L.Dense(4, activation="relu", name=f"{name}_hidden"),
                                 L.Dense(3, name=f"{name}_out")], name=name)
    x = keras.Input((5,), name=f"{name}_in")
    h = L.Dense(4, activation="relu", name=f"{name}_hidden")(x)
    return keras.Model(x, L.Dense(3, name=f"{name}_out")(h), name=name)


def test_a_problem_inside_a_shared_nested_model_names_no_call_that_does_not_exist():
    """A nested Functional model called twice, its second call an output of the model (Keras numbers a Functional
    model's calls from 1 in `output_layers`): the layer it cannot take is reported once, and nothing else."""
    x = keras.Input((5,), name="tin")
    inner = keras.Model(x, L.Lambda(lambda t: t * 2.0, name="twice")(L.Dense(3, name="d")(x)), name="inner")
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    with pytest.raises(UnsupportedModel) as refused:
        kspec.import_model(keras.Model([a, b], [inner(a), inner(b)], name="twice_called"))
    assert refused.value.problems == [
        "Layer 'twice' (Lambda): Lambda layers hold Python code; a spec cannot name code (use a kspec layer type)"
    ]


def test_a_nested_model_called_with_arguments_a_spec_cannot_give():
    a = keras.Input((5,), name="a")
    with pytest.raises(UnsupportedModel) as refused:
        kspec.import_model(keras.Model(a, tower()(a, training=True), name="trained"))
    assert refused.value.problems == [
        "Model 'tower' (Functional), nested in the model as a layer: called with training=true, which a spec cannot give"
    ]


# ---- nested models ------------------------------------------------------------------------------


def test_an_augmentation_sequential_inside_a_functional_model_is_inlined():
    """keras.io's image classifiers: the augmentation is a keras.Sequential called first (inactive in inference)."""
    augment = keras.Sequential([L.RandomFlip("horizontal", name="flip"), L.RandomRotation(0.1, name="rotate")],
                               name="augment")
    x = keras.Input((8, 8, 3), name="image")
    h = L.Rescaling(1.0 / 255, name="rescale")(augment(x))
    h = L.GlobalAveragePooling2D(name="pool")(L.Conv2D(4, 3, activation="relu", name="conv")(h))
    original = keras.Model(x, L.Dense(2, activation="softmax", name="probs")(h), name="classifier")
    spec, text = round_trip(original)
    assert isinstance(spec.model, SequentialModel)  # a chain, once inlined
    assert [layer.name for layer in spec.model.layers] == ["flip", "rotate", "rescale", "conv", "pool", "probs"]


def test_augmentation_layers_called_in_a_functional_model():
    """Keras records `training=True` on their plain calls (the default of their call): not an argument."""
    x = keras.Input((8, 8, 3), name="image")
    h = L.RandomContrast(0.2, name="contrast")(L.RandomFlip(name="flip")(x))
    original = keras.Model(x, L.Dense(2, name="out")(keras.ops.relu(h)), name="augmented")
    spec, _ = round_trip(original)
    assert [node.type for node in spec.model.layers][:2] == ["RandomFlip", "RandomContrast"]


def test_a_sequential_model_that_starts_with_a_nested_sequential():
    augment = keras.Sequential([L.RandomFlip(name="flip"), L.GaussianNoise(0.1, name="noise")], name="augment")
    original = keras.Sequential([keras.Input((6, 6, 1)), augment, L.Flatten(name="flat"), L.Dense(2, name="out")],
                                name="seq")
    spec, _ = round_trip(original)
    assert isinstance(spec.model, SequentialModel)
    assert [layer.name for layer in spec.model.layers] == ["flip", "noise", "flat", "out"]


def test_an_encoder_and_a_decoder_chained_keep_unique_names():
    """Two Functional models chained (an autoencoder); both have a layer named 'hidden': the second one's is
    renamed after its model."""
    def half(name, units_in, units_out):
        x = keras.Input((units_in,), name=f"{name}_in")
        h = L.Dense(4, activation="relu", name="hidden")(x)
        return keras.Model(x, L.Dense(units_out, name=f"{name}_out")(h), name=name)

    encoder, decoder = half("encoder", 6, 2), half("decoder", 2, 6)
    x = keras.Input((6,), name="x")
    original = keras.Model(x, decoder(encoder(x)), name="autoencoder")
    spec, _ = round_trip(original, names={id(decoder.get_layer("hidden")): "decoder_hidden"})
    assert [layer.name for layer in spec.model.layers] == ["hidden", "encoder_out", "decoder_hidden", "decoder_out"]


@pytest.mark.parametrize("functional", [True, False])
def test_a_tower_called_on_two_inputs_shares_its_layers(functional):
    """A siamese model: one tower, called on two inputs, shares its layers (the second call's are `shares` nodes),
    with the tower's parameters counted once."""
    shared = tower(functional=functional)
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    distance = L.Subtract(name="diff")([shared(a), shared(b)])
    original = keras.Model([a, b], L.Dense(1, activation="sigmoid", name="same")(distance), name="siamese")
    spec, _ = round_trip(original)
    shares = [(n.name, n.shares, n.inputs) for n in spec.model.nodes if isinstance(n, SharedNode)]
    assert shares == [("tower_hidden_call1", "tower_hidden", ["b"]), ("tower_out_call1", "tower_out", ["tower_hidden_call1"])]
    assert kspec.check(spec_text(spec)).inference.total_params == original.count_params()


def test_the_calls_of_a_nested_functional_model_as_the_outputs():
    """Keras numbers a nested Functional model's calls from 1 in the outputs (its own node is 0), from 0 in the
    calls of layers: both read as the model's first and second call."""
    shared = tower()
    a, b = keras.Input((5,), name="a"), keras.Input((5,), name="b")
    original = keras.Model([a, b], [shared(a), shared(b)], name="two_outputs")
    spec, _ = round_trip(original)
    assert spec.model.outputs == ["tower_out", "tower_out_call1"]


def test_models_nested_two_deep_and_a_nested_output_that_is_its_input():
    inner = tower("inner")
    x = keras.Input((5,), name="mid_in")
    middle = keras.Model(x, [L.Dense(5, name="mid_dense")(inner(x)), x], name="middle")  # also returns its input
    a = keras.Input((5,), name="a")
    y, same = middle(a)
    original = keras.Model(a, L.Add(name="sum")([y, same]), name="outer")
    spec, _ = round_trip(original)
    assert [n.name for n in spec.model.nodes] == ["inner_hidden", "inner_out", "mid_dense", "sum"]
    assert spec.model.nodes[-1].inputs == ["mid_dense", "a"]


def test_a_nested_model_of_two_inputs_called_on_a_list():
    p, q = keras.Input((3,), name="p"), keras.Input((2,), name="q")
    joined = L.Concatenate(name="join")([p, q])
    inner = keras.Model([p, q], L.Dense(2, name="mix")(joined), name="mixer")
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    spec, _ = round_trip(keras.Model([a, b], L.Dense(1, name="out")(inner([a, b])), name="two_inputs"))
    assert [(n.name, n.inputs) for n in spec.model.nodes] == [("join", ["a", "b"]), ("mix", ["join"]), ("out", ["mix"])]


def test_a_sequential_without_an_input_shape_around_a_nested_model():
    original = keras.Sequential([keras.Sequential([L.Dense(2, name="inner_dense")], name="inner"), L.Dense(1, name="out")],
                                name="unbuilt")
    with pytest.raises(UnsupportedModel) as refused:
        kspec.import_model(original)
    assert refused.value.problems == [
        "The Sequential model has no input shape: build it, or start it with keras.Input(shape=...)",
        "Model 'inner' (Sequential), nested in the model as a layer: not inlined, as the Sequential model around it "
        "has no input shape",
    ]


def test_a_nested_keras_application_imports_as_its_layers():
    """keras.io's transfer learning: an application without its top, called inside a small model."""
    base = keras.applications.MobileNetV3Small(weights=None, input_shape=(32, 32, 3), include_top=False,
                                               include_preprocessing=False)
    x = keras.Input((32, 32, 3), name="image")
    h = L.GlobalAveragePooling2D(name="pool")(base(x))
    original = keras.Model(x, L.Dense(3, activation="softmax", name="probs")(h), name="transfer")
    round_trip(original)


def test_an_operation_on_the_batch_axis_is_refused_by_the_check():
    x = keras.Input((4, 3), name="x")
    y = L.Dense(2, name="out")(keras.ops.transpose(L.Dense(4, name="d")(x), (1, 0, 2)))
    with pytest.raises(UnsupportedModel) as refused:
        kspec.import_model(keras.Model(x, y, name="t"))
    (problem,) = refused.value.problems
    assert "moves the batch axis" in problem and "kspec policy" in problem


def test_a_subclassed_model_is_refused():
    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.d = L.Dense(2)

        def call(self, x):
            return self.d(x)

    net = Net()
    net(np.zeros((1, 3), "float32"))
    with pytest.raises(UnsupportedModel, match="kspec imports keras.Sequential and Functional models"):
        kspec.import_model(net)


def test_nothing_in_a_model_file_runs(tmp_path):
    """The config is read as data: a Lambda whose code would write a file is reported, never run (and the custom
    class is never looked up)."""
    marker = tmp_path / "ran"
    where = str(marker)
    x = keras.Input((2,))
    y = L.Lambda(lambda t: (open(where, "w").close(), t)[1], name="side_effect")(x)
    model = keras.Model(x, y, name="evil")
    marker.unlink()  # Keras ran it once, to trace the model
    model.save(tmp_path / "evil.keras")
    with pytest.raises(UnsupportedModel, match="'side_effect' \\(Lambda\\)"):
        kspec.import_model(tmp_path / "evil.keras")
    assert not marker.exists()


@pytest.mark.parametrize(
    "content, message",
    [
        ("not json", "'{path}' is not valid JSON: Expecting value (line 1, column 1)."),
        ("[1, 2]", "'{path}' is not a serialised Keras model: expected an object with 'class_name' and 'config' (what model.to_json() writes)."),
    ],
)
def test_unreadable_files_are_model_file_errors(tmp_path, content, message):
    path = tmp_path / "m.json"
    path.write_text(content)
    with pytest.raises(ModelFileError) as refused:
        kspec.import_model(path)
    assert str(refused.value) == message.format(path=path)


def test_a_keras_file_that_is_not_an_archive(tmp_path):
    path = tmp_path / "m.keras"
    path.write_text("{}")
    with pytest.raises(ModelFileError, match="is not a .keras archive"):
        kspec.import_model(path)


# ---- the command line -----------------------------------------------------------------------------


def run(*args: str):
    return CliRunner().invoke(main, ["import", *args])


def test_cli_writes_the_spec(tmp_path):
    model = small_model()
    model.save(tmp_path / "m.keras")
    out = tmp_path / "m.yaml"
    result = run(str(tmp_path / "m.keras"), "-o", str(out))
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        f"Imported 'small_model_1' (4 layers, {model.count_params()} parameters, graph form) to {out}. "
        "Its training section is a placeholder: edit it before training.\n"
    )
    assert out.read_text().startswith("# Imported by `kspec import` from m.keras.\n")
    assert kspec.check(out).ok


def test_cli_never_overwrites_silently(tmp_path):
    small_model().save(tmp_path / "m.keras")
    out = tmp_path / "m.yaml"
    out.write_text("mine\n")
    result = run(str(tmp_path / "m.keras"), "-o", str(out))
    assert result.exit_code == 2
    assert result.stderr.endswith(f"Error: '{out}' exists; use --force to replace it.\n")
    assert out.read_text() == "mine\n"
    result = run(str(tmp_path / "m.keras"), "-o", str(out), "--force")
    assert result.exit_code == 0 and kspec.check(out).ok


def test_cli_prints_to_stdout_and_writes_json(tmp_path):
    (tmp_path / "m.json").write_text(small_model().to_json())
    result = run(str(tmp_path / "m.json"), "--name", "mine")
    assert result.exit_code == 0, result.output
    assert kspec.check(result.stdout).spec.name == "mine"
    out = tmp_path / "spec.json"
    assert run(str(tmp_path / "m.json"), "-o", str(out)).exit_code == 0
    assert json.loads(out.read_text())["kspec"] == 1 and kspec.check(out).spec == kspec.import_model(small_model())
    lines = out.read_text().splitlines()
    assert '      {"type": "Dense", "name": "shared", "inputs": "x", "units": 6, "activation": "relu", ' \
        '"kernel_initializer": "he_normal"},' in lines  # one line per layer
    assert '      {"name": "shared_call1", "shares": "shared", "inputs": "shared"},' in lines


def test_cli_unsupported_model_exits_1_listing_everything(tmp_path):
    unsupported_model().save(tmp_path / "custom.keras")
    result = run(str(tmp_path / "custom.keras"), "-o", str(tmp_path / "out.yaml"))
    assert result.exit_code == 1
    assert result.stderr == UNSUPPORTED_MESSAGE
    assert result.stdout == "" and not (tmp_path / "out.yaml").exists()  # no partial spec


def test_cli_io_errors_exit_2(tmp_path):
    result = run(str(tmp_path / "missing.keras"))
    assert result.exit_code == 2
    assert result.stderr == f"Error: Cannot read '{tmp_path / 'missing.keras'}': No such file or directory.\n"
    (tmp_path / "bad.json").write_text("{")
    result = run(str(tmp_path / "bad.json"))
    assert result.exit_code == 2
    assert "is not valid JSON" in result.stderr and "Traceback" not in result.output


def test_readme_documents_the_command():
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert "kspec import MODEL" in readme and "placeholder" in readme
