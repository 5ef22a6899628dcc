"""Initializers, regularizers and constraints against the tensors they land on, with Keras as the oracle.

A layer's weights are known to kspec exactly (`Inferred.weights`; tests/layers/harness.py checks every layer
configuration's weight shapes against Keras's). What is left to prove is that `fit_problem` refuses exactly the
argument objects that fail on a tensor of a given shape: here every object of the language (each name, each
configuration with its edge arguments) meets tensors of every rank from 0 to 5, with axes of size 1 among them,
and Keras's own object runs on a tensor of that shape. It fails, or gives a non-finite value, exactly where
kspec refuses, unless kspec's refusal is a documented policy. Then the cases found by random specs, through
the whole pipeline: `kspec.check`, and Keras building and training the model.
"""

from __future__ import annotations

import numpy as np
import pytest

import kspec
from kspec.spec import objects
from kspec.spec.base import to_keras_value
from kspec.spec.objects import fit_problem

SHAPES = [(), (1,), (3,), (1, 3), (3, 1), (2, 3), (1, 1), (3, 2, 4), (1, 4, 1), (1, 1, 2, 3), (2, 2, 3, 4, 2)]
AXES = (-6, -5, -4, -3, -2, -1, 0, 1, 2, 3, 4, 5)


def _initializers() -> list:
    configs = [cls(type=cls.model_fields["type"].annotation.__args__[0]) for cls in _classes(objects.InitializerConfig)]
    return list(objects.INITIALIZER_NAMES) + configs


def _regularizers() -> list:
    return ["l1", "l2"] + [
        objects.L1(type="L1"),
        objects.L2(type="L2"),
        objects.L1L2(type="L1L2", l1=0.01, l2=0.01),
        objects.OrthogonalRegularizer(type="OrthogonalRegularizer", mode="rows"),
        objects.OrthogonalRegularizer(type="OrthogonalRegularizer", mode="columns"),
    ]


def _constraints() -> list:
    out: list = ["max_norm", "min_max_norm", "non_neg", "unit_norm", objects.NonNeg(type="NonNeg")]
    for axis in AXES:
        out += [
            objects.MaxNorm(type="MaxNorm", axis=axis),
            objects.MinMaxNorm(type="MinMaxNorm", axis=axis, min_value=0.5),
            objects.UnitNorm(type="UnitNorm", axis=axis),
        ]
    return out


def _classes(union) -> list:
    """The classes of a discriminated union `Annotated[Union[...], Field(...)]`."""
    from typing import get_args

    return list(get_args(get_args(union)[0]))


def _keras_outcome(kind: str, value, shape: tuple) -> str | None:
    """How Keras's own object fails on a tensor of this shape (raises, or gives non-finite values), or None."""
    import keras

    getter = {"initializer": keras.initializers.get, "regularizer": keras.regularizers.get, "constraint": keras.constraints.get}[kind]
    obj = getter(to_keras_value(value))
    x = keras.ops.convert_to_tensor(np.random.default_rng(0).standard_normal(shape).astype("float32"))
    try:
        result = obj(shape, dtype="float32") if kind == "initializer" else obj(x)
    except Exception as exc:  # noqa: BLE001 - any Keras failure counts
        return f"{type(exc).__name__}: {exc}"
    if not np.all(np.isfinite(keras.ops.convert_to_numpy(result))):
        return "non-finite values"
    return None


CASES = [
    (kind, value, shape)
    for kind, values in (("initializer", _initializers()), ("regularizer", _regularizers()), ("constraint", _constraints()))
    for value in values
    for shape in SHAPES
]


def _id(case) -> str:
    kind, value, shape = case
    shown = value if isinstance(value, str) else f"{value.type}{value.model_dump(exclude_defaults=True, exclude={'type'})}"
    return f"{kind}-{shown}-{shape}"


@pytest.mark.parametrize("kind, value, shape", CASES, ids=[_id(c) for c in CASES])
def test_fit_problem_agrees_with_keras_on_weights(kind, value, shape):
    problem = fit_problem(value, shape)
    failure = _keras_outcome(kind, value, shape)
    if problem is None:
        assert failure is None, f"kspec accepts {_id((kind, value, shape))}, but Keras: {failure}"
    elif problem[1] is None:  # not a policy: Keras must fail
        assert failure is not None, f"kspec refuses {_id((kind, value, shape))} ({problem[0]}), but Keras runs it"


@pytest.mark.parametrize("mode, shape, policy", [("rows", (2, 3), True), ("columns", (2, 3), False), ("columns", (2, 1), False)])
def test_orthogonal_activity_regularizer(mode, shape, policy):
    """As an activity regularizer, the rows are the batch's examples: refused (a policy) whatever the batch here."""
    reg = objects.OrthogonalRegularizer(type="OrthogonalRegularizer", mode=mode)
    problem = fit_problem(reg, (None,) + shape[1:], activity=True)
    if policy:
        assert problem is not None and problem[1] == "orthogonal-penalty"
        assert _keras_outcome("regularizer", reg, (1,) + shape[1:]) is not None  # a batch of one: NaN
    else:
        assert (problem is None) == (_keras_outcome("regularizer", reg, shape) is None)


# ---- through the whole pipeline -------------------------------------------------------------------------------


