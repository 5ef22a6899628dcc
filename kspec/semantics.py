"""Cross-field checks: the training and data sections against the inferred model.

Each rule here is either what Keras would refuse (a loss for an output that
does not exist) or a documented kspec policy (one loss per output of a
multi-output model; categorical losses need at least two classes; the
parameter budget). Policies are listed in docs/policies.md.
"""

from __future__ import annotations

from typing import Any

from .diagnostics import Diagnostic, Note, Path, did_you_mean
from .infer import Inference, OutputEnd, output_end, upstream
from .spec import Spec
from .spec.layers._base import FLOAT_DTYPES, Tensor
from .spec.training import loss_from_logits, loss_kind

DEFAULT_PARAM_BUDGET = 2_000_000_000


def check_semantics(spec: Spec, inference: Inference, *, param_budget: int = DEFAULT_PARAM_BUDGET) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    outputs = inference.outputs
    tensors = inference.output_tensors
    training = spec.training

    # Losses: one per output.
    if isinstance(training.loss, dict):
        for name in training.loss:
            if name not in outputs:
                out.append(_unknown_output(name, ("training", "loss", name), outputs, "loss"))
        for name in outputs:
            if name not in training.loss:
                out.append(
                    Diagnostic(
                        "loss",
                        f"Output '{name}' has no loss; every output of the model needs one. "
                        f"Received: loss keys={sorted(training.loss)}",
                        ("training", "loss"),
                        hint=f"Add `{name}: <loss>` under training.loss.",
                        policy="loss-per-output",
                    )
                )
        pairs: list[tuple[str, Any, Path]] = [
            (name, training.loss[name], ("training", "loss", name)) for name in outputs if name in training.loss
        ]
    else:
        if len(outputs) > 1:
            out.append(
                Diagnostic(
                    "loss",
                    f"The model has {len(outputs)} outputs ({', '.join(outputs)}); give one loss per output as a mapping "
                    f"(output name -> loss). Received: loss={training.loss if isinstance(training.loss, str) else training.loss.type}",
                    ("training", "loss"),
                    hint="loss: {" + ", ".join(f"{o}: ..." for o in outputs) + "}",
                    policy="loss-per-output",
                )
            )
        pairs = [(outputs[0], training.loss, ("training", "loss"))] if outputs else []
    for name, loss, path in pairs:
        tensor = tensors.get(name)
        if tensor is not None:
            out.extend(_loss_fits(name, loss, tensor, path))
            end = output_end(inference, name)
            out.extend(_loss_range(name, loss, end, path))
            out.extend(_probability_output(name, loss, end, path))

    # Metrics: each fits the labels of its output's loss.
    kinds = {name: loss_kind(loss) for name, loss, _ in pairs}
    if isinstance(training.metrics, dict):
        groups: list[tuple[str, Any, Path]] = [
            (name, metrics, ("training", "metrics", name)) for name, metrics in training.metrics.items()
        ]
    else:
        groups = [(name, training.metrics, ("training", "metrics")) for name in outputs]
    for name, metrics, path in groups:
        if name in kinds:
            for i, metric in enumerate(metrics):
                out.extend(_metric_fits(name, metric, kinds[name], path + (i,)))
                out.extend(_top_k_fits(name, metric, tensors.get(name), path + (i,)))
                out.extend(_probability_labels_fit(name, metric, kinds[name], path + (i,)))

    for field in ("loss_weights",):
        mapping = getattr(training, field)
        if mapping:
            for name in mapping:
                if name not in outputs:
                    out.append(_unknown_output(name, ("training", field, name), outputs, field))
            missing = [o for o in outputs if o not in mapping]
            if missing:
                # Keras looks every output up in the mapping when it computes the loss (a KeyError at the first step).
                out.append(
                    Diagnostic(
                        "loss",
                        f"`loss_weights` needs a weight for every output; missing: {', '.join(missing)}. "
                        f"Received: loss_weights={dict(mapping)}",
                        ("training", field),
                        hint=f"Add {', '.join(f'{o}: 1.0' for o in missing)}.",
                    )
                )
            elif all(mapping[o] == 0 for o in outputs):
                out.append(
                    Diagnostic(
                        "loss",
                        "Every loss weight is 0, so the total loss is always 0 and no weight can train "
                        f"(kspec policy). Received: loss_weights={dict(mapping)}",
                        ("training", field),
                        policy="zero-loss-weights",
                    )
                )
    if isinstance(training.metrics, dict):
        for name in training.metrics:
            if name not in outputs:
                out.append(_unknown_output(name, ("training", "metrics", name), outputs, "metrics"))

    # Data mapping.
    if spec.data is not None:
        if spec.data.inputs:
            for name in spec.data.inputs:
                if name not in inference.inputs:
                    out.append(
                        Diagnostic(
                            "data",
                            f"`data.inputs` maps '{name}', which is not a model input. Model inputs: {', '.join(inference.inputs)}.",
                            ("data", "inputs", name),
                            hint=did_you_mean(name, inference.inputs),
                        )
                    )
        if spec.data.labels:
            for name in spec.data.labels:
                if name not in outputs:
                    out.append(_unknown_output(name, ("data", "labels", name), outputs, "data.labels", code="data"))

    # Callbacks that need something of the rest of the training section.
    schedule = getattr(training.optimizer, "learning_rate", None)
    for i, cb in enumerate(training.callbacks):
        if cb.type == "ReduceLROnPlateau" and not isinstance(schedule, (int, float, type(None))):
            optimizer_path = ("training", "optimizer", "learning_rate")
            out.append(
                Diagnostic(
                    "callback",
                    "ReduceLROnPlateau sets the optimizer's learning rate, but the learning rate is a schedule "
                    f"({schedule.type}), which Keras cannot change while training (it fails at the first reduction). "
                    f"Received: learning_rate={{type: {schedule.type}, ...}}",
                    ("training", "callbacks", i),
                    hint="Use a fixed `learning_rate` with ReduceLROnPlateau, or the schedule without it.",
                    notes=(Note("the schedule", path=optimizer_path),),
                )
            )

    out.extend(_adapted_layers(inference))

    total = inference.total_params
    if total > param_budget:
        out.append(
            Diagnostic(
                "param-budget",
                f"The model has {total:,} parameters, more than the budget of {param_budget:,}; "
                "kspec refuses it before anything allocates.",
                ("model",),
                hint="Make the model smaller, or raise the budget (`--param-budget`).",
                policy="param-budget",
            )
        )
    return out


