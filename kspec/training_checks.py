"""Stage: semantics, the training section against the inferred model: each loss against its output, each metric
against its output and its loss's labels, the layers the optimizer names, and what the callbacks and the
validation data need of the rest.

Each rule is either what Keras would refuse or fail on, or a documented kspec policy (docs/policies.md). The
facts come from the loss and metric classes (`kspec.spec.losses`, `kspec.spec.metrics`): what labels they read,
whether they read probabilities, what output they need.
"""

from __future__ import annotations

from typing import Any

from .diagnostics import Diagnostic, Note, Path, did_you_mean
from .infer import (
    Inference,
    OutputEnd,
    _carries_mask,  # (asked to be public: `carries_mask`)
)
from .spec import Spec
from .spec.layers._base import FLOAT_DTYPES, Tensor, shape_str
from .spec.losses import loss_class, loss_kind, loss_name, loss_object, loss_reads_probabilities
from .spec.metrics import metric_name, metric_object
from .spec.optimizers import learning_rates, optimizer_layer_names

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
#: Activations whose output lies in [0, 1].
PROBABILITY_ACTIVATIONS = frozenset({"softmax", "sigmoid", "hard_sigmoid", "sparse_sigmoid", "sparsemax"})
#: The label kinds that a metric reading labels shaped like the output fits.
DENSE_KINDS = frozenset({"one_hot", "binary", "regression"})


# ---- losses -------------------------------------------------------------------------------------


def loss_fits(output: str, loss: Any, tensor: Tensor, path: Path) -> list[Diagnostic]:
    """The output a loss needs: floating point, of the rank it reads, with the classes it reads known and at
    least two; the axes it reduces within the output's rank."""
    cls, kind, name = loss_class(loss), loss_kind(loss), loss_name(loss)
    if tensor.dtype not in FLOAT_DTYPES:
        return [
            Diagnostic(
                "loss",
                f"Output '{output}' is {tensor.dtype}, but losses need floating-point predictions. Received: output dtype={tensor.dtype}",
                path,
            )
        ]
    out: list[Diagnostic] = []
    if cls.output_rank is not None and tensor.rank != cls.output_rank:
        needs = {2: "(batch, units)", 3: "(batch, steps, classes)"}[cls.output_rank]
        out.append(
            Diagnostic(
                "loss",
                f"Loss '{name}' needs an output of shape {needs}; output '{output}' has shape {tensor}.",
                path,
            )
        )
        return out
    if kind in ("sparse", "one_hot", "ctc"):
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
            ctc = kind == "ctc"
            out.append(
                Diagnostic(
                    "loss",
                    f"Loss '{name}' needs at least 2 classes, but output '{output}' has {classes} in its last axis "
                    f"(shape {tensor})" + (": class 0 is CTC's blank, and Keras drops an axis of 1." if ctc else "."),
                    path,
                    hint=None
                    if ctc
                    else "For two classes with one unit, use binary_crossentropy with a sigmoid output.",
                    policy=None if ctc else "categorical-classes",
                )
            )
    axes = getattr(loss, "axes", None)
    if axes is not None:
        bad = [a for a in axes() if not -tensor.rank <= a < tensor.rank]
        twice = [a for i, a in enumerate(axes()) if a % tensor.rank in [b % tensor.rank for b in axes()[:i]]]
        if bad or twice:
            problem = (
                f"axis {bad[0]}, but output '{output}' has rank {tensor.rank}"
                if bad
                else (f"axis {twice[0]} twice (output '{output}' has rank {tensor.rank})")
            )
            out.append(
                Diagnostic(
                    "loss",
                    f"Loss '{name}' reduces {problem} (shape {tensor}, the batch axis 0 included). "
                    f"Received: axis={loss.axis}",
                    path + ("axis",),
                )
            )
    return out


