"""Losses (`keras.losses`) of the `training` section: every Keras loss, by name or as `{type: ..., ...}` with
Keras's arguments.

A name is any spelling `keras.losses.get` takes (`mean_squared_error`, `mse`, `MSE`, `MeanSquaredError`),
normalised to Keras's function name (`mean_squared_error`). Each class states what the later stages need to
know about it: the labels it reads (`labels`), whether it reads the output as probabilities, takes its
logarithm, or needs an output of a given rank.

Left out: `reduction`-free arguments that name things (`name`, `dtype`) and the `axis` of the crossentropies
and of CosineSimilarity (kspec's labels put the classes, and the features, on the last axis: channels-last).
The names `crossentropy` and `ce`, which Keras resolves from the shapes of the first batch, are not taken:
name the crossentropy.
"""

import functools
from typing import Annotated, Any, ClassVar, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator
from typing_extensions import TypeAliasType

from ..diagnostics import PolicyError
from .aliases import canonical_name
from .base import KspecModel, NonNegativeFloat, PositiveFloat, shared

#: What a loss reads as labels:
#: sparse      integer class ids, shaped like the output without its last axis (the classes);
#: one_hot     class scores (one-hot, or a distribution) shaped like the output;
#: binary      values in [0, 1] shaped like the output;
#: regression  any values shaped like the output;
#: ids         integer ids of groups (examples with the same id belong together), one per example;
#: ctc         integer label sequences (batch, max_length), 0 the blank that pads them.
LABEL_KINDS = ("sparse", "one_hot", "binary", "regression", "ids", "ctc")

Reduction = Literal["sum_over_batch_size", "sum", "mean", "mean_with_sample_weight", "none"] | None


class _Loss(KspecModel):
    """A Keras loss class; the class variables are the facts about it that the checks use."""

    #: What the loss reads as labels (one of LABEL_KINDS).
    labels: ClassVar[str] = "regression"
    #: Keras's name of the loss function (what a spec may give instead of `{type: ...}`); None: no name.
    function: ClassVar[str | None] = None
    #: It reads the output as probabilities (unless `from_logits`).
    probabilities: ClassVar[bool] = False
    #: Reading probabilities, it still computes a finite loss from values scaled above 1 (by a Dropout).
    tolerates_scaling: ClassVar[bool] = True
    #: It always reads logits (no from_logits argument).
    reads_logits: ClassVar[bool] = False
    #: It takes the logarithm of the output, which must never be negative.
    logarithm: ClassVar[bool] = False
    #: The rank the output must have (batch axis included); None: any.
    output_rank: ClassVar[int | None] = None

    reduction: Reduction = Field(
        "sum_over_batch_size",
        description="How the per-example losses become one number: sum_over_batch_size (or mean) divides their sum "
        "by their number, sum sums them, mean_with_sample_weight divides by the sum of the sample weights; "
        "none (or null) keeps them: only TensorFlow trains then (refused: a spec trains on every backend).",
        json_schema_extra=shared("Reduction"),
    )

    @classmethod
    def type_name(cls) -> str:
        return cls.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]

    def values_shape(self, shape: tuple) -> tuple:
        """The shape of the loss's values before the reduction, for an output of `shape` (batch axis included):
        Keras weights them with the output's mask. Most losses reduce the last axis."""
        return shape[:-1]


class _Crossentropy(_Loss):
    probabilities = True

    from_logits: bool = Field(False, description="Whether the predictions are logits (no softmax/sigmoid applied).")


Smoothing = Annotated[float, Field(ge=0, le=1)]


class SparseCategoricalCrossentropy(_Crossentropy):
    """Crossentropy between integer class ids and predicted class scores."""

    labels = "sparse"
    function = "sparse_categorical_crossentropy"

    type: Literal["SparseCategoricalCrossentropy"]
    ignore_class: int | None = Field(
        None,
        description="A class id ignored by the loss (e.g. a 'void' class in segmentation); null: all classes count.",
    )