def _spec(layers: list, input_shape=(4,), dtype="float32", loss="mse") -> dict:
    return {
        "kspec": 1,
        "name": "arguments",
        "model": {"input": {"shape": list(input_shape), "dtype": dtype}, "layers": layers},
        "training": {"optimizer": "sgd", "loss": loss},
    }


ORTHO = {"type": "OrthogonalRegularizer"}
ORTHO_COLUMNS = {"type": "OrthogonalRegularizer", "mode": "columns"}
HEAD = {"type": "Dense", "units": 2}

#: (spec, field blamed) that kspec refuses and that fail in Keras: the cases found by random specs.
REFUSED = [
    (_spec([{"type": "Dense", "units": 3, "bias_regularizer": ORTHO}]), "bias_regularizer"),
    (_spec([{"type": "Conv2D", "filters": 2, "kernel_size": 2, "kernel_regularizer": ORTHO}, {"type": "Flatten"}, HEAD], (4, 4, 1)), "kernel_regularizer"),
    (_spec([{"type": "PReLU", "alpha_regularizer": ORTHO}, HEAD], (4,)), "alpha_regularizer"),
    (_spec([{"type": "Dense", "units": 3, "activity_regularizer": ORTHO_COLUMNS}, {"type": "Flatten"}, HEAD], (2, 4)), "activity_regularizer"),
    (_spec([{"type": "Dense", "units": 1, "kernel_regularizer": ORTHO_COLUMNS}]), "kernel_regularizer"),
    (_spec([{"type": "LSTM", "units": 1, "recurrent_regularizer": ORTHO}], (3, 2)), "recurrent_regularizer"),
    (_spec([{"type": "Embedding", "input_dim": 1, "output_dim": 2, "embeddings_regularizer": ORTHO}, {"type": "Flatten"}, HEAD], (3,), "int32"), "embeddings_regularizer"),
    (_spec([{"type": "Dense", "units": 2, "bias_constraint": {"type": "MinMaxNorm", "axis": -2}}]), "bias_constraint"),
    (_spec([{"type": "Dense", "units": 2, "bias_initializer": "orthogonal"}]), "bias_initializer"),
    (_spec([{"type": "BatchNormalization", "beta_initializer": "orthogonal"}, HEAD]), "beta_initializer"),
    (_spec([{"type": "Bidirectional", "layer": {"type": "LSTM", "units": 2, "bias_initializer": {"type": "Orthogonal"}}}], (3, 2)), "layer"),
    (_spec([{"type": "TimeDistributed", "layer": {"type": "Dense", "units": 2, "kernel_constraint": {"type": "UnitNorm", "axis": 2}}}], (3, 2)), "layer"),
]


@pytest.mark.parametrize("spec, field", REFUSED, ids=[f"{s['model']['layers'][0]['type']}-{f}" for s, f in REFUSED])
def test_refused_argument_objects_fail_in_keras(spec, field):
    report = kspec.check(spec)
    assert not report.ok
    (error,) = report.errors
    assert error.path[-1] == field and error.policy is None, (error.path, error.message)
    assert "cannot apply to its" in error.message
    # What Keras does with the layer as the spec wrote it
    assert _keras_fails(spec) is not None


def _keras_fails(spec: dict) -> str | None:
    """Keras builds the spec's layers itself (no kspec check in between) and trains one step."""
    import keras

    from kspec.compile import build_layer
    from kspec.spec.layers import parse_layer

    keras.backend.clear_session()
    model_spec = spec["model"]
    shape, dtype = tuple(model_spec["input"]["shape"]), model_spec["input"]["dtype"]
    try:
        x = inputs = keras.Input(shape, dtype=dtype)
        for layer_spec in model_spec["layers"]:
            x = build_layer(parse_layer(layer_spec))(x)
        model = keras.Model(inputs, x)
        model.compile(optimizer="sgd", loss="mse")
        rng = np.random.default_rng(0)
        data = rng.integers(0, 1, (2,) + shape) if dtype.startswith("int") else rng.standard_normal((2,) + shape)
        loss = model.train_on_batch(data.astype(dtype), np.zeros((2,) + tuple(x.shape[1:]), "float32"), return_dict=True)["loss"]
    except Exception as exc:  # noqa: BLE001 - any Keras failure counts
        return f"{type(exc).__name__}: {exc}"
    return None if np.isfinite(loss) else f"non-finite loss {loss}"


ACCEPTED = [
    _spec([{"type": "Dense", "units": 2, "kernel_regularizer": ORTHO, "kernel_initializer": "orthogonal", "bias_constraint": {"type": "MaxNorm", "axis": -1}}]),
    _spec([{"type": "Conv2D", "filters": 2, "kernel_size": 2, "kernel_initializer": {"type": "Orthogonal"}, "kernel_constraint": {"type": "UnitNorm", "axis": 3}}, {"type": "Flatten"}, HEAD], (4, 4, 1)),
    _spec([{"type": "Dense", "units": 3, "activity_regularizer": ORTHO_COLUMNS}]),
    _spec([{"type": "LSTM", "units": 2, "recurrent_regularizer": ORTHO, "kernel_regularizer": ORTHO_COLUMNS}], (3, 2)),
]


@pytest.mark.parametrize("spec", ACCEPTED, ids=[s["model"]["layers"][0]["type"] for s in ACCEPTED])
def test_accepted_argument_objects_train(spec):
    assert kspec.check(spec).ok, [d.message for d in kspec.check(spec).errors]
    assert _keras_fails(spec) is None
