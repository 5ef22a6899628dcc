"""Metrics (`keras.metrics`) of the `training` section: every Keras metric that needs no Python function, by name
or as `{type: ..., ...}` with Keras's arguments.

A name is any spelling Keras's `compile` takes (`mean_squared_error`, `mse`, `MeanSquaredError`; `accuracy`,
`acc`), normalised to Keras's snake-case name of the class (`mean_squared_error`, `accuracy`); a metric that
needs arguments (IoU, PrecisionAtRecall, ...) has no name, only its `{type: ...}` form. `accuracy` is Keras's
accuracy that fits the loss (binary, categorical or sparse, picked by the shapes); `{type: Accuracy}` is the
class that counts exact matches.

Left out: `Mean` and `Sum` (they average or add one tensor of values, which `compile` cannot give them: it passes
labels and predictions), `MeanMetricWrapper` (it wraps a Python function) and `Metric` (the base class); the
`axis` of the metrics that have one (kspec's labels put the classes and features on the last axis), and
SparseTopKCategoricalAccuracy's `from_sorted_ids` (a model's output is class scores, not sorted ids).
"""

import functools
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, model_validator
from typing_extensions import TypeAliasType

from .aliases import canonical_name
from .base import KspecModel, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt

#: A problem of a metric with its output: (message, the argument at fault or None, the backends on which
#: Keras fails where others run it (empty: every backend fails)).
Problem = tuple[str, str | None, tuple[str, ...]]


class _Metric(KspecModel):
    """A Keras metric class; the class variables and methods are the facts about it that the checks use."""

    #: The labels it reads: "sparse" (class ids), "dense" (shaped like the output) or "any" (either: Keras's
    #: `accuracy`). Use `label_kind()`, which may depend on the arguments.
    labels: ClassVar[str] = "dense"
    #: It reads the labels as probabilities (PyTorch's kernel fails on a label outside [0, 1]).
    probability_labels: ClassVar[bool] = False

    @classmethod
    def type_name(cls) -> str:
        return cls.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]

    def label_kind(self) -> str:
        return self.labels

    def highest(self) -> tuple[int, str, tuple[str, ...]] | None:
        """(k, its argument, the backends that fail when k is above the output's classes) for a metric that takes
        the k highest scores; None for the others."""
        return None

    def output_problems(self, shape: tuple, label_shape: tuple) -> list[Problem]:
        """What keeps it from running on an output of `shape` with labels of `label_shape` (batch axis
        included, None for unknown)."""
        return []


def _rank_two(name: str, shape: tuple) -> list[Problem]:
    if len(shape) != 2 or shape[-1] is None:
        return [
            (
                f"{name} needs an output of shape (batch, units) with the units known (Keras refuses other shapes). "
                f"Received: output shape={shape}",
                None,
                (),
            )
        ]
    return []


Threshold = Annotated[float, Field(ge=0, le=1)]
Thresholds = Annotated[
    Threshold | list[Threshold] | None,
    Field(
        description="Predictions above this count as positive (use 0 with logits), or a list of such thresholds (one "
        "result each); null means 0.5."
    ),
]
ClassId = Annotated[
    NonNegativeInt | None,
    Field(description="Only this class (an index of the output's last axis) counts; null: all of them."),
]


def _class_id_problem(metric: Any, shape: tuple) -> list[Problem]:
    class_id, classes = metric.class_id, shape[-1] if shape else None
    if class_id is None or classes is None or class_id < classes:
        return []
    return [
        (
            f"{metric.type} reads class {class_id} of an output with {classes} value(s) in its last axis "
            f"(TensorFlow and PyTorch fail; JAX reads another value). Received: class_id={class_id}",
            "class_id",
            ("tensorflow", "torch"),
        )
    ]


# ---- accuracy ----------------------------------------------------------------------------------


class Accuracy(_Metric):
    """How often predictions equal the labels exactly (not Keras's `accuracy` name, which fits the loss)."""

    type: Literal["Accuracy"]


class BinaryAccuracy(_Metric):
    """How often a prediction above the threshold matches a label of 1 (and below it, of 0)."""

    type: Literal["BinaryAccuracy"]
    threshold: float = Field(0.5, description="Predictions above this count as 1 (use 0 with logits).")


class CategoricalAccuracy(_Metric):
    """How often the highest score is at the one-hot label's class."""

    type: Literal["CategoricalAccuracy"]