def _adapted_layers(inference: Inference) -> list[Diagnostic]:
    """A layer with `adapt: true` is adapted before training to what the training split gives at its input
    (`kspec.train.adapt`): that must be known before training, and the layer called once, unwrapped."""
    out: list[Diagnostic] = []
    shared = {n.shares for n in inference.nodes if n.shares is not None}
    for node in inference.nodes:
        layer = node.layer
        if layer is None:
            continue
        wrapped = getattr(layer, "layer", None)
        if wrapped is not None and hasattr(wrapped, "adapts") and wrapped.adapts():
            out.append(
                Diagnostic(
                    "adapt",
                    f"'{node.name}' ({layer.layer_type}) wraps a {wrapped.layer_type} with `adapt: true`; kspec adapts "
                    "layers that the model calls directly, not inside a wrapper.",
                    node.path + ("layer", "adapt"),
                    hint="Put the adapted layer before the wrapper, or give its statistics (mean, variance).",
                    policy="adapt-before-training",
                )
            )
        if node.shares is not None or not layer.adapts():
            continue
        if node.name in shared:
            out.append(
                Diagnostic(
                    "adapt",
                    f"'{node.name}' ({layer.layer_type}) has `adapt: true` but is shared (called on more than one "
                    "tensor): it would be adapted to one of them only.",
                    node.path + ("adapt",),
                    hint="Use one adapted layer per tensor.",
                    policy="adapt-before-training",
                )
            )
            continue
        before, _ = upstream(inference, node.name)
        trained = [n for n in before if n.params - n.non_trainable > 0 or n.layer.adapts()]
        if trained:
            first = trained[0]
            why = (
                "is adapted too (adapted layers in a row would each see the data before the other is adapted)"
                if first.layer.adapts() and first.params - first.non_trainable == 0
                else f"has {first.params - first.non_trainable:,} trainable weights that training changes"
            )
            out.append(
                Diagnostic(
                    "adapt",
                    f"'{node.name}' ({layer.layer_type}) has `adapt: true`: it is adapted once, before training, to "
                    f"what reaches it; but '{first.name}' ({first.layer.layer_type}) before it {why}, so the "
                    "statistics would describe values the trained model never produces.",
                    node.path + ("adapt",),
                    hint="Adapt a layer that the model inputs reach through layers without trainable weights "
                    "(e.g. right after the input), or give its statistics.",
                    policy="adapt-before-training",
                )
            )
    return out


