"""The whole Keras vocabulary of training objects (kspec/spec/losses.py, metrics.py, optimizers.py) against
Keras 3.15, the oracle: every class of `keras.losses`, `keras.metrics` and `keras.optimizers` is in the language
or left out for a stated reason; each takes Keras's arguments with Keras's defaults; every name and alias is one
Keras resolves to the same object; every loss trains a step on fitting labels, every metric runs on its
output, every optimizer updates weights; the checks against outputs and labels refuse exactly what Keras fails
on (or what a documented policy refuses); the layers an optimizer names exist; `validation_data: test`.

CTC (per-step logits and integer label sequences) and Circle (embeddings and group ids) are checked here on
outputs made for them; the property tests draw them on every head, where kspec refuses them as Keras fails.
"""

from __future__ import annotations

import inspect
from collections import Counter
from pathlib import Path

import keras
import numpy as np
import pytest

import kspec
from kspec.compile import build_model, compile_model
from kspec.keras_objects import optimizer as keras_optimizer
from kspec.spec.losses import LOSS_ALIASES, LOSS_TYPES, LOSSES, loss_class, loss_kind
from kspec.spec.metrics import AUTO_ACCURACY, METRIC_ALIASES, METRIC_CANONICAL, METRIC_TYPES
from kspec.spec.optimizers import OPTIMIZER_ALIASES, OPTIMIZER_NAMES, OPTIMIZER_TYPES
from kspec.spec.training import Training
from tests.test_spec_properties import _labels, _loss_failure, check_accepted

#: Classes of Keras's modules that are not in the language, and why.
LEFT_OUT = {
    "losses": {"Loss": "the base class (a loss is code)"},
    "metrics": {
        "Metric": "the base class (a metric is code)",
        "MeanMetricWrapper": "it wraps a Python function",
        "Mean": "it averages one tensor of values; compile passes it labels and predictions (Keras fails)",
        "Sum": "it adds one tensor of values; compile passes it labels and predictions (Keras fails)",
    },
    "optimizers": {
        "Optimizer": "the base class (an optimizer is code)",
        "OptimizerMap": "declared inside MultiOptimizer, as its default_optimizer and optimizer_map",
    },
}
#: Keras arguments no kspec class takes, and why: names and dtypes of the objects, and the axes that kspec's
#: channels-last labels fix at the last one.
LEFT_OUT_ARGUMENTS = {"name", "dtype", "kwargs"}
AXIS_FIXED = {
    "SparseCategoricalCrossentropy", "CategoricalCrossentropy", "BinaryCrossentropy", "CategoricalFocalCrossentropy",
    "BinaryFocalCrossentropy", "CosineSimilarity", "ConcordanceCorrelation", "PearsonCorrelation", "IoU", "MeanIoU",
    "OneHotIoU", "OneHotMeanIoU",
}  # fmt: skip
#: Arguments left out of one class: (class, argument) -> why.
LEFT_OUT_OF = {
    ("SparseTopKCategoricalAccuracy", "from_sorted_ids"): "a model's output is class scores, not sorted ids",
}
#: kspec's fields that Keras's signature names otherwise (the wrappers take other optimizers).
WRAPPERS = {"LossScaleOptimizer", "MultiOptimizer"}


def _keras_classes(module) -> set[str]:
    return {n for n in dir(module) if inspect.isclass(getattr(module, n)) and n[0].isupper()}


def test_every_keras_class_is_in_the_language_or_left_out_with_a_reason() -> None:
    for name, module, kspec_types in [
        ("losses", keras.losses, set(LOSS_TYPES)),
        ("metrics", keras.metrics, set(METRIC_TYPES)),
        ("optimizers", keras.optimizers, set(OPTIMIZER_TYPES) | WRAPPERS),
    ]:
        keras_types = _keras_classes(module)
        assert kspec_types <= keras_types, (name, kspec_types - keras_types)
        assert keras_types - kspec_types == set(LEFT_OUT[name]), (name, keras_types - kspec_types)
    assert len(LOSS_TYPES) == 22 and len(METRIC_TYPES) == 42 and len(OPTIMIZER_TYPES) + len(WRAPPERS) == 16


def _signature(cls) -> dict[str, object]:
    return {
        n: p.default
        for n, p in inspect.signature(cls.__init__).parameters.items()
        if n != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
    }