def unreduced_loss(output: str, loss: Any, path: Path) -> list[Diagnostic]:
    """A loss with `reduction: none` gives one value per example, not one number: TensorFlow sums them, JAX and
    PyTorch refuse to take the gradient of a tensor."""
    if getattr(loss, "reduction", "sum_over_batch_size") not in (None, "none"):
        return []
    from .backends import portability_note

    return [
        Diagnostic(
            "loss",
            f"Loss '{loss_name(loss)}' of output '{output}' with reduction {loss.reduction!r} gives a loss per example, "
            f"not one number, to differentiate. {portability_note(('jax', 'torch'))}.",
            path + ("reduction",),
            hint="Leave reduction out (sum_over_batch_size), or use sum or mean.",
            policy="portability",
            backends=("jax", "torch"),
        )
    ]


def masked_loss(output: str, loss: Any, tensor: Tensor, inference: Inference, path: Path) -> list[Diagnostic]:
    """Keras weights a loss's values with the output's (batch, steps) mask: they must broadcast to it."""
    if tensor.rank < 2 or not _carries_mask(inference, output):
        return []
    values, mask = loss_object(loss).values_shape(tensor.shape), tensor.shape[:2]
    if _broadcasts(values, mask):
        return []
    return [
        Diagnostic(
            "loss",
            f"Output '{output}' carries a (batch, steps) mask (from an Embedding with mask_zero or a Masking layer), "
            f"which Keras multiplies with the values of loss '{loss_name(loss)}', of shape {shape_str(values)}: "
            f"they do not broadcast (kspec policy: Keras fails, or weights the wrong values). Received: output "
            f"shape={tensor}",
            path,
            hint="End the mask before the output (a pooling or a recurrent layer that returns its last step), or "
            "use a loss whose values keep the steps.",
            policy="masked-loss",
        )
    ]


def _broadcasts(values: tuple, mask: tuple) -> bool:
    """Whether loss values of this shape broadcast with a mask of this one, as Keras lines them up
    (`squeeze_or_expand_to_same_rank`, then broadcasting); an unknown size pairs only with itself or 1."""
    if len(values) == len(mask) + 1 and values[-1] == 1:
        values = values[:-1]
    elif len(mask) == len(values) + 1 and mask[-1] == 1:
        mask = mask[:-1]
    for a, b in zip(reversed(values), reversed(mask)):
        if a != b and 1 not in (a, b):
            return False
    return True


def loss_range(output: str, loss: Any, end: OutputEnd | None, path: Path) -> list[Diagnostic]:
    """A loss that takes the logarithm of the output needs an output that is never negative."""
    if not loss_class(loss).logarithm or end is None:
        return []
    activation = end.activation
    if activation in NON_NEGATIVE and end.noise is None:
        return []
    return [
        Diagnostic(
            "loss",
            f"Loss '{loss_name(loss)}' takes the logarithm of the prediction, but output '{output}' ends with {end}, "
            f"{_why_not(end, 'which can be negative')} (the loss is then NaN, or stuck with a zero gradient). "
            f"Received: activation={activation}",
            path,
            hint="End the output with a non-negative activation: softplus, relu, exponential, sigmoid or softmax.",
            policy="loss-output-range",
        )
    ]


def unit_embeddings(output: str, loss: Any, inference: Inference, path: Path) -> list[Diagnostic]:
    """Circle reads the products of the embeddings as cosine similarities: the output must have unit L2 norm."""
    if loss_kind(loss) != "ids":
        return []
    node, tensor = inference.node(output), inference.tensor(output)
    layer = node.layer if node is not None else None
    if tensor is None or (
        layer is not None
        and layer.layer_type == "UnitNormalization"
        and any(a % tensor.rank == tensor.rank - 1 for a in layer.axis)
    ):
        return []
    made = "an input" if layer is None else f"layer {layer.layer_type}"
    return [
        Diagnostic(
            "loss",
            f"Loss '{loss_name(loss)}' reads output '{output}' as L2-normalised embeddings (it takes their products as "
            f"cosine similarities), but the output comes from {made}, not from a UnitNormalization over its last "
            "axis: with norms above 1 the loss clips every distance to 0 and has no gradient, so the model does not "
            "train.",
            path,
            hint="End the output with {type: UnitNormalization}.",
            policy="loss-output-range",
        )
    ]