def _loss_fits(output: str, loss, tensor: Tensor, path) -> list[Diagnostic]:
    kind = loss_kind(loss)
    name = loss if isinstance(loss, str) else loss.type
    out: list[Diagnostic] = []
    if tensor.dtype not in FLOAT_DTYPES:
        out.append(
            Diagnostic(
                "loss",
                f"Output '{output}' is {tensor.dtype}, but losses need floating-point predictions. Received: output dtype={tensor.dtype}",
                path,
            )
        )
        return out
    if kind in ("sparse", "one_hot"):
        classes = tensor.shape[-1] if tensor.rank >= 2 else None
        if tensor.rank < 2:
            out.append(
                Diagnostic(
                    "loss",
                    f"Loss '{name}' needs an output of shape (batch, ..., classes); output '{output}' has shape {tensor}.",
                    path,
                )
            )
        elif classes is None:
            out.append(
                Diagnostic(
                    "loss",
                    f"Loss '{name}' needs a known number of classes in the last axis of output '{output}' "
                    f"(kspec policy: at least 2, checked before training). Received: output shape={tensor}",
                    path,
                    policy="categorical-classes",
                )
            )
        elif classes < 2:
            out.append(
                Diagnostic(
                    "loss",
                    f"Loss '{name}' needs at least 2 classes, but output '{output}' has {classes} in its last axis "
                    f"(shape {tensor}).",
                    path,
                    hint="For two classes with one unit, use binary_crossentropy with a sigmoid output.",
                    policy="categorical-classes",
                )
            )
    return out


#: Metrics by the labels they expect: class ids (sparse), or labels of the output's shape (one-hot,
#: binary, regression).
SPARSE_METRICS = frozenset(
    {
        "sparse_categorical_accuracy",
        "sparse_top_k_categorical_accuracy",
        "sparse_categorical_crossentropy",
        "SparseTopKCategoricalAccuracy",
    }
)
#: Metrics that work with either (Keras picks the variant from the loss).
ANY_LABEL_METRICS = frozenset({"accuracy"})
#: Activations whose output is never negative.
NON_NEGATIVE = frozenset(
    {
        "relu",
        "relu6",
        "sigmoid",
        "hard_sigmoid",
        "sparse_sigmoid",
        "softmax",
        "sparsemax",
        "softplus",
        "exponential",
        "squareplus",
        "sparse_plus",
    }
)
#: Losses that take the logarithm of the prediction: on a negative prediction they give NaN (poisson) or
#: clip it to a constant with a zero gradient (msle).
NON_NEGATIVE_LOSSES = frozenset({"poisson", "mean_squared_logarithmic_error", "msle"})


def _metric_fits(output: str, metric, kind: str, path) -> list[Diagnostic]:
    name = metric if isinstance(metric, str) else metric.type
    if name in ANY_LABEL_METRICS:
        return []
    sparse_metric = name in SPARSE_METRICS
    if sparse_metric == (kind == "sparse"):
        return []
    if sparse_metric:
        expected, labels = "integer class ids as labels", f"labels of the output's shape ({kind} labels)"
    else:
        expected, labels = "labels of the output's shape", "integer class ids (its loss is sparse)"
    return [
        Diagnostic(
            "metric",
            f"Metric '{name}' expects {expected}, but output '{output}' is trained with {labels}; Keras would fail, "
            f"or with a batch that happens to broadcast, compute nonsense. Received: metric={name}",
            path,
            hint="Use `accuracy` (Keras picks the variant that fits the loss), or the sparse_/non-sparse twin of this metric.",
            policy="metric-labels",
        )
    ]


def _probability_labels_fit(output: str, metric, kind: str, path) -> list[Diagnostic]:
    """The binary cross-entropy metric reads the labels as probabilities: PyTorch's kernel fails on a label outside
    [0, 1] (TensorFlow and JAX compute a number), and a regression loss's labels can be anything (found by the
    property test on the PyTorch backend)."""
    name = metric if isinstance(metric, str) else metric.type
    if name != "binary_crossentropy" or kind != "regression":
        return []
    from .backends import portability_note

    return [
        Diagnostic(
            "metric",
            f"Metric '{name}' reads the labels of output '{output}' as probabilities, but its loss is a regression "
            f"loss, whose labels can lie outside [0, 1]. {portability_note(('torch',))}.",
            path,
            hint="Use a regression metric (e.g. mae), or a binary loss with labels in [0, 1].",
            policy="portability",
            backends=("torch",),
        )
    ]


#: Metrics that take the k highest scores, with Keras's default k.
TOP_K_METRICS = {
    "top_k_categorical_accuracy": 5,
    "sparse_top_k_categorical_accuracy": 5,
    "TopKCategoricalAccuracy": 5,
    "SparseTopKCategoricalAccuracy": 5,
}