@pytest.mark.parametrize(
    "module, table",
    [(keras.losses, LOSS_TYPES), (keras.metrics, METRIC_TYPES), (keras.optimizers, OPTIMIZER_TYPES)],
    ids=["losses", "metrics", "optimizers"],
)
def test_arguments_and_defaults_are_keras_s(module, table) -> None:
    """Each class takes Keras's arguments (but names, dtypes, the fixed axes and the few left out with a
    reason), with Keras's defaults (a required argument is required in both)."""
    for type_name, cls in table.items():
        keras_args = _signature(getattr(module, type_name))
        ours = {n: f for n, f in cls.model_fields.items() if n != "type"}
        expected = set(keras_args) - LEFT_OUT_ARGUMENTS - ({"axis"} if type_name in AXIS_FIXED else set())
        expected -= {arg for (c, arg) in LEFT_OUT_OF if c == type_name}
        assert set(ours) == expected, (type_name, set(ours) ^ expected)
        for name, info in ours.items():
            default = keras_args[name]
            if default is inspect.Parameter.empty:
                assert info.is_required(), (type_name, name)
            else:
                ours_default = info.get_default(call_default_factory=True)
                ours_default = tuple(ours_default) if isinstance(ours_default, list) else ours_default
                keras_default = tuple(default) if isinstance(default, list) else default
                if type_name == "Muon" and name == "exclude_layers":  # Keras's None is []
                    keras_default = ()
                assert ours_default == keras_default, (type_name, name, ours_default, keras_default)


def test_wrappers_take_keras_s_arguments() -> None:
    assert set(Training.model_fields["optimizer"].annotation.__args__)  # the union exists
    lso = _signature(keras.optimizers.LossScaleOptimizer)
    assert lso == {"inner_optimizer": inspect.Parameter.empty, "initial_scale": 32768.0, "dynamic_growth_steps": 2000,
                   "name": None}
    multi = _signature(keras.optimizers.MultiOptimizer)
    assert set(multi) == {"optimizer_map", "loss_scale_factor", "name"}
    assert set(_signature(keras.optimizers.OptimizerMap)) == {"default_optimizer", "optimizer_map"}


# ---- names and aliases --------------------------------------------------------------------------


def _training(**fields) -> Training:
    return Training.model_validate({"loss": "mse", **fields}, strict=True)


def _same(a, b) -> bool:
    """The same Keras loss or metric: the same function, or instances of the same class."""
    return a is b or (type(a) is type(b) and not inspect.isfunction(a))


def test_every_loss_name_is_keras_s_and_aliases_become_the_name() -> None:
    for alias, name in LOSS_ALIASES.items():
        assert _training(loss=alias).loss == name
        assert _same(keras.losses.get(alias), keras.losses.get(name)) or type(keras.losses.get(alias)).__name__ == alias
        assert getattr(keras.losses.get(alias), "fn", keras.losses.get(alias)) is keras.losses.get(name), alias
    for name, kind in LOSSES.items():
        assert _training(loss=name).loss == name
        assert inspect.isfunction(keras.losses.get(name)), name
        assert loss_kind(name) == kind == loss_class(name).labels
    with pytest.raises(ValueError):  # Keras's table leaves it out: kspec takes only its {type: ...} form
        keras.losses.get("categorical_generalized_cross_entropy")
    for refused in ("crossentropy", "ce", "categorical_generalized_cross_entropy"):
        assert not kspec.check(_spec({"loss": refused})).ok


def test_every_metric_name_is_keras_s_and_aliases_become_the_name() -> None:
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(3, activation="softmax")])
    for alias, name in METRIC_ALIASES.items():
        assert _training(metrics=[alias]).metrics == [name]
    for name in METRIC_CANONICAL:
        if name == AUTO_ACCURACY:
            continue
        assert isinstance(keras.metrics.get(name), keras.metrics.Metric), name
    for alias, name in METRIC_ALIASES.items():
        if name == AUTO_ACCURACY:  # compile's convenience: any case of acc/accuracy
            continue
        assert type(keras.metrics.get(alias)) is type(keras.metrics.get(name)), alias
    model.compile("sgd", "categorical_crossentropy", metrics=["acc", "Accuracy", "ACC"])  # Keras takes them
    assert _training(callbacks=[{"type": "EarlyStopping", "monitor": "val_acc"}]).callbacks[0].monitor == "val_accuracy"
    assert _training(callbacks=[{"type": "EarlyStopping", "monitor": "out_mse"}]).callbacks[0].monitor == (
        "out_mean_squared_error"
    )
    assert _training(callbacks=[{"type": "EarlyStopping", "monitor": "val_loss"}]).callbacks[0].monitor == "val_loss"


def test_every_optimizer_name_is_keras_s_and_aliases_become_the_name() -> None:
    for name in OPTIMIZER_NAMES:
        canonical = OPTIMIZER_ALIASES.get(name, name)
        assert _training(optimizer=name).optimizer == canonical
        assert type(keras.optimizers.get(name)) is type(keras.optimizers.get(canonical)), name
        assert type(keras.optimizers.get(canonical)).__name__.lower() == canonical
    with pytest.raises(ValueError):  # Keras's table leaves Lamb out: only {type: Lamb} is taken
        keras.optimizers.get("lamb")