class CategoricalCrossentropy(_Crossentropy):
    """Crossentropy between one-hot labels and predicted class scores."""

    labels = "one_hot"
    function = "categorical_crossentropy"

    type: Literal["CategoricalCrossentropy"]
    label_smoothing: Smoothing = Field(
        0.0,
        description="Label smoothing in [0, 1]: with 0.1, targets become 0.1 / num_classes and 0.9 + 0.1 / num_classes; 0 for none.",
    )


class BinaryCrossentropy(_Crossentropy):
    """Crossentropy between 0/1 labels and predicted probabilities (or logits)."""

    labels = "binary"
    function = "binary_crossentropy"

    type: Literal["BinaryCrossentropy"]
    label_smoothing: Smoothing = Field(
        0.0,
        description="Label smoothing in [0, 1]: squeezes the labels towards 0.5 (0 for none; larger is heavier smoothing).",
    )


class CategoricalFocalCrossentropy(_Crossentropy):
    """Focal crossentropy for one-hot labels: focuses training on hard examples."""

    labels = "one_hot"
    function = "categorical_focal_crossentropy"

    type: Literal["CategoricalFocalCrossentropy"]
    alpha: Annotated[float, Field(ge=0, le=1)] = Field(
        0.25, description="Weight balancing factor applied to all classes."
    )
    gamma: NonNegativeFloat = Field(
        2.0, description="Focusing parameter: down-weights easy examples; 0 gives plain crossentropy."
    )
    label_smoothing: Smoothing = Field(
        0.0,
        description="Label smoothing in [0, 1]: with 0.1, targets become 0.1 / num_classes and 0.9 + 0.1 / num_classes; 0 for none.",
    )


class BinaryFocalCrossentropy(_Crossentropy):
    """Focal crossentropy for 0/1 labels: focuses training on hard examples."""

    labels = "binary"
    function = "binary_focal_crossentropy"
    tolerates_scaling = False  # the focal factor (1 - p) ** gamma takes p unclipped: NaN above 1

    type: Literal["BinaryFocalCrossentropy"]
    apply_class_balancing: bool = Field(False, description="Weight the classes 1 and 0 by alpha and 1 - alpha.")
    alpha: Annotated[float, Field(ge=0, le=1)] = Field(
        0.25, description="Weight of class 1 (class 0 gets 1 - alpha); used only with apply_class_balancing."
    )
    gamma: NonNegativeFloat = Field(
        2.0, description="Focusing parameter: down-weights easy examples; 0 gives plain crossentropy."
    )
    label_smoothing: Smoothing = Field(
        0.0,
        description="Label smoothing in [0, 1]: squeezes the labels towards 0.5 (0 for none; larger is heavier smoothing).",
    )


class CategoricalGeneralizedCrossEntropy(_Loss):
    """Generalized crossentropy (Zhang and Sabuncu, 2018) between integer class ids and predicted probabilities:
    (1 - p ** q) / q for the probability p of the true class; robust to noisy labels."""

    labels = "sparse"
    probabilities = True  # p ** q of a negative p is NaN

    type: Literal["CategoricalGeneralizedCrossEntropy"]
    # (0, 1) is Keras's own bound, checked as Keras checks it (the schema states it)
    q: Annotated[float, Field(json_schema_extra={"exclusiveMinimum": 0, "exclusiveMaximum": 1})] = Field(
        0.5,
        description="Noise parameter in (0, 1), as Keras requires: near 0 the loss behaves like crossentropy, near 1 "
        "like the mean absolute error (more robust to noisy labels).",
    )

    @field_validator("q")
    @classmethod
    def _q_in_range(cls, q: float) -> float:
        if not 0 < q < 1:
            raise ValueError(f"`q` must be in the interval (0, 1). Received: q={q}")
        return q


class KLDivergence(_Loss):
    """Kullback-Leibler divergence between label and predicted distributions."""

    labels = "one_hot"
    function = "kl_divergence"
    probabilities = True

    type: Literal["KLDivergence"]