def probability_output(output: str, loss: Any, end: OutputEnd | None, path: Path) -> list[Diagnostic]:
    """A loss that reads probabilities needs an output in [0, 1]."""
    if not loss_reads_probabilities(loss) or end is None:
        return []
    cls, name, activation = loss_class(loss), loss_name(loss), end.activation
    # Dropout's scaling above 1 is harmless where Keras clips or renormalises the predictions (or computes a
    # finite loss from them); the focal factor (1 - p) ** gamma of the binary focal loss takes them unclipped
    # (NaN for a fractional gamma)
    scaled = end.scaled and not cls.tolerates_scaling
    padded = next((t for t in end.after if t.startswith("ZeroPadding")), None) if cls.labels != "binary" else None
    if padded is not None and activation in PROBABILITY_ACTIVATIONS and not scaled and end.noise is None:
        return [
            Diagnostic(
                "loss",
                f"Loss '{name}' reads output '{output}' as class probabilities, but the output ends with {end}: the "
                f"classes that {padded} adds always have probability 0, so a label that names one gives a clipped "
                "loss with no gradient (crossentropy) or a NaN gradient (a power of the probability): the model "
                f"trains wrong or not at all. Received: activation={activation}",
                path,
                hint=f"Pad before the {activation}, or leave the padding out: every class of the output must be one "
                "the model can predict.",
                policy="probability-output",
            )
        ]
    if activation in PROBABILITY_ACTIVATIONS and not scaled and end.noise is None:
        return []
    kind = "sigmoid" if cls.labels == "binary" else "softmax"
    fix = f"add a {kind} activation to the output"
    if "from_logits" in cls.model_fields:
        fix += f", or use {{type: {cls.type_name()}, from_logits: true}}"
    return [
        Diagnostic(
            "loss",
            f"Loss '{name}' reads output '{output}' as probabilities, but the output ends with {end}, "
            f"{_why_not(end, 'whose values are not probabilities')}: the model trains wrong, not at all, or to NaN. "
            f"Received: activation={activation}",
            path,
            hint=fix[0].upper() + fix[1:] + ".",
            policy="probability-output",
        )
    ]


def _why_not(end: OutputEnd, otherwise: str) -> str:
    """Why the values of an output that ends this way are out of range: noise, scaling, or `otherwise`."""
    if end.noise is not None:
        return f"whose values {end.noise} can move either way, out of the activation's range"
    if end.scaled and end.activation in PROBABILITY_ACTIVATIONS:
        return "whose values are scaled above 1 while training"
    return otherwise


# ---- metrics ------------------------------------------------------------------------------------


def metric_problems(output: str, metric: Any, kind: str, tensor: Tensor | None, path: Path) -> list[Diagnostic]:
    """A metric against its output and the labels of its output's loss."""
    out = _metric_labels(output, metric, kind, path)
    if out:
        return out
    out += _top_k(output, metric, tensor, path)
    out += _probability_labels(output, metric, kind, path)
    config = metric_object(metric)
    if config is not None and tensor is not None:
        label_shape = tensor.shape[:-1] if kind == "sparse" else tensor.shape
        for message, field, backends in config.output_problems(tensor.shape, label_shape):
            where = ""
            if backends:
                from .backends import portability_note

                where = f" {portability_note(backends)}."
            out.append(
                Diagnostic(
                    "metric",
                    f"Metric '{metric_name(metric)}' on output '{output}': {message}.{where}",
                    path + ((field,) if field and not isinstance(metric, str) else ()),
                    policy="portability" if backends else None,
                    backends=backends,
                )
            )
    return out


def _metric_labels(output: str, metric: Any, kind: str, path: Path) -> list[Diagnostic]:
    """The labels a metric reads must be those of its output's loss (metric-labels)."""
    config = metric_object(metric)
    wants = "any" if config is None else config.label_kind()
    name = metric_name(metric)
    if kind in ("sparse", *DENSE_KINDS) and (wants == "any" or (wants == "sparse") == (kind == "sparse")):
        return []
    if kind not in ("sparse", *DENSE_KINDS):
        what = {"ctc": "label sequences (CTC)", "ids": "group ids (Circle)"}[kind]
        message = (
            f"Metric '{name}' reads class labels, but output '{output}' is trained with {what}, which no Keras metric "
            "reads: it would fail or compute nonsense."
        )
        hint = "Leave the metrics of this output out."
    else:
        if wants == "sparse":
            expected, labels = "integer class ids as labels", f"labels of the output's shape ({kind} labels)"
        else:
            expected, labels = "labels of the output's shape", "integer class ids (its loss is sparse)"
        message = (
            f"Metric '{name}' expects {expected}, but output '{output}' is trained with {labels}; Keras would fail, "
            f"or with a batch that happens to broadcast, compute nonsense. Received: metric={name}"
        )
        hint = "Use `accuracy` (Keras picks the variant that fits the loss), or the sparse_/non-sparse twin of this metric."
    return [Diagnostic("metric", message, path, hint=hint, policy="metric-labels")]