def _top_k_fits(output: str, metric, tensor, path) -> list[Diagnostic]:
    """A top-k metric with k above the output's classes. The top-k accuracies count every prediction as
    correct on TensorFlow and JAX, and fail on PyTorch (found by the property test on the PyTorch
    backend); Precision and Recall with such a top_k fail on every backend."""
    name = metric if isinstance(metric, str) else metric.type
    backends: tuple[str, ...]
    if name in TOP_K_METRICS:
        k, field, backends = (TOP_K_METRICS[name] if isinstance(metric, str) else metric.k), "k", ("torch",)
    elif name in ("Precision", "Recall") and getattr(metric, "top_k", None):
        k, field, backends = metric.top_k, "top_k", ()
    else:
        return []
    classes = tensor.shape[-1] if tensor is not None and tensor.rank else None
    if classes is None or k <= classes:
        return []
    from .backends import portability_note

    where = f" {portability_note(backends)}." if backends else ""
    return [
        Diagnostic(
            "metric",
            f"Metric '{name}' takes the top {k} of output '{output}', which has only {classes} value(s) in its last axis. "
            f"Received: {field}={k}.{where}",
            path,
            hint=f"Give the metric a {field} of at most {classes}"
            + (f" ({{type: {_loss_class(name)}, k: {classes}}}), or use `accuracy`." if field == "k" else "."),
            policy="portability" if backends else None,
            backends=backends,
        )
    ]


#: Losses that read the output as probabilities unless from_logits is set.
PROBABILITY_LOSSES = frozenset(
    {
        "sparse_categorical_crossentropy",
        "categorical_crossentropy",
        "categorical_focal_crossentropy",
        "binary_crossentropy",
        "binary_focal_crossentropy",
        "kl_divergence",
        "kld",
        "SparseCategoricalCrossentropy",
        "CategoricalCrossentropy",
        "CategoricalFocalCrossentropy",
        "BinaryCrossentropy",
        "BinaryFocalCrossentropy",
    }
)
#: Probability losses that use the predictions without clipping them to [0, 1] first.
UNCLIPPED_PROBABILITY_LOSSES = frozenset({"binary_focal_crossentropy", "BinaryFocalCrossentropy"})
#: Activations whose output lies in [0, 1].
PROBABILITY_ACTIVATIONS = frozenset({"softmax", "sigmoid", "hard_sigmoid", "sparse_sigmoid", "sparsemax"})


def _probability_output(output: str, loss, end: OutputEnd | None, path) -> list[Diagnostic]:
    name = loss if isinstance(loss, str) else loss.type
    if name not in PROBABILITY_LOSSES or loss_from_logits(loss) or end is None:
        return []
    activation = end.activation
    # Dropout's scaling above 1 is harmless where Keras clips or renormalises the predictions; the focal factor
    # (1 - p) ** gamma of the binary focal loss takes them unclipped (NaN for a fractional gamma)
    scaled = end.scaled and name in UNCLIPPED_PROBABILITY_LOSSES
    if activation in PROBABILITY_ACTIVATIONS and not scaled and end.noise is None:
        return []
    twin = {"kld": "kl_divergence"}.get(name, name)
    fix = (
        "add a softmax (or sigmoid) activation to the output"
        if twin in ("kl_divergence",)
        else f"add a {'sigmoid' if 'binary' in twin.lower() else 'softmax'} activation to the output, or use "
        f"{{type: {_loss_class(twin)}, from_logits: true}}"
    )
    return [
        Diagnostic(
            "loss",
            f"Loss '{name}' reads output '{output}' as probabilities, but the output ends with {end}, "
            f"{_why_not(end, 'whose values are not probabilities')}: Keras clips them to [0, 1] (and renormalises), so the model trains "
            f"wrong, not at all, or to NaN. Received: activation={activation}",
            path,
            hint=fix[0].upper() + fix[1:] + ".",
            policy="probability-output",
        )
    ]


def _loss_class(name: str) -> str:
    return name if name[0].isupper() else "".join(part.capitalize() for part in name.split("_"))


def _why_not(end: OutputEnd, otherwise: str) -> str:
    """Why the values of an output that ends this way are out of range: noise, scaling, or `otherwise`."""
    if end.noise is not None:
        return f"whose values {end.noise} can move either way, out of the activation's range"
    if end.scaled and end.activation in PROBABILITY_ACTIVATIONS:
        return "whose values are scaled above 1 while training"
    return otherwise


def _loss_range(output: str, loss, end: OutputEnd | None, path) -> list[Diagnostic]:
    name = loss if isinstance(loss, str) else loss.type
    if name not in NON_NEGATIVE_LOSSES or end is None:
        return []
    activation = end.activation
    if activation in NON_NEGATIVE and end.noise is None:
        return []
    return [
        Diagnostic(
            "loss",
            f"Loss '{name}' takes the logarithm of the prediction, but output '{output}' ends with {end}, "
            f"{_why_not(end, 'which can be negative')} (the loss is then NaN, or stuck with a zero gradient). "
            f"Received: activation={activation}",
            path,
            hint="End the output with a non-negative activation: softplus, relu, exponential, sigmoid or softmax.",
            policy="loss-output-range",
        )
    ]


def _unknown_output(name: str, path, outputs, what: str, code: str = "loss") -> Diagnostic:
    return Diagnostic(
        code,
        f"`{what}` names '{name}', which is not a model output. Outputs: {', '.join(outputs)}.",
        path,
        hint=did_you_mean(name, outputs),
    )