class Poisson(_Loss):
    """Poisson loss: mean of prediction - label * log(prediction), for counts."""

    function = "poisson"
    logarithm = True

    type: Literal["Poisson"]


class MeanSquaredError(_Loss):
    """Mean of the squared errors."""

    function = "mean_squared_error"

    type: Literal["MeanSquaredError"]


class MeanAbsoluteError(_Loss):
    """Mean of the absolute errors."""

    function = "mean_absolute_error"

    type: Literal["MeanAbsoluteError"]


class MeanAbsolutePercentageError(_Loss):
    """Mean of the absolute errors as percentages of the labels."""

    function = "mean_absolute_percentage_error"

    type: Literal["MeanAbsolutePercentageError"]


class MeanSquaredLogarithmicError(_Loss):
    """Mean of the squared differences of log(1 + label) and log(1 + prediction)."""

    function = "mean_squared_logarithmic_error"
    logarithm = True

    type: Literal["MeanSquaredLogarithmicError"]


class CosineSimilarity(_Loss):
    """Negative cosine similarity between labels and predictions along the last axis (-1: aligned)."""

    function = "cosine_similarity"

    type: Literal["CosineSimilarity"]


class Huber(_Loss):
    """Huber loss: quadratic for small errors, linear for large ones."""

    function = "huber"

    type: Literal["Huber"]
    delta: PositiveFloat = Field(1.0, description="The error size at which the loss changes from quadratic to linear.")


class LogCosh(_Loss):
    """Logarithm of the hyperbolic cosine of the errors: like the squared error for small errors, the absolute
    error for large ones."""

    function = "log_cosh"

    type: Literal["LogCosh"]


class Hinge(_Loss):
    """Hinge loss, for labels -1/1 (0/1 labels are read as -1/1) and scores."""

    labels = "binary"
    function = "hinge"

    type: Literal["Hinge"]


class SquaredHinge(_Loss):
    """Squared hinge loss, for labels -1/1 (0/1 labels are read as -1/1) and scores."""

    labels = "binary"
    function = "squared_hinge"

    type: Literal["SquaredHinge"]


class CategoricalHinge(_Loss):
    """Categorical hinge loss, for one-hot labels and class scores."""

    labels = "one_hot"
    function = "categorical_hinge"

    type: Literal["CategoricalHinge"]


Axes = int | list[int] | None


class _Overlap(_Loss):
    """The overlap losses (segmentation): labels and predictions in [0, 1], shaped like the output."""

    labels = "binary"
    probabilities = True  # 1 - overlap / size: a sum of negative predictions near 0 divides by almost nothing

    axis: Axes = Field(
        None,
        description="The axes (of the output with its batch axis: 0 is the batch) over which the overlap is "
        "measured; null: all of them at once.",
    )

    def axes(self) -> list[int]:
        return [] if self.axis is None else [self.axis] if isinstance(self.axis, int) else list(self.axis)

    def values_shape(self, shape: tuple) -> tuple:
        if self.axis is None:
            return ()
        reduced = {a % len(shape) for a in self.axes() if -len(shape) <= a < len(shape)}
        return tuple(d for i, d in enumerate(shape) if i not in reduced)


class Dice(_Overlap):
    """Dice loss: 1 - 2 * overlap / (sum of labels + sum of predictions)."""

    function = "dice"

    type: Literal["Dice"]