def _probability_labels(output: str, metric: Any, kind: str, path: Path) -> list[Diagnostic]:
    """The binary cross-entropy metric reads the labels as probabilities: PyTorch's kernel fails on a label outside
    [0, 1] (TensorFlow and JAX compute a number), and a regression loss's labels can be anything (found by the
    property test on the PyTorch backend)."""
    config = metric_object(metric)
    if config is None or not config.probability_labels or kind != "regression":
        return []
    from .backends import portability_note

    name = metric_name(metric)
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


def _top_k(output: str, metric: Any, tensor: Tensor | None, path: Path) -> list[Diagnostic]:
    """A top-k metric with k above the output's classes. The top-k accuracies count every prediction as
    correct on TensorFlow and JAX, and fail on PyTorch (found by the property test on the PyTorch
    backend); Precision and Recall with such a top_k fail on every backend."""
    config = metric_object(metric)
    highest = config.highest() if config is not None else None
    if config is None or highest is None:
        return []
    k, field, backends = highest
    classes = tensor.shape[-1] if tensor is not None and tensor.rank else None
    if classes is None or k <= classes:
        return []
    from .backends import portability_note

    name = metric_name(metric)
    where = f" {portability_note(backends)}." if backends else ""
    hint = f"Give the metric a {field} of at most {classes}"
    hint += f" ({{type: {config.type_name()}, k: {classes}}}), or use `accuracy`." if field == "k" else "."
    return [
        Diagnostic(
            "metric",
            f"Metric '{name}' takes the top {k} of output '{output}', which has only {classes} value(s) in its last axis. "
            f"Received: {field}={k}.{where}",
            path,
            hint=hint,
            policy="portability" if backends else None,
            backends=backends,
        )
    ]


# ---- optimizers, callbacks, validation data -----------------------------------------------------------


def optimizer_layers(spec: Spec, inference: Inference) -> list[Diagnostic]:
    """The layers an optimizer names (MultiOptimizer's optimizer_map, Muon's exclude_layers) are layers of the
    model with trainable weights (optimizer-layer-names)."""
    out: list[Diagnostic] = []
    layers = {n.name: n for n in inference.nodes if n.layer is not None}
    for name, where in optimizer_layer_names(spec.training.optimizer):
        node = layers.get(name)
        path = ("training", "optimizer") + where
        if node is None:
            problem = f"'{name}' is not a layer of the model"
            hint = did_you_mean(name, [n for n, info in layers.items() if info.shares is None])
        elif node.shares is not None:
            problem = f"'{name}' is a call of the layer '{node.shares}', not a layer of its own"
            hint = f"Name the layer: {node.shares}."
        elif node.params - node.non_trainable == 0:
            problem = f"'{name}' ({node.layer_type}) has no trainable weights"
            hint = None
        else:
            continue
        out.append(
            Diagnostic(
                "value",
                f"The optimizer names {problem}: Keras would leave the name unused and update nothing differently. "
                f"Received: {name}",
                path,
                hint=hint,
                policy="optimizer-layer-names",
            )
        )
    return out