# ---- every object builds and trains -----------------------------------------------------------------

#: One configuration of each loss class with some arguments away from Keras's defaults.
LOSS_CONFIGS = {
    "SparseCategoricalCrossentropy": {"from_logits": True, "ignore_class": 1},
    "CategoricalCrossentropy": {"label_smoothing": 0.1, "reduction": "sum"},
    "BinaryCrossentropy": {"from_logits": True, "label_smoothing": 0.2},
    "CategoricalFocalCrossentropy": {"alpha": 0.5, "gamma": 1.5},
    "BinaryFocalCrossentropy": {"apply_class_balancing": True, "alpha": 0.7},
    "CategoricalGeneralizedCrossEntropy": {"q": 0.7},
    "KLDivergence": {"reduction": "mean"},
    "Poisson": {},
    "MeanSquaredError": {"reduction": "mean"},
    "MeanAbsoluteError": {"reduction": "sum"},
    "MeanAbsolutePercentageError": {},
    "MeanSquaredLogarithmicError": {},
    "CosineSimilarity": {},
    "Huber": {"delta": 0.5},
    "LogCosh": {},
    "Hinge": {},
    "SquaredHinge": {},
    "CategoricalHinge": {"reduction": "mean_with_sample_weight"},
    "Dice": {"axis": [1]},
    "Tversky": {"alpha": 0.3, "beta": 0.7, "axis": -1},
    "Circle": {"gamma": 64.0, "margin": 0.25, "remove_diagonal": False},
    "CTC": {},
}


def _head(kind: str, loss, name: str, logits: bool = False) -> list[dict]:
    """The nodes of an output that fits the loss: softmax classes, sigmoid units, a non-negative or any
    regression, unit-norm embeddings, per-step logits."""
    cls = loss_class(loss)
    if kind == "ctc":
        return [{"name": name, "type": "Dense", "units": 5, "inputs": "x"}]
    if kind == "ids":
        return [{"name": f"{name}_e", "type": "Dense", "units": 4, "inputs": "flat"},
                {"name": name, "type": "UnitNormalization", "inputs": f"{name}_e"}]  # fmt: skip
    activation = {"sparse": "softmax", "one_hot": "softmax", "binary": "sigmoid"}.get(kind)
    if kind == "regression" and cls.logarithm:
        activation = "softplus"
    if logits or cls.reads_logits:
        activation = None
    head = {"name": name, "type": "Dense", "units": 4 if kind in ("sparse", "one_hot") else 3, "inputs": "flat"}
    return [head | ({"activation": activation} if activation else {})]


def _graph_spec(losses: dict[str, object], metrics=None) -> dict:
    nodes: list[dict] = [{"name": "flat", "type": "Flatten", "inputs": "x"}]
    for name, loss in losses.items():
        nodes += _head(loss_kind(_parse_loss(loss)), _parse_loss(loss), name, getattr(_parse_loss(loss), "from_logits", False))
    training = {"optimizer": {"type": "Adam", "learning_rate": 0.01}, "loss": losses}
    if metrics:
        training["metrics"] = metrics
    return {"kspec": 1, "name": "every_loss", "model": {"inputs": [{"name": "x", "shape": [6, 3]}], "nodes": nodes,
            "outputs": list(losses)}, "training": training}  # fmt: skip


def _parse_loss(loss):
    return Training.model_validate({"loss": loss}, strict=True).loss


def _train_step(report, batch: int = 8) -> tuple[dict, list[str]]:
    """One training step on fitting labels: the result and the outputs whose layer no weight changed."""
    inf = report.inference
    model = compile_model(build_model(report.spec, inf), report.spec.training, steps_per_execution=1)
    model.run_eagerly = True  # one step: no graph to trace
    rng = np.random.default_rng(0)
    x = {"x": rng.standard_normal((batch, 6, 3)).astype("float32")}
    outs = model(x, training=False)
    outs = outs if isinstance(outs, list | tuple) else [outs]
    losses = report.spec.training.loss
    y = {name: _labels(losses[name], tuple(o.shape), rng) for name, o in zip(inf.outputs, outs, strict=True)}
    layers = {name: model.get_layer(name if inf.node(name).params else f"{name}_e") for name in inf.outputs}
    before = {name: [np.array(w) for w in layer.trainable_weights] for name, layer in layers.items()}
    result = model.train_on_batch(x, y if len(y) > 1 else y[inf.outputs[0]], return_dict=True)
    unchanged = [
        name
        for name, layer in layers.items()
        if all(np.array_equal(np.array(w), b) for w, b in zip(layer.trainable_weights, before[name], strict=True))
    ]
    return result, unchanged