class SparseCategoricalAccuracy(_Metric):
    """How often the highest score is at the integer label's class."""

    labels = "sparse"

    type: Literal["SparseCategoricalAccuracy"]


class TopKCategoricalAccuracy(_Metric):
    """How often the one-hot target is among the top k predictions."""

    type: Literal["TopKCategoricalAccuracy"]
    k: PositiveInt = Field(5, description="A prediction counts as correct if the target is among the k highest scores.")

    def highest(self) -> tuple[int, str, tuple[str, ...]] | None:
        return self.k, "k", ("torch",)


class SparseTopKCategoricalAccuracy(_Metric):
    """How often the integer target is among the top k predictions."""

    labels = "sparse"

    type: Literal["SparseTopKCategoricalAccuracy"]
    k: PositiveInt = Field(5, description="A prediction counts as correct if the target is among the k highest scores.")

    def highest(self) -> tuple[int, str, tuple[str, ...]] | None:
        return self.k, "k", ("torch",)


# ---- probabilistic, hinge, regression, correlation ----------------------------------------------------


class BinaryCrossentropyMetric(_Metric):
    """Crossentropy between 0/1 labels and predicted probabilities."""

    probability_labels = True

    type: Literal["BinaryCrossentropy"]
    from_logits: bool = Field(False, description="Whether the predictions are logits.")
    label_smoothing: Threshold = Field(0.0, description="Label smoothing in [0, 1]: squeezes the labels towards 0.5.")


class CategoricalCrossentropyMetric(_Metric):
    """Crossentropy between one-hot labels and predicted class scores."""

    type: Literal["CategoricalCrossentropy"]
    from_logits: bool = Field(False, description="Whether the predictions are logits.")
    label_smoothing: Threshold = Field(0.0, description="Label smoothing in [0, 1].")


class SparseCategoricalCrossentropyMetric(_Metric):
    """Crossentropy between integer class ids and predicted class scores."""

    labels = "sparse"

    type: Literal["SparseCategoricalCrossentropy"]
    from_logits: bool = Field(False, description="Whether the predictions are logits.")
    ignore_class: int | None = Field(None, description="A class id the metric ignores; null: all classes count.")


class KLDivergenceMetric(_Metric):
    """Kullback-Leibler divergence between label and predicted distributions."""

    type: Literal["KLDivergence"]


class PoissonMetric(_Metric):
    """Poisson loss as a metric: mean of prediction - label * log(prediction)."""

    type: Literal["Poisson"]


class HingeMetric(_Metric):
    """Hinge loss as a metric (labels -1/1, or 0/1 read as -1/1)."""

    type: Literal["Hinge"]


class SquaredHingeMetric(_Metric):
    """Squared hinge loss as a metric."""

    type: Literal["SquaredHinge"]


class CategoricalHingeMetric(_Metric):
    """Categorical hinge loss as a metric."""

    type: Literal["CategoricalHinge"]


class MeanSquaredErrorMetric(_Metric):
    """Mean of the squared errors."""

    type: Literal["MeanSquaredError"]


class RootMeanSquaredError(_Metric):
    """Square root of the mean of the squared errors."""

    type: Literal["RootMeanSquaredError"]


class MeanAbsoluteErrorMetric(_Metric):
    """Mean of the absolute errors."""

    type: Literal["MeanAbsoluteError"]


class MeanAbsolutePercentageErrorMetric(_Metric):
    """Mean of the absolute errors as percentages of the labels."""

    type: Literal["MeanAbsolutePercentageError"]


class MeanSquaredLogarithmicErrorMetric(_Metric):
    """Mean of the squared differences of log(1 + label) and log(1 + prediction)."""

    type: Literal["MeanSquaredLogarithmicError"]


class CosineSimilarityMetric(_Metric):
    """Cosine similarity between labels and predictions along the last axis."""

    type: Literal["CosineSimilarity"]


class LogCoshError(_Metric):
    """Mean of the logarithm of the hyperbolic cosine of the errors."""

    type: Literal["LogCoshError"]


