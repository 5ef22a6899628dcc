"""The `training` section: optimizer (with schedules), losses, metrics, fit settings, callbacks.

The optimizers, losses and metrics live in their own modules (`kspec.spec.optimizers`, `.losses`, `.metrics`);
their public names are re-exported here.
"""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, ConfigDict, Discriminator, Field, Tag, model_validator

from ..diagnostics import PolicyError
from ..rundir import RUN_FILES
from .base import END, KspecModel, Name, NonNegativeFloat, NonNegativeInt, PositiveInt, Seed
from .losses import (
    LOSS_ALIASES,
    LOSS_CLASS_KIND,
    LOSS_CLASSES,
    LOSS_NAMES,
    LOSS_TYPES,
    LOSSES,
    Loss,
    LossConfig,
    LossName,
    loss_class,
    loss_from_logits,
    loss_kind,
    loss_name,
    loss_reads_probabilities,
)
from .metrics import (
    METRIC_ALIASES,
    METRIC_CLASSES,
    METRIC_NAMES,
    METRIC_TYPES,
    Metric,
    MetricConfig,
    canonical_monitor,
    metric_name,
    metric_object,
)
from .optimizers import (
    OPTIMIZER_ALIASES,
    OPTIMIZER_NAMES,
    OPTIMIZER_TYPES,
    LearningRate,
    Optimizer,
    OptimizerConfig,
    Schedule,
    learning_rates,
    optimizer_layer_names,
)

__all__ = [
    "LOSSES",
    "LOSS_ALIASES",
    "LOSS_CLASSES",
    "LOSS_CLASS_KIND",
    "LOSS_TYPES",
    "METRIC_ALIASES",
    "METRIC_CLASSES",
    "METRIC_NAMES",
    "METRIC_TYPES",
    "OPTIMIZER_ALIASES",
    "OPTIMIZER_NAMES",
    "OPTIMIZER_TYPES",
    "Callback",
    "LearningRate",
    "Loss",
    "LossConfig",
    "LossName",
    "Metric",
    "MetricConfig",
    "Optimizer",
    "OptimizerConfig",
    "Schedule",
    "Training",
    "learning_rates",
    "loss_class",
    "loss_from_logits",
    "loss_kind",
    "loss_name",
    "loss_reads_probabilities",
    "metric_name",
    "metric_object",
    "optimizer_layer_names",
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
Monitor = Annotated[
    str,
    AfterValidator(canonical_monitor),
    Field(
        min_length=1,
        description="Quantity to monitor, e.g. 'val_loss' or 'val_accuracy' (a metric's other spelling, val_acc, "
        "is normalised with the metric's name, as the metric is).",
    ),
]
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


def _loss_form(value: Any) -> str:
    """Which form a `loss` is: one loss, or a mapping output -> loss. A mapping whose `type` is a loss class (or
    no loss's name at all) is one loss's configuration: `{type: MeanSquaredError}` is MeanSquaredError, not the
    loss `MeanSquaredError` of an output named `type`."""
    if isinstance(value, dict):
        kind = value.get("type")
        if isinstance(kind, str) and (kind in LOSS_TYPES or kind not in LOSS_NAMES):
            return "one"
        return "per_output"
    return "one"


OneLossOrPerOutput = Annotated[
    Annotated[Loss, Tag("one")] | Annotated[dict[Name, Loss], Tag("per_output")],
    Discriminator(_loss_form),
]


def _exact_loss_forms(schema: dict[str, Any]) -> None:
    """The training section's JSON Schema, as `_loss_form` reads a loss: no output mapping whose `type` is a loss
    class (also the validation fields' `_one_validation`)."""
    schema["not"] = {
        "required": ["validation_split", "validation_data"],
        "properties": {"validation_split": {"exclusiveMinimum": 0}, "validation_data": {"const": "test"}},
    }
    loss = schema["properties"]["loss"]
    for branch in loss.get("anyOf", loss.get("oneOf", [])):
        if branch.get("type") == "object" and "additionalProperties" in branch:
            branch["not"] = {"required": ["type"], "properties": {"type": {"enum": sorted(LOSS_TYPES)}}}


class Training(KspecModel):
    """How the model is compiled (`model.compile`) and fitted (`model.fit`)."""

    model_config = ConfigDict(json_schema_extra=_exact_loss_forms)

    optimizer: Optimizer = "rmsprop"
    loss: OneLossOrPerOutput = Field(description="One loss, or one per output name for a model with several outputs.")
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
    validation_data: Literal["test"] | None = Field(
        None,
        description="Validate on the test split after each epoch (Keras's `validation_data`), instead of holding out "
        "validation_split of the training data; null for no validation data.",
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

    precision: Literal["float32", "mixed_float16", "mixed_bfloat16"] = Field(
        "float32",
        description="The Keras dtype policy the layers are built under: float32; mixed_float16 or mixed_bfloat16 "
        "(weights in float32, computations in float16 or bfloat16). Each model output is computed in float32, and "
        "mixed_float16 trains with dynamic loss scaling (Keras wraps the optimizer in a LossScaleOptimizer unless "
        "it is one).",
    )
    jit_compile: Literal["auto"] | bool = Field(
        "auto",
        description="XLA compilation of the training step (model.compile's jit_compile): auto (Keras decides: on "
        "TensorFlow, not on a machine with CPUs only), true (compile it where every layer supports XLA; Keras warns "
        "and runs without it otherwise), false (never).",
    )

    @model_validator(mode="after")
    def _one_validation(self):
        if self.validation_data is not None and self.validation_split > 0:
            raise PolicyError(
                "Only one of `validation_split` and `validation_data` can be set: Keras would ignore validation_split "
                f"(kspec policy). Received: validation_split={self.validation_split}, validation_data={self.validation_data}",
                "ignored-argument",
            )
        return self

    @property
    def validates(self) -> bool:
        """Whether fit has validation data (the `val_` quantities exist)."""
        return self.validation_split > 0 or self.validation_data is not None
