"""The `training` section: optimizer (with schedules), losses, metrics, fit settings, callbacks."""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field, model_validator

from .base import KspecModel, Name, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, Seed

# ---- learning-rate schedules -------------------------------------------------------------------


class ExponentialDecay(KspecModel):
    """`initial_learning_rate * decay_rate ** (step / decay_steps)`."""

    type: Literal["ExponentialDecay"]
    initial_learning_rate: PositiveFloat
    decay_steps: PositiveInt
    decay_rate: PositiveFloat
    staircase: bool = False


class InverseTimeDecay(KspecModel):
    """`initial_learning_rate / (1 + decay_rate * step / decay_steps)`."""

    type: Literal["InverseTimeDecay"]
    initial_learning_rate: PositiveFloat
    decay_steps: PositiveInt
    decay_rate: NonNegativeFloat
    staircase: bool = False


class PolynomialDecay(KspecModel):
    """Polynomial decay from `initial_learning_rate` to `end_learning_rate` over `decay_steps`."""

    type: Literal["PolynomialDecay"]
    initial_learning_rate: PositiveFloat
    decay_steps: PositiveInt
    end_learning_rate: NonNegativeFloat = 0.0001
    power: PositiveFloat = 1.0
    cycle: bool = False


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
        if any(b >= a for b, a in zip(self.boundaries, self.boundaries[1:])) and len(self.boundaries) > 1:
            if sorted(self.boundaries) != list(self.boundaries):
                raise ValueError(f"`boundaries` must be increasing. Received: boundaries={list(self.boundaries)}")
        return self


class CosineDecay(KspecModel):
    """Cosine decay, with optional linear warmup."""

    type: Literal["CosineDecay"]
    initial_learning_rate: PositiveFloat
    decay_steps: PositiveInt
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.0
    warmup_target: PositiveFloat | None = None
    warmup_steps: NonNegativeInt = 0


class CosineDecayRestarts(KspecModel):
    """Cosine decay with warm restarts (SGDR)."""

    type: Literal["CosineDecayRestarts"]
    initial_learning_rate: PositiveFloat
    first_decay_steps: PositiveInt
    t_mul: PositiveFloat = 2.0
    m_mul: PositiveFloat = 1.0
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.0


Schedule = Annotated[
    Union[ExponentialDecay, InverseTimeDecay, PolynomialDecay, PiecewiseConstantDecay, CosineDecay, CosineDecayRestarts],
    Field(discriminator="type"),
]
LearningRate = Annotated[
    PositiveFloat | Schedule,
    Field(description="A fixed learning rate, or a schedule {type: ExponentialDecay, ...}."),
]

# ---- optimizers --------------------------------------------------------------------------------

OPTIMIZER_NAMES = ("sgd", "adam", "adamw", "rmsprop", "adagrad", "adadelta", "adamax", "nadam", "ftrl", "lion")


class _Optimizer(KspecModel):
    weight_decay: NonNegativeFloat | None = Field(None, description="Decoupled weight decay.")
    clipnorm: PositiveFloat | None = Field(None, description="Clip each gradient to this norm.")
    clipvalue: PositiveFloat | None = Field(None, description="Clip each gradient value to [-clipvalue, clipvalue].")
    global_clipnorm: PositiveFloat | None = Field(None, description="Clip all gradients to this global norm.")
    use_ema: bool = Field(False, description="Keep an exponential moving average of the weights.")
    ema_momentum: Annotated[float, Field(ge=0, le=1)] = 0.99
    gradient_accumulation_steps: PositiveInt | None = None

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
    type: Literal["SGD"]
    learning_rate: LearningRate = 0.01
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.0
    nesterov: bool = False


class Adam(_Optimizer):
    type: Literal["Adam"]
    learning_rate: LearningRate = 0.001
    beta_1: Beta = 0.9
    beta_2: Beta = 0.999
    epsilon: Epsilon = 1e-7
    amsgrad: bool = False


class AdamW(_Optimizer):
    type: Literal["AdamW"]
    learning_rate: LearningRate = 0.001
    weight_decay: NonNegativeFloat | None = 0.004
    beta_1: Beta = 0.9
    beta_2: Beta = 0.999
    epsilon: Epsilon = 1e-7
    amsgrad: bool = False


class RMSprop(_Optimizer):
    type: Literal["RMSprop"]
    learning_rate: LearningRate = 0.001
    rho: Beta = 0.9
    momentum: Annotated[float, Field(ge=0, le=1)] = 0.0
    epsilon: Epsilon = 1e-7
    centered: bool = False


class Adagrad(_Optimizer):
    type: Literal["Adagrad"]
    learning_rate: LearningRate = 0.001
    initial_accumulator_value: NonNegativeFloat = 0.1
    epsilon: Epsilon = 1e-7