class R2Score(_Metric):
    """Coefficient of determination (R^2) of each output unit, aggregated."""

    type: Literal["R2Score"]
    class_aggregation: Literal["uniform_average", "variance_weighted_average"] | None = Field(
        "uniform_average",
        description="How the units' scores become one: their mean, their mean weighted by the labels' variance, or "
        "null for one score per unit.",
    )
    num_regressors: NonNegativeInt = Field(
        0, description="Number of independent regressors, for the adjusted R^2; 0 for the plain R^2."
    )

    def output_problems(self, shape: tuple, label_shape: tuple) -> list[Problem]:
        problems = _rank_two("R2Score", shape)
        if self.num_regressors:
            problems.append(
                (
                    "R2Score's adjusted score (num_regressors above 0) compares a tensor in a Python `if`, which "
                    f"TensorFlow's and JAX's compiled steps refuse. Received: num_regressors={self.num_regressors}",
                    "num_regressors",
                    ("tensorflow", "jax"),
                )
            )
        return problems


class PearsonCorrelation(_Metric):
    """Pearson correlation of labels and predictions along the last axis, averaged."""

    type: Literal["PearsonCorrelation"]


class ConcordanceCorrelation(_Metric):
    """Lin's concordance correlation of labels and predictions along the last axis, averaged."""

    type: Literal["ConcordanceCorrelation"]


# ---- confusion counts and curves ----------------------------------------------------------------


class _Counts(_Metric):
    thresholds: Thresholds = None


class TruePositives(_Counts):
    """The number of true positives."""

    type: Literal["TruePositives"]


class TrueNegatives(_Counts):
    """The number of true negatives."""

    type: Literal["TrueNegatives"]


class FalsePositives(_Counts):
    """The number of false positives."""

    type: Literal["FalsePositives"]


class FalseNegatives(_Counts):
    """The number of false negatives."""

    type: Literal["FalseNegatives"]


class _PrecisionRecall(_Counts):
    top_k: PositiveInt | None = Field(
        None, description="Only the top_k highest predictions count as positive; null: unset."
    )
    class_id: ClassId = None

    def highest(self) -> tuple[int, str, tuple[str, ...]] | None:
        return (self.top_k, "top_k", ()) if self.top_k else None

    def output_problems(self, shape: tuple, label_shape: tuple) -> list[Problem]:
        return _class_id_problem(self, shape)


class Precision(_PrecisionRecall):
    """Precision: true positives / predicted positives."""

    type: Literal["Precision"]


class Recall(_PrecisionRecall):
    """Recall: true positives / actual positives."""

    type: Literal["Recall"]


class _AtValue(_Metric):
    num_thresholds: PositiveInt = Field(200, description="Number of thresholds tried to reach the given value.")
    class_id: ClassId = None

    def output_problems(self, shape: tuple, label_shape: tuple) -> list[Problem]:
        return _class_id_problem(self, shape)


class PrecisionAtRecall(_AtValue):
    """The best precision where the recall is at least the given value."""

    type: Literal["PrecisionAtRecall"]
    recall: Threshold = Field(description="The recall to reach, in [0, 1].")


class RecallAtPrecision(_AtValue):
    """The best recall where the precision is at least the given value."""

    type: Literal["RecallAtPrecision"]
    precision: Threshold = Field(description="The precision to reach, in [0, 1].")


class SensitivityAtSpecificity(_AtValue):
    """The best sensitivity where the specificity is at least the given value."""

    type: Literal["SensitivityAtSpecificity"]
    specificity: Threshold = Field(description="The specificity to reach, in [0, 1].")


class SpecificityAtSensitivity(_AtValue):
    """The best specificity where the sensitivity is at least the given value."""

    type: Literal["SpecificityAtSensitivity"]
    sensitivity: Threshold = Field(description="The sensitivity to reach, in [0, 1].")