def test_every_loss_trains_a_step_on_fitting_labels() -> None:
    """Every loss by name with its defaults, and every loss class with other arguments: each head of one model
    gets its gradient from its own loss, and one step changes every head's weights."""
    losses: dict[str, object] = {f"n_{name}": name for name in LOSSES}
    losses |= {f"c_{t}": {"type": t, **args} for t, args in LOSS_CONFIGS.items()}
    assert set(LOSS_CONFIGS) == set(LOSS_TYPES)
    report = kspec.check(_graph_spec(losses))
    assert report.ok, [d.message for d in report.errors]
    result, unchanged = _train_step(report)
    assert np.isfinite(result["loss"]) and unchanged == [], (result["loss"], unchanged)


#: Metrics per head kind, each class once (with its required arguments, some others away from the defaults).
METRICS = {
    "sparse": [
        {"type": "SparseCategoricalAccuracy"}, {"type": "SparseCategoricalCrossentropy", "ignore_class": 0},
        {"type": "SparseTopKCategoricalAccuracy", "k": 2}, {"type": "IoU", "num_classes": 4, "target_class_ids": [0, 2], "sparse_y_pred": False},
        {"type": "MeanIoU", "num_classes": 4, "sparse_y_pred": False, "ignore_class": 3}, "accuracy",
    ],
    "one_hot": [
        {"type": "CategoricalAccuracy"}, {"type": "CategoricalCrossentropy", "label_smoothing": 0.1},
        {"type": "TopKCategoricalAccuracy", "k": 3}, {"type": "CategoricalHinge"}, {"type": "KLDivergence"},
        {"type": "OneHotIoU", "num_classes": 4, "target_class_ids": [1]}, {"type": "OneHotMeanIoU", "num_classes": 4},
        {"type": "IoU", "num_classes": 4, "target_class_ids": [0], "sparse_y_true": False, "sparse_y_pred": False},
        {"type": "F1Score", "average": "macro"}, {"type": "FBetaScore", "beta": 2.0, "threshold": 0.5},
        {"type": "AUC", "multi_label": True, "num_labels": 4, "label_weights": [1.0, 2.0, 1.0, 1.0]},
        {"type": "Precision", "top_k": 2, "class_id": 3}, {"type": "Recall", "thresholds": [0.2, 0.8]}, "acc",
    ],
    "binary": [
        {"type": "BinaryAccuracy", "threshold": 0.3}, {"type": "BinaryCrossentropy"}, {"type": "BinaryIoU", "target_class_ids": [1]},
        {"type": "AUC", "curve": "PR", "summation_method": "minoring", "thresholds": [0.3, 0.6]},
        {"type": "PrecisionAtRecall", "recall": 0.5, "class_id": 1}, {"type": "RecallAtPrecision", "precision": 0.8},
        {"type": "SensitivityAtSpecificity", "specificity": 0.5, "num_thresholds": 20},
        {"type": "SpecificityAtSensitivity", "sensitivity": 0.5}, {"type": "TruePositives", "thresholds": 0.3},
        {"type": "TrueNegatives"}, {"type": "FalsePositives", "thresholds": [0.1, 0.9]}, {"type": "FalseNegatives"},
        {"type": "Hinge"}, {"type": "SquaredHinge"}, {"type": "Accuracy"}, {"type": "F1Score"},
    ],
    "regression": [
        {"type": "MeanSquaredError"}, {"type": "RootMeanSquaredError"}, {"type": "MeanAbsoluteError"},
        {"type": "MeanAbsolutePercentageError"}, {"type": "MeanSquaredLogarithmicError"}, {"type": "CosineSimilarity"},
        {"type": "LogCoshError"}, {"type": "Poisson"}, {"type": "R2Score", "class_aggregation": "variance_weighted_average"},
        {"type": "PearsonCorrelation"}, {"type": "ConcordanceCorrelation"}, "mse", "MAE", "RootMeanSquaredError",
    ],
}  # fmt: skip


def test_every_metric_runs_on_its_output() -> None:
    """Every metric class, on an output whose labels it reads: kspec accepts them, Keras compiles them, trains a
    step and evaluates, and logs each one."""
    assert {m["type"] for ms in METRICS.values() for m in ms if isinstance(m, dict)} == set(METRIC_TYPES)
    losses = {"s": "sparse_categorical_crossentropy", "o": "categorical_crossentropy", "b": "binary_crossentropy",
              "r": "mse"}  # fmt: skip
    spec = _graph_spec(losses, {"s": METRICS["sparse"], "o": METRICS["one_hot"], "b": METRICS["binary"],
                                "r": METRICS["regression"]})  # fmt: skip
    report = kspec.check(spec)
    assert report.ok, [d.message for d in report.errors]
    result, _ = _train_step(report)
    assert np.isfinite(result["loss"])
    logged = {k for k in result if k != "loss" and not k.endswith("_loss")}
    assert len(logged) == sum(len(ms) for ms in METRICS.values()), sorted(logged)