class Tversky(_Overlap):
    """Tversky loss: 1 - overlap / (overlap + alpha * false positives + beta * false negatives); Dice at
    alpha = beta = 0.5."""

    function = "tversky"

    type: Literal["Tversky"]
    alpha: NonNegativeFloat = Field(0.5, description="Weight of the false positives.")
    beta: NonNegativeFloat = Field(0.5, description="Weight of the false negatives.")

    # `_something_to_learn`, in the schema
    model_config = ConfigDict(
        json_schema_extra={
            "not": {"required": ["alpha", "beta"], "properties": {"alpha": {"const": 0}, "beta": {"const": 0}}}
        }
    )

    @field_validator("beta")
    @classmethod
    def _something_to_learn(cls, beta: float, info: ValidationInfo) -> float:
        if beta == 0 and info.data.get("alpha") == 0:
            raise PolicyError(
                "`alpha` and `beta` cannot both be 0: the loss would be 0 whatever the prediction (kspec policy: "
                "nothing would train). Received: alpha=0.0, beta=0.0",
                "loss-range",
            )
        return beta


class Circle(_Loss):
    """Circle loss (Sun et al., 2020): pulls together the embeddings of examples with the same id and pushes
    apart the others; the output should be L2-normalised embeddings (a UnitNormalization last)."""

    labels = "ids"
    function = "circle"
    output_rank = 2  # (batch, embedding): it multiplies the embeddings by their transpose

    type: Literal["Circle"]
    gamma: PositiveFloat = Field(
        80.0, description="Scale of the similarity scores, above 0 (at 0 the loss is constant)."
    )
    margin: NonNegativeFloat = Field(
        0.4,
        description="Relaxation: below this distance negatives are weighted up and positives down, above it the "
        "reverse.",
    )
    remove_diagonal: bool = Field(True, description="Leave each example's similarity with itself out of the positives.")

    def values_shape(self, shape: tuple) -> tuple:
        return shape[:1]  # one value per example


class CTC(_Loss):
    """Connectionist temporal classification: integer label sequences (0 is the blank that pads them) against
    per-step class logits (batch, steps, classes) with no softmax; a label may not be longer than the steps."""

    labels = "ctc"
    function = "ctc"
    reads_logits = True
    output_rank = 3

    type: Literal["CTC"]

    def values_shape(self, shape: tuple) -> tuple:
        return shape[:1]  # one value per sequence


LOSS_CLASSES: tuple[type[_Loss], ...] = (
    SparseCategoricalCrossentropy,
    CategoricalCrossentropy,
    BinaryCrossentropy,
    CategoricalFocalCrossentropy,
    BinaryFocalCrossentropy,
    CategoricalGeneralizedCrossEntropy,
    KLDivergence,
    Poisson,
    MeanSquaredError,
    MeanAbsoluteError,
    MeanAbsolutePercentageError,
    MeanSquaredLogarithmicError,
    CosineSimilarity,
    Huber,
    LogCosh,
    Hinge,
    SquaredHinge,
    CategoricalHinge,
    Dice,
    Tversky,
    Circle,
    CTC,
)
LOSS_TYPES: dict[str, type[_Loss]] = {cls.type_name(): cls for cls in LOSS_CLASSES}
#: Each loss class by type name -> what it expects of the labels (one of LABEL_KINDS).
LOSS_CLASS_KIND = {name: cls.labels for name, cls in LOSS_TYPES.items()}
#: Keras's name of each loss function -> what it expects of the labels.
LOSSES: dict[str, str] = {cls.function: cls.labels for cls in LOSS_CLASSES if cls.function}
_BY_NAME: dict[str, type[_Loss]] = {cls.function: cls for cls in LOSS_CLASSES if cls.function}
#: The other spellings Keras takes for a loss (`keras.losses.get`): its short names and the class names of the
#: losses that have a function; each normalised to the function's name. (Keras's table of losses leaves out
#: CategoricalGeneralizedCrossEntropy: only its `{type: ...}` form is taken.)
LOSS_ALIASES: dict[str, str] = {
    **{short: name for name, shorts in (
        ("mean_squared_error", ("mse", "MSE")),
        ("mean_absolute_error", ("mae", "MAE")),
        ("mean_absolute_percentage_error", ("mape", "MAPE")),
        ("mean_squared_logarithmic_error", ("msle", "MSLE")),
        ("kl_divergence", ("kld", "KLD")),
        ("binary_crossentropy", ("bce", "BCE")),
    ) for short in shorts},
    **{cls.type_name(): cls.function for cls in LOSS_CLASSES if cls.function},
}  # fmt: skip
#: Every loss name a spec may give: Keras's names, then the other spellings.
LOSS_NAMES = (*LOSSES, *LOSS_ALIASES)
LossName: Any = canonical_name(
    LOSS_NAMES,
    LOSS_ALIASES,
    "A loss by Keras's name with its defaults (Keras's other spellings, mse or MeanSquaredError, are taken too and "
    "normalised to the name: mean_squared_error).",
)
LossConfig = Annotated[
    SparseCategoricalCrossentropy
    | CategoricalCrossentropy
    | BinaryCrossentropy
    | CategoricalFocalCrossentropy
    | BinaryFocalCrossentropy
    | CategoricalGeneralizedCrossEntropy
    | KLDivergence
    | Poisson
    | MeanSquaredError
    | MeanAbsoluteError
    | MeanAbsolutePercentageError
    | MeanSquaredLogarithmicError
    | CosineSimilarity
    | Huber
    | LogCosh
    | Hinge
    | SquaredHinge
    | CategoricalHinge
    | Dice
    | Tversky
    | Circle
    | CTC,
    Field(discriminator="type"),
]
# Written once in the JSON Schema's `$defs`: a loss goes for the whole model or for each output.
Loss = TypeAliasType(
    "Loss",
    Annotated[
        LossName | LossConfig,
        Field(description="Loss by Keras name, or {type: CategoricalCrossentropy, from_logits: true, ...}."),
    ],
)