class AUC(_Metric):
    """Area under the ROC or precision-recall curve."""

    # `num_labels` only with `multi_label: true` (the model validator says it in Keras's words).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"required": ["num_labels"], "properties": {"num_labels": {"not": {"type": "null"}}}},
            "then": {"required": ["multi_label"], "properties": {"multi_label": {"const": True}}},
        }
    )

    type: Literal["AUC"]
    num_thresholds: Annotated[int, Field(ge=2)] = Field(
        200, description="Number of thresholds used to discretise the curve (unused with thresholds)."
    )
    curve: Literal["ROC", "PR"] = Field("ROC", description="The curve: ROC, or PR (precision-recall).")
    summation_method: Literal["interpolation", "minoring", "majoring"] = Field(
        "interpolation",
        description="How the area is summed: interpolation (trapezoids; for PR, interpolated precision), "
        "minoring (left sums: a lower bound) or majoring (right sums: an upper bound).",
    )
    thresholds: list[Threshold] | None = Field(
        None, description="The thresholds (in [0, 1]) to discretise the curve with, instead of num_thresholds."
    )
    multi_label: bool = Field(
        False,
        description="Compute the AUC of each label separately and average them, instead of flattening the labels; false for multi-class data.",
    )
    num_labels: PositiveInt | None = Field(
        None, description="With multi_label: the number of labels (the output's last axis); null: found when built."
    )
    label_weights: list[NonNegativeFloat] | None = Field(
        None,
        description="One weight per label (the output's last axis) in the average (with multi_label) or in the "
        "counts; null: equal weights.",
    )
    from_logits: bool = Field(
        False, description="Whether the predictions are logits rather than probabilities; match the loss's from_logits."
    )

    @model_validator(mode="after")
    def _labels_with_multi_label(self):
        if self.num_labels is not None and not self.multi_label:
            raise ValueError("`num_labels` is needed only when `multi_label` is True. Received: multi_label=False")
        return self

    def output_problems(self, shape: tuple, label_shape: tuple) -> list[Problem]:
        problems: list[Problem] = []
        if self.multi_label and len(shape) != 2:
            problems.append(
                (f"AUC with multi_label needs an output of rank 2. Received: output shape={shape}", "multi_label", ())
            )
        labels = shape[-1] if shape else None
        for field, count in (
            ("num_labels", self.num_labels),
            ("label_weights", None if self.label_weights is None else len(self.label_weights)),
        ):
            if count is not None and labels is not None and count != labels:
                problems.append(
                    (
                        f"AUC's {field} gives {count} label(s), but the output has {labels} in its last axis. "
                        f"Received: {field}={getattr(self, field)}",
                        field,
                        (),
                    )
                )
        return problems


# ---- F-scores ------------------------------------------------------------------------------------


class _FScore(_Metric):
    average: Literal["micro", "macro", "weighted"] | None = Field(
        None,
        description="null: one score per class; micro: from the counts of all classes; macro: the mean of the "
        "classes' scores; weighted: their mean weighted by the classes' counts.",
    )
    threshold: Annotated[float, Field(gt=0, le=1)] | None = Field(
        None, description="Predictions above this count as positive; null: the highest score of each example."
    )

    def output_problems(self, shape: tuple, label_shape: tuple) -> list[Problem]:
        return _rank_two(self.type_name(), shape)


class FBetaScore(_FScore):
    """F-beta score of each class (or averaged): the weighted harmonic mean of precision and recall."""

    type: Literal["FBetaScore"]
    beta: PositiveFloat = Field(1.0, description="Weight of recall against precision (1: the F1 score).")


class F1Score(_FScore):
    """F1 score of each class (or averaged): the harmonic mean of precision and recall."""

    type: Literal["F1Score"]


# ---- intersection over union ---------------------------------------------------------------------


SparseTrue = Annotated[
    bool, Field(description="The labels are class ids (true), or class scores to take the highest of (false).")
]
SparsePred = Annotated[
    bool,
    Field(
        description="The predictions are class ids (true), or class scores to take the highest of (false: what a "
        "classifier's output is)."
    ),
]


class _IoU(_Metric):
    num_classes: PositiveInt = Field(description="The number of classes (the size of the confusion matrix).")
    ignore_class: int | None = Field(None, description="A class id left out of the counts; null: all count.")
    sparse_y_pred: SparsePred  # each class gives its default

    def label_kind(self) -> str:
        return "sparse" if getattr(self, "sparse_y_true", False) else "dense"

    def output_problems(self, shape: tuple, label_shape: tuple) -> list[Problem]:
        """Keras flattens the labels and predictions (after taking the highest score where they are not ids):
        both must hold as many ids."""
        sparse_true, sparse_pred = getattr(self, "sparse_y_true", False), self.sparse_y_pred
        ids_true = label_shape if sparse_true else label_shape[:-1]
        ids_pred = shape if sparse_pred else shape[:-1]
        if _same_size(ids_true[1:], ids_pred[1:]):
            return []
        return [
            (
                f"{self.type_name()} compares {_ids(ids_true[1:], sparse_true, 'label')} with "
                f"{_ids(ids_pred[1:], sparse_pred, 'prediction')} per example; Keras fails when they differ "
                f"in number. Received: output shape={shape}, sparse_y_pred={sparse_pred}",
                "sparse_y_pred",
                (),
            )
        ]