#: One configuration of each optimizer with some arguments away from Keras's defaults.
OPTIMIZER_CONFIGS = {
    "SGD": {"momentum": 0.9, "nesterov": True},
    "Adam": {"amsgrad": True, "loss_scale_factor": 8.0},
    "AdamW": {"weight_decay": 0.01},
    "RMSprop": {"centered": True, "momentum": 0.5},
    "Adagrad": {"initial_accumulator_value": 0.0},
    "Adadelta": {"learning_rate": 1.0},
    "Adamax": {"beta_2": 0.9},
    "Nadam": {"use_ema": True, "ema_overwrite_frequency": 2},
    "Ftrl": {"l1_regularization_strength": 0.01, "beta": 0.1},
    "Lion": {"beta_1": 0.5},
    "Lamb": {"epsilon": 1e-6},
    "Adafactor": {"relative_step": False, "beta_2_decay": -0.5, "clip_threshold": 0.5},
    "ScheduleFreeAdamW": {"warmup_steps": 2, "learning_rate": {"type": "CosineDecay", "initial_learning_rate": 0.01, "decay_steps": 10}},
    "Muon": {"exclude_layers": ["out"], "ns_steps": 3, "rms_rate": None, "nesterov": False},
}  # fmt: skip

SMALL = {"input": {"shape": [4]}, "layers": [{"type": "Dense", "units": 3, "name": "hidden"},
                                             {"type": "Dense", "units": 2, "name": "out"}]}  # fmt: skip


def _spec(training: dict, model: dict | None = None) -> dict:
    return {"kspec": 1, "name": "small", "model": model or SMALL, "training": {"loss": "mse", **training}}


def test_every_optimizer_updates_weights() -> None:
    """Every optimizer class, by name and with other arguments, built by kspec with the model (the layers it
    names): one update with Keras's own apply changes every weight (Muon's excluded layer too, by AdamW)."""
    assert set(OPTIMIZER_CONFIGS) == set(OPTIMIZER_TYPES)
    optimizers = [*OPTIMIZER_NAMES, *({"type": t, **args} for t, args in OPTIMIZER_CONFIGS.items())]
    for optimizer in optimizers:
        report = kspec.check(_spec({"optimizer": optimizer}))
        assert report.ok, (optimizer, [d.message for d in report.errors])
        model = build_model(report.spec, report.inference)
        keras_opt = keras_optimizer(report.spec.training, model)
        variables = model.trainable_variables
        before = [keras.ops.convert_to_numpy(v) for v in variables]
        keras_opt.apply([keras.ops.ones(v.shape, v.dtype) for v in variables], variables)
        changed = [not np.array_equal(keras.ops.convert_to_numpy(v), b) for v, b in zip(variables, before, strict=True)]
        assert all(changed), (optimizer, changed)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")  # load_model; a resume restores all
def test_wrappers_train_and_save() -> None:
    """LossScaleOptimizer and MultiOptimizer (an optimizer per named layer: the paths of its weights, exactly)
    compile, train, and survive saving as model.keras (and a resume restores their state)."""
    import tempfile

    multi = {"type": "MultiOptimizer", "default_optimizer": {"type": "SGD", "learning_rate": 0.1},
             "optimizer_map": {"hidden": {"type": "Adam", "gradient_accumulation_steps": 2}, "out": "lion"},
             "loss_scale_factor": 2.0}  # fmt: skip
    lso = {"type": "LossScaleOptimizer", "inner_optimizer": {"type": "Muon", "exclude_layers": ["out"]},
           "initial_scale": 1024.0, "dynamic_growth_steps": 1}  # fmt: skip
    for optimizer in (multi, lso):
        report = kspec.check(_spec({"optimizer": optimizer}))
        assert report.ok, [d.message for d in report.errors]
        assert report.spec.training.optimizer.gradient_accumulation_steps == (2 if optimizer is multi else None)
        model = compile_model(build_model(report.spec, report.inference), report.spec.training, steps_per_execution=1)
        x, y = np.ones((4, 4), "float32"), np.zeros((4, 2), "float32")
        before = [np.array(w) for w in model.trainable_weights]
        for _ in range(2):
            model.train_on_batch(x, y)
        assert all(not np.array_equal(np.array(w), b) for w, b in zip(model.trainable_weights, before, strict=True))
        if optimizer is multi:
            chosen = {v.path: type(model.optimizer._optimizer_map(v)).__name__ for v in model.trainable_variables}
            assert chosen == {"small/hidden/kernel": "Adam", "small/hidden/bias": "Adam", "small/out/kernel": "Lion",
                              "small/out/bias": "Lion"}, chosen  # fmt: skip
        path = Path(tempfile.mkdtemp()) / "m.keras"
        model.save(path)
        assert type(keras.saving.load_model(path).optimizer) is type(model.optimizer)
        # --resume (kspec.train.resume.restore): the optimizer's state comes back whole
        again = compile_model(build_model(report.spec, report.inference), report.spec.training, steps_per_execution=1)
        again.optimizer.build(again.trainable_variables)
        again.load_weights(path)
        saved, restored = model.optimizer.variables, again.optimizer.variables
        assert len(saved) == len(restored) and all(
            np.array_equal(np.array(a), np.array(b)) for a, b in zip(saved, restored, strict=True)
        )