def loss_class(loss: Any) -> type[_Loss]:
    """The class of a loss given by name (any spelling) or as a configuration."""
    if isinstance(loss, str):
        return _BY_NAME[LOSS_ALIASES.get(loss, loss)]
    return LOSS_TYPES[loss.type]


def loss_object(loss: Any) -> _Loss:
    """A loss given by name or configuration, as a configuration (a name: its class with Keras's defaults)."""
    return _named(LOSS_ALIASES.get(loss, loss)) if isinstance(loss, str) else loss


@functools.cache
def _named(name: str) -> _Loss:
    cls = _BY_NAME[name]
    return cls.model_validate({"type": cls.type_name()})


def loss_kind(loss: Any) -> str:
    """What the loss expects of its labels: one of LABEL_KINDS."""
    return loss_class(loss).labels


def loss_from_logits(loss: Any) -> bool:
    """Whether the loss reads the output as logits: `from_logits`, or always (CTC)."""
    return loss_class(loss).reads_logits or bool(getattr(loss, "from_logits", False))


def loss_reads_probabilities(loss: Any) -> bool:
    """Whether the loss reads the output as probabilities (it is one that does, without from_logits)."""
    return loss_class(loss).probabilities and not loss_from_logits(loss)


def loss_name(loss: Any) -> str:
    """The loss as a spec names it: its name, or its class."""
    return loss if isinstance(loss, str) else loss.type


def loss_range_policy(path: tuple, value: Any, data: Any) -> str | None:
    """The loss-range policy for a loss argument at `path` (`training.loss[.output].field`) out of kspec's bounds:
    Keras's loss constructors check none of their numbers but CategoricalGeneralizedCrossEntropy's q."""
    if len(path) < 3 or tuple(path[:2]) != ("training", "loss") or not isinstance(data, dict):
        return None
    training = data.get("training")
    arguments = training.get("loss") if isinstance(training, dict) else None
    rest = list(path[2:])
    if len(rest) == 2 and isinstance(arguments, dict) and "type" not in arguments:
        arguments = arguments.get(rest.pop(0))
    if len(rest) != 1 or not isinstance(arguments, dict) or arguments.get("type") not in LOSS_TYPES:
        return None
    if arguments["type"] == "CategoricalGeneralizedCrossEntropy" and rest[0] == "q":
        return None
    return "loss-range"