def _ids(shape: tuple, sparse: bool, what: str) -> str:
    return f"{what} ids of shape {shape}" + ("" if sparse else f" (the highest of the {what} scores)")


def _same_size(a: tuple, b: tuple) -> bool:
    """Whether two shapes hold as many values, as far as known (axes of 1 aside, unknown ones must pair)."""
    a, b = tuple(d for d in a if d != 1), tuple(d for d in b if d != 1)
    if None in a or None in b:
        return a == b
    size_a = size_b = 1
    for d in a:
        size_a *= d
    for d in b:
        size_b *= d
    return size_a == size_b


class _TargetClasses(_IoU):
    target_class_ids: list[NonNegativeInt] = Field(
        min_length=1, description="The classes whose IoU is averaged (each below num_classes)."
    )

    @model_validator(mode="after")
    def _targets_in_range(self):
        if max(self.target_class_ids) >= self.num_classes:
            raise ValueError(
                f"Target class id {max(self.target_class_ids)} is out of range, which is [0, {self.num_classes}). "
                f"Received: target_class_ids={list(self.target_class_ids)}, num_classes={self.num_classes}"
            )
        return self


class IoU(_TargetClasses):
    """Intersection over union of the target classes, averaged."""

    type: Literal["IoU"]
    sparse_y_true: SparseTrue = True
    sparse_y_pred: SparsePred = True


class MeanIoU(_IoU):
    """Intersection over union of every class, averaged."""

    type: Literal["MeanIoU"]
    sparse_y_true: SparseTrue = True
    sparse_y_pred: SparsePred = True


class OneHotIoU(_TargetClasses):
    """IoU for one-hot labels (the highest label score is the class)."""

    type: Literal["OneHotIoU"]
    sparse_y_pred: SparsePred = False


class OneHotMeanIoU(_IoU):
    """Mean IoU for one-hot labels (the highest label score is the class)."""

    type: Literal["OneHotMeanIoU"]
    sparse_y_pred: SparsePred = False


class BinaryIoU(_Metric):
    """IoU of the classes 0 and/or 1, predictions thresholded."""

    type: Literal["BinaryIoU"]
    target_class_ids: list[Literal[0, 1]] = Field(
        [0, 1], min_length=1, description="The classes (0, 1) whose IoU is averaged."
    )
    threshold: float = Field(0.5, description="Predictions above this are class 1 (use 0 with logits).")


METRIC_CLASSES: tuple[type[_Metric], ...] = (
    AUC,
    Accuracy,
    BinaryAccuracy,
    BinaryCrossentropyMetric,
    BinaryIoU,
    CategoricalAccuracy,
    CategoricalCrossentropyMetric,
    CategoricalHingeMetric,
    ConcordanceCorrelation,
    CosineSimilarityMetric,
    F1Score,
    FBetaScore,
    FalseNegatives,
    FalsePositives,
    HingeMetric,
    IoU,
    KLDivergenceMetric,
    LogCoshError,
    MeanAbsoluteErrorMetric,
    MeanAbsolutePercentageErrorMetric,
    MeanIoU,
    MeanSquaredErrorMetric,
    MeanSquaredLogarithmicErrorMetric,
    OneHotIoU,
    OneHotMeanIoU,
    PearsonCorrelation,
    PoissonMetric,
    Precision,
    PrecisionAtRecall,
    R2Score,
    Recall,
    RecallAtPrecision,
    RootMeanSquaredError,
    SensitivityAtSpecificity,
    SparseCategoricalAccuracy,
    SparseCategoricalCrossentropyMetric,
    SparseTopKCategoricalAccuracy,
    SpecificityAtSensitivity,
    SquaredHingeMetric,
    TopKCategoricalAccuracy,
    TrueNegatives,
    TruePositives,
)
METRIC_TYPES: dict[str, type[_Metric]] = {cls.type_name(): cls for cls in METRIC_CLASSES}
#: Keras's accuracy that fits the loss, under its name and the spellings compile takes for it.
AUTO_ACCURACY = "accuracy"