def test_the_layers_an_optimizer_names_must_be_layers_with_weights() -> None:
    graph = {"inputs": [{"name": "x", "shape": [4]}],
             "nodes": [{"name": "a", "type": "Dense", "units": 4, "inputs": "x"},
                       {"name": "b", "shares": "a", "inputs": "a"},
                       {"name": "drop", "type": "Dropout", "rate": 0.1, "inputs": "b"},
                       {"name": "out", "type": "Dense", "units": 2, "inputs": "drop"}],
             "outputs": ["out"]}  # fmt: skip
    for optimizer, path in [
        ({"type": "MultiOptimizer", "default_optimizer": "sgd", "optimizer_map": {"outt": "adam"}},
         ("training", "optimizer", "optimizer_map", "outt")),
        ({"type": "MultiOptimizer", "default_optimizer": "sgd", "optimizer_map": {"b": "adam"}},
         ("training", "optimizer", "optimizer_map", "b")),
        ({"type": "Muon", "exclude_layers": ["out", "drop"]}, ("training", "optimizer", "exclude_layers", 1)),
        ({"type": "LossScaleOptimizer", "inner_optimizer": {"type": "Muon", "exclude_layers": ["x"]}},
         ("training", "optimizer", "inner_optimizer", "exclude_layers", 0)),
    ]:  # fmt: skip
        report = kspec.check(_spec({"optimizer": optimizer}, graph))
        (error,) = report.errors
        assert error.path == path and error.policy == "optimizer-layer-names", (error.path, error.message)
    assert "Did you mean 'out'" in (kspec.check(_spec({"optimizer": {"type": "MultiOptimizer", "default_optimizer": "sgd",
                                                                    "optimizer_map": {"outt": "adam"}}}, graph)).errors[0].hint or "")  # fmt: skip
    assert kspec.check(_spec({"optimizer": {"type": "Muon", "exclude_layers": ["a"]}}, graph)).ok


# ---- the checks against outputs and labels ---------------------------------------------------------


def _one_output(head: list[dict], training: dict, shape=(6, 3)) -> dict:
    flat = [{"name": "flat", "type": "Flatten", "inputs": "x"}] if any(n["inputs"] == "flat" for n in head) else []
    nodes = [*flat, *head]
    return {"kspec": 1, "name": "one", "model": {"inputs": [{"name": "x", "shape": list(shape)}], "nodes": nodes,
            "outputs": [head[-1]["name"]]}, "training": {"optimizer": "adam", **training}}  # fmt: skip


DENSE4 = [{"name": "o", "type": "Dense", "units": 4, "inputs": "flat"}]
UNIT4 = [{"name": "e", "type": "Dense", "units": 4, "inputs": "flat"}, {"name": "o", "type": "UnitNormalization", "inputs": "e"}]
SOFTMAX4 = [{"name": "o", "type": "Dense", "units": 4, "activation": "softmax", "inputs": "flat"}]
SIGMOID3 = [{"name": "o", "type": "Dense", "units": 3, "activation": "sigmoid", "inputs": "flat"}]
STEPS4 = [{"name": "o", "type": "Dense", "units": 4, "inputs": "x"}]
STEPS1 = [{"name": "o", "type": "Dense", "units": 1, "inputs": "x"}]
STEPS_SIGMOID = [{"name": "o", "type": "Dense", "units": 3, "activation": "sigmoid", "inputs": "x"}]