class Adadelta(_Optimizer):
    type: Literal["Adadelta"]
    learning_rate: LearningRate = 0.001
    rho: Beta = 0.95
    epsilon: Epsilon = 1e-7


class Adamax(_Optimizer):
    type: Literal["Adamax"]
    learning_rate: LearningRate = 0.001
    beta_1: Beta = 0.9
    beta_2: Beta = 0.999
    epsilon: Epsilon = 1e-7


class Nadam(_Optimizer):
    type: Literal["Nadam"]
    learning_rate: LearningRate = 0.001
    beta_1: Beta = 0.9
    beta_2: Beta = 0.999
    epsilon: Epsilon = 1e-7


class Ftrl(_Optimizer):
    type: Literal["Ftrl"]
    learning_rate: LearningRate = 0.001
    learning_rate_power: Annotated[float, Field(le=0)] = -0.5
    initial_accumulator_value: NonNegativeFloat = 0.1
    l1_regularization_strength: NonNegativeFloat = 0.0
    l2_regularization_strength: NonNegativeFloat = 0.0
    l2_shrinkage_regularization_strength: NonNegativeFloat = 0.0
    beta: NonNegativeFloat = 0.0


class Lion(_Optimizer):
    type: Literal["Lion"]
    learning_rate: LearningRate = 0.001
    beta_1: Beta = 0.9
    beta_2: Beta = 0.99


OptimizerConfig = Annotated[
    Union[SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Ftrl, Lion],
    Field(discriminator="type"),
]
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
LOSS_ALIASES = {"mse": "mean_squared_error", "mae": "mean_absolute_error", "mape": "mean_absolute_percentage_error", "msle": "mean_squared_logarithmic_error", "kld": "kl_divergence"}
LossName = Literal[tuple(LOSSES) + tuple(LOSS_ALIASES)]  # type: ignore[valid-type]


class _Crossentropy(KspecModel):
    from_logits: bool = Field(False, description="Whether the predictions are logits (no softmax/sigmoid applied).")


class SparseCategoricalCrossentropy(_Crossentropy):
    type: Literal["SparseCategoricalCrossentropy"]
    ignore_class: int | None = None


class CategoricalCrossentropy(_Crossentropy):
    type: Literal["CategoricalCrossentropy"]
    label_smoothing: Annotated[float, Field(ge=0, le=1)] = 0.0


class BinaryCrossentropy(_Crossentropy):
    type: Literal["BinaryCrossentropy"]
    label_smoothing: Annotated[float, Field(ge=0, le=1)] = 0.0


class CategoricalFocalCrossentropy(_Crossentropy):
    type: Literal["CategoricalFocalCrossentropy"]
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.25
    gamma: NonNegativeFloat = 2.0
    label_smoothing: Annotated[float, Field(ge=0, le=1)] = 0.0


class BinaryFocalCrossentropy(_Crossentropy):
    type: Literal["BinaryFocalCrossentropy"]
    apply_class_balancing: bool = False
    alpha: Annotated[float, Field(ge=0, le=1)] = 0.25
    gamma: NonNegativeFloat = 2.0
    label_smoothing: Annotated[float, Field(ge=0, le=1)] = 0.0


class Huber(KspecModel):
    type: Literal["Huber"]
    delta: PositiveFloat = 1.0


class MeanSquaredError(KspecModel):
    type: Literal["MeanSquaredError"]


class MeanAbsoluteError(KspecModel):
    type: Literal["MeanAbsoluteError"]