def loss_scaling(spec: Spec, inference: Inference) -> list[Diagnostic]:
    """`loss_scale_factor`: the wrappers set it on the optimizers inside them (LossScaleOptimizer clears it,
    MultiOptimizer gives its own), so there it is ignored; where it applies, Keras 3.15 divides every gradient by
    it, which fails on TensorFlow for the sparse gradients (IndexedSlices) of an Embedding."""
    out: list[Diagnostic] = []
    optimizer = spec.training.optimizer
    inside = getattr(optimizer, "optimizers", None)
    for inner, where in inside() if inside is not None else []:
        if getattr(inner, "loss_scale_factor", None) is not None:
            out.append(
                Diagnostic(
                    "value",
                    f"{optimizer.type} sets the loss_scale_factor of the optimizers inside it, so this one's would be "
                    f"ignored (kspec policy). Received: loss_scale_factor={inner.loss_scale_factor}",
                    ("training", "optimizer") + where + ("loss_scale_factor",),
                    hint="Set loss_scale_factor on the MultiOptimizer, or leave it out (LossScaleOptimizer scales "
                    "the loss itself).",
                    policy="ignored-argument",
                )
            )
    factor = getattr(optimizer, "loss_scale_factor", None)
    sparse = _sparse_gradient_layer(inference)
    if factor is not None and sparse is not None:
        from .backends import portability_note

        out.append(
            Diagnostic(
                "loss",  # the training section (a Keras failure in training, confirmed as the losses' are)
                f"loss_scale_factor divides every gradient by {factor}, which Keras 3.15 cannot do for the sparse "
                f"gradients (IndexedSlices) of '{sparse.name}' ({sparse.layer_type}). {portability_note(('tensorflow',))}.",
                ("training", "optimizer", "loss_scale_factor"),
                hint="Leave loss_scale_factor out, or use {type: LossScaleOptimizer, inner_optimizer: ...}.",
                policy="portability",
                backends=("tensorflow",),
            )
        )
    return out


def _sparse_gradient_layer(inference: Inference) -> Any:
    """A layer call whose trainable weights get sparse gradients on TensorFlow (an Embedding gathers rows of
    its table), or None. The layer says so (`sparse_gradients`); an Embedding does where it does not yet."""
    for node in inference.nodes:
        if node.layer is None or node.shares is not None or node.params - node.non_trainable == 0:
            continue
        layer: Any = node.layer
        while layer is not None:
            if getattr(layer, "sparse_gradients", layer.layer_type == "Embedding"):
                return node
            layer = getattr(layer, "layer", None)
    return None


def callbacks_fit(spec: Spec) -> list[Diagnostic]:
    """ReduceLROnPlateau needs fixed learning rates (it sets them)."""
    out: list[Diagnostic] = []
    training = spec.training
    schedules = [(lr, path) for lr, path in learning_rates(training.optimizer) if not isinstance(lr, (int, float))]
    for i, cb in enumerate(training.callbacks):
        if cb.type != "ReduceLROnPlateau" or not schedules:
            continue
        schedule, where = schedules[0]
        out.append(
            Diagnostic(
                "callback",
                "ReduceLROnPlateau sets the optimizer's learning rate, but the learning rate is a schedule "
                f"({schedule.type}), which Keras cannot change while training (it fails at the first reduction). "
                f"Received: learning_rate={{type: {schedule.type}, ...}}",
                ("training", "callbacks", i),
                hint="Use a fixed `learning_rate` with ReduceLROnPlateau, or the schedule without it.",
                notes=(Note("the schedule", path=("training", "optimizer") + where),),
            )
        )
    return out


#: Sources that have no test split of their own: `validation_data: test` needs `data.test_split` with them.
NO_OWN_TEST_SPLIT = frozenset(
    {"csv", "parquet", "tfrecord", "image_directory", "text_directory", "embedded", "synthetic"}
)


def validation_data_fits(spec: Spec) -> list[Diagnostic]:
    """`validation_data: test` needs a test split: the source's own, or `data.test_split`."""
    data = spec.data
    if spec.training.validation_data != "test" or data is None or data.test_split > 0:
        return []
    if data.source.type not in NO_OWN_TEST_SPLIT:
        return []
    return [
        Diagnostic(
            "data",
            f"`validation_data: test` validates on the test split, but the {data.source.type} source has no test "
            "split of its own and `data.test_split` is 0.",
            ("training", "validation_data"),
            hint="Hold some examples out with data.test_split (e.g. 0.2), or use validation_split.",
            notes=(Note("the data source", path=("data", "source")),),
        )
    ]