#: Specs kspec refuses without a policy, which Keras fails to train; each with the path of the error.
KERAS_FAILS = [
    ("CTC on (batch, classes)", _one_output(DENSE4, {"loss": "ctc"}), ("training", "loss")),
    ("CTC on one class", _one_output(STEPS1, {"loss": {"type": "CTC"}}), ("training", "loss")),
    ("Circle on steps", _one_output(STEPS4, {"loss": "circle"}), ("training", "loss")),
    ("Dice over axis 2 of rank 2", _one_output(SIGMOID3, {"loss": {"type": "Dice", "axis": [2]}}), ("training", "loss", "axis")),
    ("Dice over one axis twice", _one_output(SIGMOID3, {"loss": {"type": "Dice", "axis": [1, -1]}}), ("training", "loss", "axis")),
    ("F1Score on steps", _one_output(STEPS_SIGMOID, {"loss": "bce", "metrics": [{"type": "F1Score"}]}), ("training", "metrics", 0)),
    ("R2Score on steps", _one_output(STEPS4, {"loss": "mse", "metrics": ["r2_score"]}), ("training", "metrics", 0)),
    ("AUC multi_label on steps", _one_output(STEPS_SIGMOID, {"loss": "bce", "metrics": [{"type": "AUC", "multi_label": True}]}),
     ("training", "metrics", 0, "multi_label")),
    ("AUC num_labels", _one_output(SIGMOID3, {"loss": "bce", "metrics": [{"type": "AUC", "multi_label": True, "num_labels": 2}]}),
     ("training", "metrics", 0, "num_labels")),
    ("AUC label_weights", _one_output(SIGMOID3, {"loss": "bce", "metrics": [{"type": "AUC", "label_weights": [1.0, 2.0]}]}),
     ("training", "metrics", 0, "label_weights")),
    ("IoU of score ids", _one_output(SOFTMAX4, {"loss": "sparse_categorical_crossentropy",
                                                "metrics": [{"type": "IoU", "num_classes": 4, "target_class_ids": [0]}]}),
     ("training", "metrics", 0, "sparse_y_pred")),
    ("OneHotMeanIoU of score ids", _one_output(SOFTMAX4, {"loss": "categorical_crossentropy",
                                                          "metrics": [{"type": "OneHotMeanIoU", "num_classes": 4, "sparse_y_pred": True}]}),
     ("training", "metrics", 0, "sparse_y_pred")),
]  # fmt: skip


@pytest.mark.parametrize("what, spec, path", KERAS_FAILS, ids=[c[0] for c in KERAS_FAILS])
def test_refusals_are_keras_failures(what, spec, path) -> None:
    report = kspec.check(spec)
    (error,) = report.errors
    assert error.path == path and error.policy is None, (error.path, error.policy, error.message)
    assert _loss_failure(spec, report) is not None, f"kspec refuses {what}, but Keras trains it: {error.message}"


#: Refusals by the portability policy: Keras fails on the backends named (this test runs on TensorFlow).
PORTABILITY = [
    ("Precision of a class beyond the output", _one_output(SIGMOID3, {"loss": "bce", "metrics": [{"type": "Precision", "class_id": 3}]}),
     ("tensorflow", "torch")),
    ("adjusted R2Score", _one_output(DENSE4, {"loss": "mse", "metrics": [{"type": "R2Score", "num_regressors": 1}]}),
     ("tensorflow", "jax")),
    ("a loss per example (reduction none)", _one_output(DENSE4, {"loss": {"type": "MeanSquaredError", "reduction": None}}),
     ("jax", "torch")),
    ("loss_scale_factor with an Embedding's sparse gradients",
     {"kspec": 1, "name": "emb", "model": {"input": {"shape": [5], "dtype": "int32"}, "layers": [
         {"type": "Embedding", "input_dim": 10, "output_dim": 3}, {"type": "Flatten"}, {"type": "Dense", "units": 2}]},
      "training": {"optimizer": {"type": "Adam", "loss_scale_factor": 2.0}, "loss": "mse"}},
     ("tensorflow",)),
]  # fmt: skip


@pytest.mark.parametrize("what, spec, backends", PORTABILITY, ids=[c[0] for c in PORTABILITY])
def test_portability_refusals_fail_on_their_backends(what, spec, backends) -> None:
    report = kspec.check(spec)
    (error,) = report.errors
    assert error.policy == "portability" and error.backends == backends, (error.policy, error.backends)
    assert keras.backend.backend() not in backends or _loss_failure(spec, report) is not None


def test_ctc_and_circle_train_on_outputs_made_for_them() -> None:
    """CTC on per-step logits (the label sequences padded with the blank 0), Circle on unit-norm embeddings:
    kspec accepts them, and Keras builds, runs and trains them (the soundness property's own check)."""
    for spec in [
        _one_output(STEPS4, {"loss": "ctc"}),
        _one_output(STEPS4, {"loss": {"type": "CTC", "reduction": "sum"}}, shape=(None, 3)),
        _one_output([{"name": "e", "type": "Dense", "units": 4, "inputs": "flat"},
                     {"name": "o", "type": "UnitNormalization", "inputs": "e"}], {"loss": "circle"}),
    ]:  # fmt: skip
        report = kspec.check(spec)
        assert report.ok, [d.message for d in report.errors]
        check_accepted(spec, report, Counter())


