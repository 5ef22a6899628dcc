"""The `training` section: optimizer (with schedules), losses, metrics, fit settings, callbacks."""

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator

from ..diagnostics import PolicyError
from ..rundir import RUN_FILES
from .base import END, KspecModel, Name, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Seed

# ---- learning-rate schedules -------------------------------------------------------------------


class ExponentialDecay(KspecModel):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)`."""

    type: Literal["ExponentialDecay"]
    initial_learning_rate: PositiveFloat = Field(description="The learning rate at step 0.")
    decay_steps: PositiveInt = Field(description="Steps over which the learning rate is multiplied by decay_rate once.")
    decay_rate: PositiveFloat = Field(description="Factor the learning rate is multiplied by every decay_steps steps.")
    staircase: bool = Field(
        False, description="Decay at discrete intervals (integer step / decay_steps) instead of continuously."
    )


class InverseTimeDecay(KspecModel):
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)`."""

    type: Literal["InverseTimeDecay"]
    initial_learning_rate: PositiveFloat = Field(description="The learning rate at step 0.")
    decay_steps: PositiveInt = Field(description="How often (in steps) decay_rate is applied once more.")
    decay_rate: NonNegativeFloat = Field(description="The decay rate: how fast the learning rate falls.")
    staircase: bool = Field(
        False, description="Decay at discrete intervals (integer step / decay_steps) instead of continuously."
    )


class PolynomialDecay(KspecModel):
    """Polynomial decay from `initial_learning_rate` to `end_learning_rate` over `decay_steps`."""

    type: Literal["PolynomialDecay"]
    initial_learning_rate: PositiveFloat = Field(description="The learning rate at step 0.")
    decay_steps: PositiveInt = Field(description="Steps over which the learning rate falls to end_learning_rate.")
    end_learning_rate: NonNegativeFloat = Field(
        0.0001, description="The minimal learning rate, reached after decay_steps steps."
    )
    power: PositiveFloat = Field(1.0, description="The power of the polynomial; 1.0 is a linear decay.")
    cycle: bool = Field(
        False,
        description="Restart the decay beyond decay_steps (with a longer period) instead of staying at end_learning_rate.",
    )


class PiecewiseConstantDecay(KspecModel):
    """`values[i]` between `boundaries[i-1]` and `boundaries[i]` (steps)."""

    type: Literal["PiecewiseConstantDecay"]
    boundaries: list[NonNegativeInt] = Field(min_length=1, description="Step boundaries, increasing.")
    values: list[PositiveFloat] = Field(min_length=2, description="One more value than boundaries.")

    @model_validator(mode="after")
    def _lengths(self):
        if len(self.values) != len(self.boundaries) + 1:
            raise ValueError(
                "`values` must have one more element than `boundaries`. "
                f"Received: len(boundaries)={len(self.boundaries)}, len(values)={len(self.values)}"
            )
        if any(earlier >= later for earlier, later in zip(self.boundaries, self.boundaries[1:])):
            raise PolicyError(
                "`boundaries` must be strictly increasing (kspec policy: Keras would train with a schedule that "
                f"skips values). Received: boundaries={list(self.boundaries)}",
                "ordered-bounds",
            )
        return self


class CosineDecay(KspecModel):
    """Cosine decay, with optional linear warmup."""

    type: Literal["CosineDecay"]
    initial_learning_rate: PositiveFloat = Field(description="The learning rate at step 0.")
    decay_steps: PositiveInt = Field(description="Number of steps to decay over (after the warmup).")
    alpha: Annotated[float, Field(ge=0, le=1)] = Field(
        0.0,
        description="Minimum learning rate, as a fraction of warmup_target (or of initial_learning_rate without warmup).",
    )
    warmup_target: PositiveFloat | None = Field(
        None,
        description="Learning rate reached at the end of the linear warmup from initial_learning_rate; null skips warmup.",
    )
    warmup_steps: NonNegativeInt = Field(0, description="Number of steps of linear warmup before the decay starts.")


class CosineDecayRestarts(KspecModel):
    """Cosine decay with warm restarts (SGDR)."""

    type: Literal["CosineDecayRestarts"]
    initial_learning_rate: PositiveFloat = Field(description="The learning rate at step 0.")
    first_decay_steps: PositiveInt = Field(description="Number of steps in the first decay period.")
    t_mul: PositiveFloat = Field(2.0, description="Each period is t_mul times as long as the previous one.")
    m_mul: PositiveFloat = Field(
        1.0, description="Each period starts at m_mul times the previous period's initial learning rate."
    )
    alpha: Annotated[float, Field(ge=0, le=1)] = Field(
        0.0, description="Minimum learning rate, as a fraction of initial_learning_rate."
    )


Schedule = Annotated[
    ExponentialDecay | InverseTimeDecay | PolynomialDecay | PiecewiseConstantDecay | CosineDecay | CosineDecayRestarts,
    Field(discriminator="type"),
]
LearningRate = Annotated[
    PositiveFloat | Schedule,
    Field(description="A fixed learning rate, or a schedule {type: ExponentialDecay, ...}."),
]

# ---- optimizers --------------------------------------------------------------------------------

OPTIMIZER_NAMES = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "ftrl", "lion")


_CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")


def _both_set(a: str, b: str) -> dict:
    return {"required": [a, b], "properties": {a: {"not": {"type": "null"}}, b: {"not": {"type": "null"}}}}


class _Optimizer(KspecModel):
    # `_one_clip`, in the schema: no two of the clip arguments set (non-null).
    model_config = ConfigDict(
        json_schema_extra={"not": {"anyOf": [_both_set(a, b) for i, a in enumerate(_CLIPS) for b in _CLIPS[i + 1 :]]}}
    )

    weight_decay: NonNegativeFloat | None = Field(
        None,
        description="Decoupled weight decay: each step, weights shrink by learning_rate * weight_decay * weight; null for none.",
    )
    clipnorm: PositiveFloat | None = Field(
        None, description="Clip each weight's gradient so that its norm is at most this."
    )
    clipvalue: PositiveFloat | None = Field(None, description="Clip each gradient value to [-clipvalue, clipvalue].")
    global_clipnorm: PositiveFloat | None = Field(
        None, description="Clip all gradients together so that their global norm is at most this."
    )
    use_ema: bool = Field(
        False,
        description="Keep an exponential moving average (EMA) of the weights and overwrite the weights with it at the end of fit.",
    )
    ema_momentum: Annotated[float, Field(ge=0, le=1)] = Field(
        0.99,
        description="EMA momentum, used with use_ema: new_average = ema_momentum * old_average + (1 - ema_momentum) * value.",
    )
    # Keras refuses 1 ("must be an integer > 1"): null is the way to update every step.
    gradient_accumulation_steps: Annotated[int, Field(ge=2)] | None = Field(
        None,
        description="Update the weights every this many steps (at least 2), with the average of the gradients since the last update; null updates every step.",
    )

    @classmethod
    def keras_refuses(cls, field: str, value: Any, arguments: dict) -> bool:
        """Whether Keras's own constructor refuses this value of an argument that kspec's bounds refuse, given the
        other arguments; where it does not, Keras would train with it, wrongly or not at all (a negative learning
        rate climbs the loss, a clip of 0 zeroes every gradient), and kspec's refusal is the optimizer-range
        policy."""
        if field == "ema_momentum":  # checked only with use_ema
            return arguments.get("use_ema") is True and not 0 <= value <= 1
        if field == "gradient_accumulation_steps":  # 0 is falsy: Keras reads it as "no accumulation"
            return value != 0
        return False

    @model_validator(mode="after")
    def _one_clip(self):
        if sum(x is not None for x in (self.clipnorm, self.clipvalue, self.global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={self.clipnorm}, clipvalue={self.clipvalue}, global_clipnorm={self.global_clipnorm}"
            )
        return self


Epsilon = Annotated[float, Field(gt=0, description="Small constant for numerical stability.")]
Beta = Annotated[float, Field(ge=0, lt=1)]


class SGD(_Optimizer):
    """Gradient descent, with optional (Nesterov) momentum."""

    type: Literal["SGD"]
    learning_rate: LearningRate = 0.01
    momentum: Annotated[float, Field(ge=0, le=1)] = Field(
        0.0,
        description="Momentum: accelerates descent in the relevant direction and dampens oscillations; 0 is vanilla SGD.",
    )
    nesterov: bool = Field(False, description="Use Nesterov momentum.")

    @classmethod
    def keras_refuses(cls, field: str, value: Any, arguments: dict) -> bool:
        if field == "momentum":
            return not 0 <= value <= 1
        return super().keras_refuses(field, value, arguments)


class Adam(_Optimizer):
    """Adam: adaptive estimates of the first and second moments of the gradients."""

    type: Literal["Adam"]
    learning_rate: LearningRate = 0.001
    beta_1: Beta = Field(
        0.9, description="Exponential decay rate for the 1st moment (mean) estimates of the gradients."
    )
    beta_2: Beta = Field(
        0.999, description="Exponential decay rate for the 2nd moment (uncentered variance) estimates of the gradients."
    )
    epsilon: Epsilon = Field(
        1e-7,
        description="Small constant added to the denominator for numerical stability ('epsilon hat' in the Adam paper).",
    )
    amsgrad: bool = Field(False, description="Use the AMSGrad variant (from 'On the Convergence of Adam and Beyond').")


class AdamW(_Optimizer):
    """Adam with decoupled weight decay."""

    type: Literal["AdamW"]
    learning_rate: LearningRate = 0.001
    weight_decay: NonNegativeFloat = Field(
        0.004,
        description="Decoupled weight decay: each step, weights shrink by learning_rate * weight_decay * weight "
        "(Keras's AdamW needs a number).",
    )
    beta_1: Beta = Field(
        0.9, description="Exponential decay rate for the 1st moment (mean) estimates of the gradients."
    )
    beta_2: Beta = Field(
        0.999, description="Exponential decay rate for the 2nd moment (uncentered variance) estimates of the gradients."
    )
    epsilon: Epsilon = Field(
        1e-7,
        description="Small constant added to the denominator for numerical stability ('epsilon hat' in the Adam paper).",
    )
    amsgrad: bool = Field(False, description="Use the AMSGrad variant (from 'On the Convergence of Adam and Beyond').")


class RMSprop(_Optimizer):
    """RMSprop: divides the gradient by a moving average of its recent magnitude."""

    type: Literal["RMSprop"]
    learning_rate: LearningRate = 0.001
    rho: Beta = Field(0.9, description="Discounting factor for the moving average of past squared gradients.")
    momentum: Annotated[float, Field(ge=0, le=1)] = Field(
        0.0, description="Momentum; if not 0, the optimizer also tracks a momentum term with this decay."
    )
    epsilon: Epsilon = Field(
        1e-7,
        description="Small constant added to the denominator for numerical stability ('epsilon hat' in the Adam paper).",
    )
    centered: bool = Field(
        False,
        description="Normalise gradients by their estimated variance instead of the uncentered second moment (slightly costlier).",
    )


class Adagrad(_Optimizer):
    """Adagrad: per-parameter learning rates adapted to how often each parameter is updated."""

    type: Literal["Adagrad"]
    learning_rate: LearningRate = 0.001
    initial_accumulator_value: NonNegativeFloat = Field(
        0.1, description="Starting value of the per-parameter accumulators of squared gradients."
    )
    epsilon: Epsilon = Field(1e-7, description="Small constant for numerical stability.")


class Adadelta(_Optimizer):
    """Adadelta: adapts learning rates from a moving window of gradient updates."""

    type: Literal["Adadelta"]
    learning_rate: LearningRate = 0.001
    rho: Beta = Field(0.95, description="Decay rate of the moving averages of squared gradients and squared updates.")
    epsilon: Epsilon = Field(1e-7, description="Small constant for numerical stability.")


class Adamax(_Optimizer):
    """Adamax: a variant of Adam based on the infinity norm."""

    type: Literal["Adamax"]
    learning_rate: LearningRate = 0.001
    beta_1: Beta = Field(
        0.9, description="Exponential decay rate for the 1st moment (mean) estimates of the gradients."
    )
    beta_2: Beta = Field(
        0.999, description="Exponential decay rate for the exponentially weighted infinity norm of the gradients."
    )
    epsilon: Epsilon = Field(1e-7, description="Small constant for numerical stability.")


class Nadam(_Optimizer):
    """Nadam: Adam with Nesterov momentum."""

    type: Literal["Nadam"]
    learning_rate: LearningRate = 0.001
    beta_1: Beta = Field(
        0.9, description="Exponential decay rate for the 1st moment (mean) estimates of the gradients."
    )
    beta_2: Beta = Field(
        0.999, description="Exponential decay rate for the 2nd moment (uncentered variance) estimates of the gradients."
    )
    epsilon: Epsilon = Field(
        1e-7,
        description="Small constant added to the denominator for numerical stability ('epsilon hat' in the Adam paper).",
    )


class Ftrl(_Optimizer):
    """FTRL (Follow The Regularized Leader): for shallow models with large, sparse feature spaces."""

    type: Literal["Ftrl"]
    learning_rate: LearningRate = 0.001
    learning_rate_power: Annotated[float, Field(le=0)] = Field(
        -0.5, description="Controls how the learning rate decreases during training; 0 for a fixed learning rate."
    )
    initial_accumulator_value: NonNegativeFloat = Field(0.1, description="Starting value of the accumulators.")
    l1_regularization_strength: NonNegativeFloat = Field(0.0, description="L1 regularization strength (lambda_1).")
    l2_regularization_strength: NonNegativeFloat = Field(
        0.0, description="L2 regularization strength (lambda_2): a stabilisation penalty."
    )
    l2_shrinkage_regularization_strength: NonNegativeFloat = Field(
        0.0,
        description="L2 shrinkage strength: a magnitude penalty (only on the active weights when inputs are sparse).",
    )
    beta: NonNegativeFloat = Field(0.0, description="The beta value from the FTRL paper (McMahan et al., 2013).")

    @classmethod
    def keras_refuses(cls, field: str, value: Any, arguments: dict) -> bool:
        if field == "learning_rate_power":
            return value > 0
        if field in (
            "initial_accumulator_value",
            "l1_regularization_strength",
            "l2_regularization_strength",
            "l2_shrinkage_regularization_strength",
        ):
            return value < 0
        return super().keras_refuses(field, value, arguments)


class Lion(_Optimizer):
    """Lion: updates with the sign of an interpolation of the gradient and its momentum."""

    type: Literal["Lion"]
    learning_rate: LearningRate = 0.001
    # 1 is Keras's bound, refused by the inert-optimizer policy: the schema states < 1
    beta_1: Annotated[float, Field(gt=0, le=1, json_schema_extra={"exclusiveMaximum": 1})] = Field(
        0.9,
        description="Rate at which the current gradient and the 1st moment estimate are combined for the update, in "
        "(0, 1] as Keras requires (1 is refused too: the first step would update by the sign of a zero momentum).",
    )
    beta_2: Beta = Field(0.99, description="Exponential decay rate for the 1st moment estimate.")

    @field_validator("beta_1")
    @classmethod
    def _first_step_moves(cls, value: float) -> float:
        if value == 1:
            raise PolicyError(
                "`beta_1` of 1 makes Lion update by the sign of its momentum alone, which is 0 at the first step "
                "(kspec policy: that step would change no weight). Received: beta_1=1.0",
                "inert-optimizer",
            )
        return value

    @classmethod
    def keras_refuses(cls, field: str, value: Any, arguments: dict) -> bool:
        if field == "beta_1":
            return not 0 < value <= 1
        return super().keras_refuses(field, value, arguments)


OptimizerConfig = Annotated[
    SGD | Adam | AdamW | RMSprop | Adagrad | Adadelta | Adamax | Nadam | Ftrl | Lion,
    Field(discriminator="type"),
]
#: The optimizer classes by type name.
OPTIMIZER_TYPES: dict[str, type[_Optimizer]] = {
    cls.model_fields["type"].annotation.__args__[0]: cls  # type: ignore[union-attr]
    for cls in (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Ftrl, Lion)
}
Optimizer = Annotated[
    Literal[OPTIMIZER_NAMES] | OptimizerConfig,  # type: ignore[valid-type]
    Field(description="Optimizer by Keras name with its defaults, or {type: Adam, learning_rate: ..., ...}."),
]

# ---- losses ------------------------------------------------------------------------------------

#: name -> what the loss expects of the labels: "sparse" (class ids), "one_hot", "binary", "regression"
LOSSES: dict[str, str] = {
    "sparse_categorical_crossentropy": "sparse",
    "categorical_crossentropy": "one_hot",
    "categorical_focal_crossentropy": "one_hot",
    "categorical_hinge": "one_hot",
    "kl_divergence": "one_hot",
    "binary_crossentropy": "binary",
    "binary_focal_crossentropy": "binary",
    "hinge": "binary",
    "squared_hinge": "binary",
    "mean_squared_error": "regression",
    "mean_absolute_error": "regression",
    "mean_absolute_percentage_error": "regression",
    "mean_squared_logarithmic_error": "regression",
    "huber": "regression",
    "log_cosh": "regression",
    "poisson": "regression",
    "cosine_similarity": "regression",
}
LOSS_ALIASES = {
    "mse": "mean_squared_error",
    "mae": "mean_absolute_error",
    "mape": "mean_absolute_percentage_error",
    "msle": "mean_squared_logarithmic_error",
    "kld": "kl_divergence",
}
LossName: Any = Literal[tuple(LOSSES) + tuple(LOSS_ALIASES)]  # built at run time: to a type checker, any value


class _Crossentropy(KspecModel):
    from_logits: bool = Field(False, description="Whether the predictions are logits (no softmax/sigmoid applied).")


class SparseCategoricalCrossentropy(_Crossentropy):
    """Crossentropy between integer class ids and predicted class scores."""

    type: Literal["SparseCategoricalCrossentropy"]
    ignore_class: int | None = Field(
        None,
        description="A class id ignored by the loss (e.g. a 'void' class in segmentation); null: all classes count.",
    )


class CategoricalCrossentropy(_Crossentropy):
    """Crossentropy between one-hot labels and predicted class scores."""

    type: Literal["CategoricalCrossentropy"]
    label_smoothing: Annotated[float, Field(ge=0, le=1)] = Field(
        0.0,
        description="Label smoothing in [0, 1]: with 0.1, targets become 0.1 / num_classes and 0.9 + 0.1 / num_classes; 0 for none.",
    )


class BinaryCrossentropy(_Crossentropy):
    """Crossentropy between 0/1 labels and predicted probabilities (or logits)."""

    type: Literal["BinaryCrossentropy"]
    label_smoothing: Annotated[float, Field(ge=0, le=1)] = Field(
        0.0,
        description="Label smoothing in [0, 1]: squeezes the labels towards 0.5 (0 for none; larger is heavier smoothing).",
    )


class CategoricalFocalCrossentropy(_Crossentropy):
    """Focal crossentropy for one-hot labels: focuses training on hard examples."""

    type: Literal["CategoricalFocalCrossentropy"]
    alpha: Annotated[float, Field(ge=0, le=1)] = Field(
        0.25, description="Weight balancing factor applied to all classes."
    )
    gamma: NonNegativeFloat = Field(
        2.0, description="Focusing parameter: down-weights easy examples; 0 gives plain crossentropy."
    )
    label_smoothing: Annotated[float, Field(ge=0, le=1)] = Field(
        0.0,
        description="Label smoothing in [0, 1]: with 0.1, targets become 0.1 / num_classes and 0.9 + 0.1 / num_classes; 0 for none.",
    )


class BinaryFocalCrossentropy(_Crossentropy):
    """Focal crossentropy for 0/1 labels: focuses training on hard examples."""

    type: Literal["BinaryFocalCrossentropy"]
    apply_class_balancing: bool = Field(False, description="Weight the classes 1 and 0 by alpha and 1 - alpha.")
    alpha: Annotated[float, Field(ge=0, le=1)] = Field(
        0.25, description="Weight of class 1 (class 0 gets 1 - alpha); used only with apply_class_balancing."
    )
    gamma: NonNegativeFloat = Field(
        2.0, description="Focusing parameter: down-weights easy examples; 0 gives plain crossentropy."
    )
    label_smoothing: Annotated[float, Field(ge=0, le=1)] = Field(
        0.0,
        description="Label smoothing in [0, 1]: squeezes the labels towards 0.5 (0 for none; larger is heavier smoothing).",
    )


class Huber(KspecModel):
    """Huber loss: quadratic for small errors, linear for large ones."""

    type: Literal["Huber"]
    delta: PositiveFloat = Field(1.0, description="The error size at which the loss changes from quadratic to linear.")


class MeanSquaredError(KspecModel):
    """Mean of the squared errors."""

    type: Literal["MeanSquaredError"]


class MeanAbsoluteError(KspecModel):
    """Mean of the absolute errors."""

    type: Literal["MeanAbsoluteError"]


LossConfig = Annotated[
    SparseCategoricalCrossentropy
    | CategoricalCrossentropy
    | BinaryCrossentropy
    | CategoricalFocalCrossentropy
    | BinaryFocalCrossentropy
    | Huber
    | MeanSquaredError
    | MeanAbsoluteError,
    Field(discriminator="type"),
]
LOSS_CLASS_KIND = {
    "SparseCategoricalCrossentropy": "sparse",
    "CategoricalCrossentropy": "one_hot",
    "BinaryCrossentropy": "binary",
    "CategoricalFocalCrossentropy": "one_hot",
    "BinaryFocalCrossentropy": "binary",
    "Huber": "regression",
    "MeanSquaredError": "regression",
    "MeanAbsoluteError": "regression",
}
Loss = Annotated[
    LossName | LossConfig,
    Field(description="Loss by Keras name, or {type: CategoricalCrossentropy, from_logits: true, ...}."),
]


def loss_kind(loss: Loss) -> str:
    """What the loss expects of its labels: sparse, one_hot, binary or regression."""
    if isinstance(loss, str):
        return LOSSES[LOSS_ALIASES.get(loss) or loss]
    return LOSS_CLASS_KIND[loss.type]


def loss_from_logits(loss: Loss) -> bool:
    return bool(getattr(loss, "from_logits", False))


# ---- metrics -----------------------------------------------------------------------------------

METRIC_NAMES = (
    "accuracy",
    "binary_accuracy",
    "categorical_accuracy",
    "sparse_categorical_accuracy",
    "top_k_categorical_accuracy",
    "sparse_top_k_categorical_accuracy",
    "mean_squared_error",
    "mean_absolute_error",
    "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error",
    "root_mean_squared_error",
    "cosine_similarity",
    "log_cosh_error",
    "auc",
    "precision",
    "recall",
    "mse",
    "mae",
    "mape",
    "msle",
    "binary_crossentropy",
    "categorical_crossentropy",
    "sparse_categorical_crossentropy",
    "kl_divergence",
    "poisson",
)


class TopKCategoricalAccuracy(KspecModel):
    """How often the one-hot target is among the top k predictions."""

    type: Literal["TopKCategoricalAccuracy"]
    k: PositiveInt = Field(5, description="A prediction counts as correct if the target is among the k highest scores.")


class SparseTopKCategoricalAccuracy(KspecModel):
    """How often the integer target is among the top k predictions."""

    type: Literal["SparseTopKCategoricalAccuracy"]
    k: PositiveInt = Field(5, description="A prediction counts as correct if the target is among the k highest scores.")


class AUC(KspecModel):
    """Area under the ROC or precision-recall curve."""

    type: Literal["AUC"]
    num_thresholds: Annotated[int, Field(ge=2)] = Field(
        200, description="Number of thresholds used to discretise the curve."
    )
    curve: Literal["ROC", "PR"] = Field("ROC", description="The curve: ROC, or PR (precision-recall).")
    multi_label: bool = Field(
        False,
        description="Compute the AUC of each label separately and average them, instead of flattening the labels; false for multi-class data.",
    )
    from_logits: bool = Field(
        False, description="Whether the predictions are logits rather than probabilities; match the loss's from_logits."
    )


class Precision(KspecModel):
    """Precision: true positives / predicted positives."""

    type: Literal["Precision"]
    thresholds: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None,
        description="Predictions above this count as positive (use 0 with logits); null means 0.5 unless top_k is set.",
    )
    top_k: PositiveInt | None = Field(
        None, description="Only the top_k highest predictions count as positive; null: unset."
    )


class Recall(KspecModel):
    """Recall: true positives / actual positives."""

    type: Literal["Recall"]
    thresholds: Annotated[float, Field(ge=0, le=1)] | None = Field(
        None,
        description="Predictions above this count as positive (use 0 with logits); null means 0.5 unless top_k is set.",
    )
    top_k: PositiveInt | None = Field(
        None, description="Only the top_k highest predictions count as positive; null: unset."
    )


MetricConfig = Annotated[
    TopKCategoricalAccuracy | SparseTopKCategoricalAccuracy | AUC | Precision | Recall,
    Field(discriminator="type"),
]
Metric = Annotated[
    Literal[METRIC_NAMES] | MetricConfig,  # type: ignore[valid-type]
    Field(description="Metric by Keras name, or {type: AUC, ...}."),
]

# ---- callbacks ---------------------------------------------------------------------------------

_RESERVED = "|".join(name.replace(".", r"\.") for name in RUN_FILES)
RelativePath = Annotated[
    str,
    Field(
        # not absolute (/, C:), no '.' or '..' component, not one of the run's own files
        # (`[\s\S]` and END rather than `.` and `$`: see kspec.spec.base.END; with `.`, a newline
        # hid a later '..' component: "a\n/../b")
        pattern=rf"^(?!/)(?![A-Za-z]:)(?![\s\S]*(^|[/\\])\.\.?([/\\]|{END}))(?!({_RESERVED})([/\\]|{END}))[^\x00]+{END}",
        max_length=255,
        description=(
            "A path relative to the run directory; never absolute, never leaving it ('..'), no '.' components, "
            "and not one of the files kspec writes there (" + ", ".join(RUN_FILES) + ")."
        ),
    ),
]
Monitor = Annotated[str, Field(min_length=1, description="Quantity to monitor, e.g. 'val_loss' or 'accuracy'.")]
Mode = Literal["auto", "min", "max"]


class EarlyStopping(KspecModel):
    """Stops training when a monitored quantity has stopped improving."""

    type: Literal["EarlyStopping"]
    monitor: Monitor = "val_loss"
    min_delta: NonNegativeFloat = Field(
        0.0, description="Minimum change in the monitored quantity that counts as an improvement."
    )
    patience: NonNegativeInt = Field(0, description="Number of epochs with no improvement after which training stops.")
    mode: Mode = Field(
        "auto",
        description="Stop when the quantity stops decreasing (min) or increasing (max); auto infers it from the name.",
    )
    baseline: float | None = Field(
        None,
        description="Baseline value for the monitored quantity; training stops if the model does not improve on it. Null: none.",
    )
    restore_best_weights: bool = Field(
        False,
        description="Restore the weights of the epoch with the best monitored value when stopping; false keeps the last weights.",
    )
    start_from_epoch: NonNegativeInt = Field(0, description="Number of warm-up epochs before improvement is monitored.")


class ReduceLROnPlateau(KspecModel):
    """Reduces the learning rate when a monitored quantity has stopped improving."""

    type: Literal["ReduceLROnPlateau"]
    monitor: Monitor = "val_loss"
    factor: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.1, description="Factor by which the learning rate is reduced: new_lr = lr * factor."
    )
    patience: NonNegativeInt = Field(
        10, description="Number of epochs with no improvement after which the learning rate is reduced."
    )
    mode: Mode = Field(
        "auto",
        description="Reduce when the quantity stops decreasing (min) or increasing (max); auto infers it from the name.",
    )
    min_delta: NonNegativeFloat = Field(
        0.0001, description="Threshold for measuring a new optimum: smaller changes do not count."
    )
    cooldown: NonNegativeInt = Field(
        0, description="Number of epochs to wait after a reduction before resuming normal operation."
    )
    min_lr: NonNegativeFloat = Field(0.0, description="Lower bound on the learning rate.")


class ModelCheckpoint(KspecModel):
    """Saves the model (or its weights) during training."""

    # `_suffix`, in the schema (the default filepath ends in .keras).
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"required": ["save_weights_only"], "properties": {"save_weights_only": {"const": True}}},
            "then": {"required": ["filepath"], "properties": {"filepath": {"pattern": rf"\.weights\.h5{END}"}}},
            "else": {"properties": {"filepath": {"pattern": rf"\.keras{END}"}}},
        }
    )

    type: Literal["ModelCheckpoint"]
    filepath: RelativePath = Field(
        "checkpoints/epoch-{epoch:03d}.keras",
        description="Relative to the run directory; ends in .keras (or .weights.h5 with save_weights_only).",
    )
    monitor: Monitor = "val_loss"
    save_best_only: bool = Field(
        False, description="Only save when the model is the best so far according to the monitored quantity."
    )
    save_weights_only: bool = Field(
        False, description="Save only the weights (model.save_weights) instead of the whole model (model.save)."
    )
    mode: Mode = Field(
        "auto",
        description="With save_best_only: whether best means minimum (min) or maximum (max); auto infers it from the name.",
    )
    save_freq: Literal["epoch"] | PositiveInt = Field(
        "epoch", description="'epoch' saves after each epoch; an integer saves after that many batches."
    )

    @model_validator(mode="after")
    def _suffix(self):
        want = ".weights.h5" if self.save_weights_only else ".keras"
        if not self.filepath.endswith(want):
            raise ValueError(
                f"`filepath` must end in '{want}' when save_weights_only={self.save_weights_only}. Received: filepath={self.filepath}"
            )
        return self


class TensorBoard(KspecModel):
    """Writes logs for TensorBoard."""

    type: Literal["TensorBoard"]
    log_dir: RelativePath = Field(
        "logs", description="Directory for the TensorBoard log files, relative to the run directory."
    )
    histogram_freq: NonNegativeInt = Field(
        0, description="Frequency (in epochs) of weight histograms; 0 for none. Needs validation data."
    )
    write_graph: bool = Field(True, description="Whether to visualise the model graph in TensorBoard.")
    update_freq: Literal["epoch", "batch"] | PositiveInt = Field(
        "epoch", description="Write losses and metrics after every epoch, every batch, or every this many batches."
    )


class CSVLogger(KspecModel):
    """Streams the per-epoch results to a CSV file."""

    type: Literal["CSVLogger"]
    filename: RelativePath = Field(
        "training.csv", description="The CSV file of per-epoch results, relative to the run directory."
    )
    separator: Annotated[str, Field(min_length=1, max_length=1)] = Field(
        ",", description="Character separating the values in the CSV file."
    )
    append: bool = Field(
        False, description="Append to the file if it exists (to continue training) instead of overwriting it."
    )


class TerminateOnNaN(KspecModel):
    """Stops training when the loss becomes NaN."""

    type: Literal["TerminateOnNaN"]


class BackupAndRestore(KspecModel):
    """Backs up the training state so that an interrupted run resumes where it stopped."""

    type: Literal["BackupAndRestore"]
    backup_dir: RelativePath = Field(
        "backup",
        description="Directory for the training-state backup, relative to the run directory; used by no other callback.",
    )
    save_freq: Literal["epoch"] | PositiveInt = Field(
        "epoch", description="'epoch' backs up at the end of each epoch; an integer backs up every that many batches."
    )
    delete_checkpoint: bool = Field(True, description="Delete the backup once training finishes; false keeps it.")


Callback = Annotated[
    EarlyStopping | ReduceLROnPlateau | ModelCheckpoint | TensorBoard | CSVLogger | TerminateOnNaN | BackupAndRestore,
    Field(discriminator="type"),
]

# ---- the section -------------------------------------------------------------------------------


class Training(KspecModel):
    """How the model is compiled (`model.compile`) and fitted (`model.fit`)."""

    optimizer: Optimizer = "rmsprop"
    loss: Loss | dict[Name, Loss] = Field(
        description="One loss, or one per output name for a model with several outputs."
    )
    loss_weights: dict[Name, NonNegativeFloat] | None = Field(
        None, description="Weight of each output's loss in the total, by output name."
    )
    metrics: list[Metric] | dict[Name, list[Metric]] = Field(
        default_factory=list, description="Metrics for every output, or a list of metrics per output name."
    )
    epochs: PositiveInt = Field(1, description="Number of passes over the training data.")
    batch_size: PositiveInt = Field(32, description="Examples per gradient step (global, across replicas).")
    validation_split: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.0, description="Fraction of the training data held out for validation."
    )
    steps_per_execution: PositiveInt | Literal["auto"] = Field(
        "auto",
        description="Training steps run per call into the compiled graph; 'auto' runs min(32, steps per epoch), which trains faster on CPU.",
    )
    callbacks: list[Callback] = Field(
        default_factory=list,
        description="Callbacks run during fit: {type: EarlyStopping, ...}, {type: ModelCheckpoint, ...}, ...",
    )
    seed: Seed | None = Field(None, description="Seed for weights, shuffling and dropout; same seed, same run.")
    distribution: Literal["none", "mirrored", "multi-worker"] = Field(
        "none",
        description="How training is spread: none (one device); mirrored (every device of one machine: TensorFlow's "
        "MirroredStrategy, or JAX's DataParallel); multi-worker (data parallel over several processes or machines, "
        "JAX backend, started with jax.distributed). The batch size stays global. `--distribution` overrides it.",
    )