LossConfig = Annotated[
    Union[
        SparseCategoricalCrossentropy, CategoricalCrossentropy, BinaryCrossentropy, CategoricalFocalCrossentropy,
        BinaryFocalCrossentropy, Huber, MeanSquaredError, MeanAbsoluteError,
    ],
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
        return LOSSES[LOSS_ALIASES.get(loss, loss)]
    return LOSS_CLASS_KIND[loss.type]


def loss_from_logits(loss: Loss) -> bool:
    return bool(getattr(loss, "from_logits", False))


# ---- metrics -----------------------------------------------------------------------------------

METRIC_NAMES = (
    "accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy",
    "mean_squared_error", "mean_absolute_error", "mean_absolute_percentage_error",
    "mean_squared_logarithmic_error", "root_mean_squared_error", "cosine_similarity", "log_cosh_error",
    "auc", "precision", "recall", "mse", "mae", "mape", "msle",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy", "kl_divergence", "poisson",
)


class TopKCategoricalAccuracy(KspecModel):
    type: Literal["TopKCategoricalAccuracy"]
    k: PositiveInt = 5


class SparseTopKCategoricalAccuracy(KspecModel):
    type: Literal["SparseTopKCategoricalAccuracy"]
    k: PositiveInt = 5


class AUC(KspecModel):
    type: Literal["AUC"]
    num_thresholds: Annotated[int, Field(ge=2)] = 200
    curve: Literal["ROC", "PR"] = "ROC"
    multi_label: bool = False
    from_logits: bool = False


class Precision(KspecModel):
    type: Literal["Precision"]
    thresholds: Annotated[float, Field(ge=0, le=1)] | None = None
    top_k: PositiveInt | None = None


class Recall(KspecModel):
    type: Literal["Recall"]
    thresholds: Annotated[float, Field(ge=0, le=1)] | None = None
    top_k: PositiveInt | None = None


MetricConfig = Annotated[
    Union[TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, AUC, Precision, Recall],
    Field(discriminator="type"),
]
Metric = Annotated[
    Literal[METRIC_NAMES] | MetricConfig,  # type: ignore[valid-type]
    Field(description="Metric by Keras name, or {type: AUC, ...}."),
]

# ---- callbacks ---------------------------------------------------------------------------------

RelativePath = Annotated[
    str,
    Field(
        pattern=r"^(?!/)(?![A-Za-z]:)(?!.*(^|[/\\])\.\.([/\\]|$))[^\x00]+$",
        max_length=255,
        description="A path relative to the run directory; never absolute and never leaving it ('..').",
    ),
]
Monitor = Annotated[str, Field(min_length=1, description="Quantity to monitor, e.g. 'val_loss' or 'accuracy'.")]
Mode = Literal["auto", "min", "max"]


class EarlyStopping(KspecModel):
    type: Literal["EarlyStopping"]
    monitor: Monitor = "val_loss"
    min_delta: NonNegativeFloat = 0.0
    patience: NonNegativeInt = 0
    mode: Mode = "auto"
    baseline: float | None = None
    restore_best_weights: bool = False
    start_from_epoch: NonNegativeInt = 0


class ReduceLROnPlateau(KspecModel):
    type: Literal["ReduceLROnPlateau"]
    monitor: Monitor = "val_loss"
    factor: Annotated[float, Field(gt=0, lt=1)] = 0.1
    patience: NonNegativeInt = 10
    mode: Mode = "auto"
    min_delta: NonNegativeFloat = 0.0001
    cooldown: NonNegativeInt = 0
    min_lr: NonNegativeFloat = 0.0


class ModelCheckpoint(KspecModel):
    type: Literal["ModelCheckpoint"]
    filepath: RelativePath = Field("checkpoints/epoch-{epoch:03d}.keras", description="Relative to the run directory; ends in .keras (or .weights.h5 with save_weights_only).")
    monitor: Monitor = "val_loss"
    save_best_only: bool = False
    save_weights_only: bool = False
    mode: Mode = "auto"
    save_freq: Literal["epoch"] | PositiveInt = "epoch"

    @model_validator(mode="after")
    def _suffix(self):
        want = ".weights.h5" if self.save_weights_only else ".keras"
        if not self.filepath.endswith(want):
            raise ValueError(
                f"`filepath` must end in '{want}' when save_weights_only={self.save_weights_only}. Received: filepath={self.filepath}"
            )
        return self


class TensorBoard(KspecModel):
    type: Literal["TensorBoard"]
    log_dir: RelativePath = "logs"
    histogram_freq: NonNegativeInt = 0
    write_graph: bool = True
    update_freq: Literal["epoch", "batch"] | PositiveInt = "epoch"


class CSVLogger(KspecModel):
    type: Literal["CSVLogger"]
    filename: RelativePath = "training.csv"
    separator: Annotated[str, Field(min_length=1, max_length=1)] = ","
    append: bool = False


class TerminateOnNaN(KspecModel):
    type: Literal["TerminateOnNaN"]


class BackupAndRestore(KspecModel):
    type: Literal["BackupAndRestore"]
    backup_dir: RelativePath = "backup"
    save_freq: Literal["epoch"] | PositiveInt = "epoch"
    delete_checkpoint: bool = True


Callback = Annotated[
    Union[EarlyStopping, ReduceLROnPlateau, ModelCheckpoint, TensorBoard, CSVLogger, TerminateOnNaN, BackupAndRestore],
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
        default_factory=list, description="Metrics, or metrics per output name."
    )
    epochs: PositiveInt = Field(1, description="Number of passes over the training data.")
    batch_size: PositiveInt = Field(32, description="Examples per gradient step (global, across replicas).")
    validation_split: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.0, description="Fraction of the training data held out for validation."
    )
    steps_per_execution: PositiveInt = Field(1, description="Training steps run per call into the compiled graph.")
    callbacks: list[Callback] = Field(default_factory=list)
    seed: Seed | None = Field(None, description="Seed for weights, shuffling and dropout; same seed, same run.")