def test_policy_refusals() -> None:
    cases = [
        ({"loss": {"type": "Tversky", "alpha": 0.0, "beta": 0.0}}, SIGMOID3, "loss-range", ("training", "loss", "beta")),
        ({"loss": {"type": "Circle", "gamma": 0.0}}, UNIT4, "loss-range", ("training", "loss", "gamma")),
        ({"loss": "circle"}, DENSE4, "loss-output-range", ("training", "loss")),
        ({"loss": {"type": "Huber", "delta": -1.0}}, DENSE4, "loss-range", ("training", "loss", "delta")),
        ({"loss": "ctc", "metrics": ["accuracy"]}, STEPS4, "metric-labels", ("training", "metrics", 0)),
        ({"loss": "circle", "metrics": ["mse"]}, UNIT4, "metric-labels", ("training", "metrics", 0)),
        ({"loss": "sparse_categorical_crossentropy", "metrics": [{"type": "OneHotIoU", "num_classes": 4,
          "target_class_ids": [0]}]}, SOFTMAX4, "metric-labels", ("training", "metrics", 0)),
        ({"loss": "categorical_crossentropy", "metrics": [{"type": "MeanIoU", "num_classes": 4, "sparse_y_pred": False}]},
         SOFTMAX4, "metric-labels", ("training", "metrics", 0)),
        ({"loss": {"type": "CategoricalGeneralizedCrossEntropy"}}, DENSE4, "probability-output", ("training", "loss")),
        ({"loss": "dice"}, DENSE4, "probability-output", ("training", "loss")),
        ({"loss": "mse", "validation_split": 0.1, "validation_data": "test"}, DENSE4, "ignored-argument", ("training",)),
        ({"loss": "mse", "optimizer": {"type": "LossScaleOptimizer", "inner_optimizer": {"type": "Adam", "beta_1": 1.0}}},
         DENSE4, "optimizer-range", ("training", "optimizer", "inner_optimizer", "beta_1")),
        ({"loss": "mse", "optimizer": {"type": "LossScaleOptimizer", "inner_optimizer": "adam", "initial_scale": 0.0}},
         DENSE4, "optimizer-range", ("training", "optimizer", "initial_scale")),
        ({"loss": "mse", "optimizer": {"type": "LossScaleOptimizer", "inner_optimizer": {"type": "Adam", "loss_scale_factor": 2.0}}},
         DENSE4, "ignored-argument", ("training", "optimizer", "inner_optimizer", "loss_scale_factor")),
    ]  # fmt: skip
    for training, head, policy, path in cases:
        training = {"optimizer": "adam", **training}
        report = kspec.check(_one_output(head, training))
        (error,) = report.errors
        assert (error.policy, error.path) == (policy, path), (training, error.policy, error.path, error.message)


# ---- validation on the test split ---------------------------------------------------------------


def test_validation_data_is_the_test_split(tmp_path) -> None:
    from kspec.train.data import load_data

    spec = {"kspec": 1, "name": "v", "model": {"input": {"shape": [8, 8, 1]}, "layers": [
        {"type": "Flatten"}, {"type": "Dense", "units": 10}]},
        "training": {"loss": {"type": "SparseCategoricalCrossentropy", "from_logits": True},
                     "validation_data": "test", "seed": 1},
        "data": {"source": {"type": "embedded"}, "test_split": 0.2}}  # fmt: skip
    report = kspec.check(spec)
    assert report.ok, [d.message for d in report.errors]
    loaded = load_data(report.spec, report.inference, base_dir=tmp_path, seed=1)
    assert loaded.validation is loaded.test and len(loaded.test) == 360 and len(loaded.train) == 1437
    assert "360 test (also the validation data)" in loaded.description

    spec["data"]["test_split"] = 0.0
    (error,) = kspec.check(spec).errors
    assert error.code == "data" and error.path == ("training", "validation_data"), error.message


def test_a_loss_whose_values_the_output_mask_cannot_weight_is_refused() -> None:
    """The masked-loss policy: CTC's one value per sequence, Dice's per example, against the (batch, steps) mask
    of an Embedding with mask_zero; Keras fails (the mask is multiplied with them). A loss that keeps the steps
    passes."""

    def spec(loss, activation=None) -> dict:
        head = {"type": "Dense", "units": 4} | ({"activation": activation} if activation else {})
        return {"kspec": 1, "name": "masked", "model": {"input": {"shape": [6], "dtype": "int32"}, "layers": [
            {"type": "Embedding", "input_dim": 10, "output_dim": 3, "mask_zero": True}, head]},
            "training": {"optimizer": "adam", "loss": loss}}  # fmt: skip

    for loss, activation in [("ctc", None), ({"type": "Dice", "axis": [1, 2]}, "sigmoid")]:
        report = kspec.check(spec(loss, activation))
        (error,) = report.errors
        assert error.policy == "masked-loss", error.message
        assert _loss_failure(spec(loss, activation), report) is not None
    for loss, activation in [({"type": "Tversky", "axis": -1}, "sigmoid"), ("dice", "sigmoid"), ("mse", None)]:
        assert kspec.check(spec(loss, activation)).ok, loss