def _snake(name: str) -> str:
    """Keras's snake-case name of a class (`keras.src.utils.naming.to_snake_case`): AUC -> auc, F1Score ->
    f1_score, BinaryIoU -> binary_io_u."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub("([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


#: The classes a name stands for (with their defaults): those that need no argument, under Keras's snake-case name.
_BY_NAME: dict[str, type[_Metric]] = {
    _snake(cls.type_name()): cls
    for cls in METRIC_CLASSES
    if cls is not Accuracy and not any(info.is_required() for name, info in cls.model_fields.items() if name != "type")
}
#: Keras's name of each metric that needs no argument, `accuracy` first.
METRIC_CANONICAL = (AUTO_ACCURACY, *_BY_NAME)
#: The other spellings Keras takes (`compile`'s `acc` and case-insensitive `accuracy`, `keras.metrics.get`'s short
#: names and class names), each normalised to the name.
METRIC_ALIASES: dict[str, str] = {
    **{spelling: AUTO_ACCURACY for spelling in ("acc", "ACC", "Accuracy")},
    **{short: name for name, shorts in (
        ("mean_squared_error", ("mse", "MSE")),
        ("mean_absolute_error", ("mae", "MAE")),
        ("mean_absolute_percentage_error", ("mape", "MAPE")),
        ("mean_squared_logarithmic_error", ("msle", "MSLE")),
        ("binary_crossentropy", ("bce", "BCE")),
    ) for short in shorts},
    **{cls.type_name(): name for name, cls in _BY_NAME.items()},
}  # fmt: skip
#: Every metric name a spec may give: Keras's names, then the other spellings.
METRIC_NAMES = (*METRIC_CANONICAL, *METRIC_ALIASES)
MetricName: Any = canonical_name(
    METRIC_NAMES,
    METRIC_ALIASES,
    "A metric by Keras's name with its defaults (Keras's other spellings, acc, mse or MeanSquaredError, are "
    "taken too and normalised to the name).",
)
MetricConfig = Annotated[
    AUC
    | Accuracy
    | BinaryAccuracy
    | BinaryCrossentropyMetric
    | BinaryIoU
    | CategoricalAccuracy
    | CategoricalCrossentropyMetric
    | CategoricalHingeMetric
    | ConcordanceCorrelation
    | CosineSimilarityMetric
    | F1Score
    | FBetaScore
    | FalseNegatives
    | FalsePositives
    | HingeMetric
    | IoU
    | KLDivergenceMetric
    | LogCoshError
    | MeanAbsoluteErrorMetric
    | MeanAbsolutePercentageErrorMetric
    | MeanIoU
    | MeanSquaredErrorMetric
    | MeanSquaredLogarithmicErrorMetric
    | OneHotIoU
    | OneHotMeanIoU
    | PearsonCorrelation
    | PoissonMetric
    | Precision
    | PrecisionAtRecall
    | R2Score
    | Recall
    | RecallAtPrecision
    | RootMeanSquaredError
    | SensitivityAtSpecificity
    | SparseCategoricalAccuracy
    | SparseCategoricalCrossentropyMetric
    | SparseTopKCategoricalAccuracy
    | SpecificityAtSensitivity
    | SquaredHingeMetric
    | TopKCategoricalAccuracy
    | TrueNegatives
    | TruePositives,
    Field(discriminator="type"),
]
# Written once in the JSON Schema's `$defs`: metrics go for every output or for each output.
Metric = TypeAliasType(
    "Metric",
    Annotated[MetricName | MetricConfig, Field(description="Metric by Keras name, or {type: AUC, ...}.")],
)


def metric_object(metric: Any) -> _Metric | None:
    """A metric given by name or configuration, as a configuration (a name: its class with Keras's defaults);
    None for `accuracy`, which is whichever accuracy fits the labels."""
    if not isinstance(metric, str):
        return metric
    return _named(METRIC_ALIASES.get(metric, metric))


@functools.cache
def _named(name: str) -> _Metric | None:
    if name == AUTO_ACCURACY:
        return None
    return _BY_NAME[name].model_validate({"type": _BY_NAME[name].type_name()})


def metric_name(metric: Any) -> str:
    """The metric as a spec names it: its name, or its class."""
    return metric if isinstance(metric, str) else metric.type


def canonical_monitor(monitor: str) -> str:
    """A monitored quantity with its metric's name normalised (`val_acc` -> `val_accuracy`, `out_mse` ->
    `out_mean_squared_error`): Keras logs a metric under the name the spec gives, which kspec normalises."""
    head, sep, last = monitor.rpartition("_")
    return head + sep + METRIC_ALIASES.get(last, last)
