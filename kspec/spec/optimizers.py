"""Optimizers (`keras.optimizers`) and learning-rate schedules (`keras.optimizers.schedules`) of the `training`
section: every Keras optimizer, by name or as `{type: ..., ...}` with Keras's arguments.

A name is any spelling `keras.optimizers.get` takes for an optimizer that needs no argument (`adam`, `Adam`,
`schedulefreeadamw`), normalised to Keras's lower-case name. The wrappers take other optimizers:
`LossScaleOptimizer` one (`inner_optimizer`), `MultiOptimizer` a default one and one per layer
(`optimizer_map`, by the names of the spec's layers).
"""

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator
from typing_extensions import TypeAliasType

from ..diagnostics import PolicyError
from .aliases import canonical_name
from .base import KspecModel, Name, NonNegativeFloat, NonNegativeInt, PositiveFloat, PositiveInt, shared


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
    Field(
        description="A fixed learning rate, or a schedule {type: ExponentialDecay, ...}.",
        json_schema_extra=shared("LearningRate"),
    ),
]

# ---- optimizers --------------------------------------------------------------------------------

_CLIPS = ("clipnorm", "clipvalue", "global_clipnorm")


def _both_set(a: str, b: str) -> dict:
    return {"required": [a, b], "properties": {a: {"not": {"type": "null"}}, b: {"not": {"type": "null"}}}}


class _OneClip:
    """`_Optimizer._one_clip` in the JSON Schema: no two of the clip arguments set (non-null). Written once on each
    union of optimizers (the places an optimizer goes), not in the definition of each optimizer."""

    def __get_pydantic_json_schema__(self, core_schema: Any, handler: Any) -> Any:
        json_schema = handler(core_schema)
        json_schema["not"] = {"anyOf": [_both_set(a, b) for i, a in enumerate(_CLIPS) for b in _CLIPS[i + 1 :]]}
        return json_schema


class _Optimizer(KspecModel):
    # `_one_clip` is in the schema of the unions of optimizers (`_OneClip`).

    # Every optimizer has these arguments alike: each is written once in the JSON Schema (`shared`).
    weight_decay: NonNegativeFloat | None = Field(
        None,
        description="Decoupled weight decay: each step, weights shrink by learning_rate * weight_decay * weight; null for none.",
        json_schema_extra=shared("WeightDecay"),
    )
    clipnorm: PositiveFloat | None = Field(
        None,
        description="Clip each weight's gradient so that its norm is at most this.",
        json_schema_extra=shared("ClipNorm"),
    )
    clipvalue: PositiveFloat | None = Field(
        None,
        description="Clip each gradient value to [-clipvalue, clipvalue].",
        json_schema_extra=shared("ClipValue"),
    )
    global_clipnorm: PositiveFloat | None = Field(
        None,
        description="Clip all gradients together so that their global norm is at most this.",
        json_schema_extra=shared("GlobalClipNorm"),
    )
    use_ema: bool = Field(
        False,
        description="Keep an exponential moving average (EMA) of the weights and overwrite the weights with it at the end of fit.",
        json_schema_extra=shared("UseEma"),
    )
    ema_momentum: Annotated[float, Field(ge=0, le=1)] = Field(
        0.99,
        description="EMA momentum, used with use_ema: new_average = ema_momentum * old_average + (1 - ema_momentum) * value.",
        json_schema_extra=shared("EmaMomentum"),
    )
    ema_overwrite_frequency: PositiveInt | None = Field(
        None,
        description="With use_ema, overwrite the weights with their moving average every this many steps (and at the "
        "end of fit); null: only at the end of fit.",
        json_schema_extra=shared("EmaOverwriteFrequency"),
    )
    loss_scale_factor: PositiveFloat | None = Field(
        None,
        description="Multiply the loss by this before computing the gradients, and divide the gradients by it "
        "(static loss scaling, for float16); null for none.",
        json_schema_extra=shared("LossScaleFactor"),
    )
    # Keras refuses 1 ("must be an integer > 1"): null is the way to update every step.
    gradient_accumulation_steps: Annotated[int, Field(ge=2)] | None = Field(
        None,
        description="Update the weights every this many steps (at least 2), with the average of the gradients since the last update; null updates every step.",
        json_schema_extra=shared("GradientAccumulationSteps"),
    )

    @classmethod
    def keras_refuses(cls, field: str, value: Any, arguments: dict) -> bool:
        """Whether Keras's own constructor refuses this value of an argument that kspec's bounds refuse, given the
        other arguments; where it does not, Keras would train with it, wrongly or not at all (a negative learning
        rate climbs the loss, a clip of 0 zeroes every gradient), and kspec's refusal is the optimizer-range
        policy."""
        if field == "ema_momentum":  # checked only with use_ema
            return arguments.get("use_ema") is True and not 0 <= value <= 1
        if field == "ema_overwrite_frequency":  # checked only with use_ema; 0 is falsy: "never"
            return arguments.get("use_ema") is True and value != 0 and value < 1
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


class Lamb(_Optimizer):
    """Lamb: Adam whose update of each weight is scaled by the ratio of the weight's norm to the update's norm."""

    type: Literal["Lamb"]
    learning_rate: LearningRate = 0.001
    beta_1: Beta = Field(
        0.9, description="Exponential decay rate for the 1st moment (mean) estimates of the gradients."
    )
    beta_2: Beta = Field(
        0.999, description="Exponential decay rate for the 2nd moment (uncentered variance) estimates of the gradients."
    )
    epsilon: Epsilon = Field(1e-7, description="Small constant added to the denominator for numerical stability.")


class Adafactor(_Optimizer):
    """Adafactor: Adam-like, with the second moments of each matrix factored into row and column averages (less memory)."""

    type: Literal["Adafactor"]
    learning_rate: LearningRate = 0.001
    beta_2_decay: Annotated[float, Field(le=0)] = Field(
        -0.8,
        description="Decay of the second-moment averaging: its rate at step t is 1 - t ** beta_2_decay (at most 0: "
        "above, the rate turns negative and the averages can too).",
    )
    epsilon_1: PositiveFloat = Field(
        1e-30,
        description="Small constant added to the squared gradients (above 0: a zero gradient would divide 0 by 0).",
    )
    epsilon_2: NonNegativeFloat = Field(
        0.001, description="Lower bound of a weight's root mean square when it scales the step size."
    )
    clip_threshold: PositiveFloat = Field(
        1.0, description="Updates are scaled down so that their root mean square is at most this."
    )
    relative_step: bool = Field(
        True, description="With a fixed learning rate, cap it at 1 / sqrt(step) (not with a schedule)."
    )


class ScheduleFreeAdamW(_Optimizer):
    """Schedule-Free AdamW: interpolates and averages the iterates instead of decaying the learning rate."""

    type: Literal["ScheduleFreeAdamW"]
    learning_rate: LearningRate = 0.0025
    # 0 is refused by the optimizer-range policy: Keras divides by beta_1 (NaN weights after the first step)
    beta_1: Annotated[float, Field(gt=0, le=1)] = Field(
        0.9,
        description="Exponential decay rate for the 1st moment estimates, and the interpolation between the "
        "iterates and their average; in (0, 1] (Keras divides by it).",
    )
    beta_2: Beta = Field(
        0.999, description="Exponential decay rate for the 2nd moment (uncentered variance) estimates of the gradients."
    )
    epsilon: Epsilon = Field(1e-8, description="Small constant added to the denominator for numerical stability.")
    warmup_steps: NonNegativeInt = Field(
        0, description="Steps over which the learning rate rises linearly from 0 to learning_rate; 0 for none."
    )


class Muon(_Optimizer):
    """Muon: momentum orthogonalised by Newton-Schulz iterations for 2-D weights (matrices), AdamW for the others
    (biases, embeddings, layers listed in exclude_layers)."""

    type: Literal["Muon"]
    learning_rate: LearningRate = 0.001
    weight_decay: NonNegativeFloat | None = Field(
        0.004,
        description="Decoupled weight decay of the weights that Muon updates: each step they shrink by "
        "learning_rate * weight_decay * weight; null for none.",
    )
    adam_beta_1: Beta = Field(
        0.9, description="AdamW's exponential decay rate for the 1st moment estimates (for the weights AdamW updates)."
    )
    adam_beta_2: Beta = Field(
        0.999,
        description="AdamW's exponential decay rate for the 2nd moment estimates (for the weights AdamW updates).",
    )
    adam_weight_decay: NonNegativeFloat | None = Field(
        0.004, description="Decoupled weight decay of the weights that AdamW updates; null for none."
    )
    epsilon: Epsilon = Field(1e-7, description="AdamW's small constant for numerical stability.")
    exclude_layers: list[Name] = Field(
        default_factory=list,
        description="Names of layers of the model whose weights AdamW updates instead of Muon (typically the "
        "output layer); each must be a layer of the model with trainable weights.",
    )
    exclude_embeddings: bool = Field(True, description="Update the weights of Embedding layers with AdamW.")
    muon_a: float = Field(3.4445, description="Coefficient a of the Newton-Schulz iteration (keep Keras's default).")
    muon_b: float = Field(-4.775, description="Coefficient b of the Newton-Schulz iteration (keep Keras's default).")
    muon_c: float = Field(2.0315, description="Coefficient c of the Newton-Schulz iteration (keep Keras's default).")
    adam_lr_ratio: PositiveFloat = Field(
        1.0, description="The learning rate of the weights AdamW updates, as a multiple of learning_rate."
    )
    momentum: Annotated[float, Field(ge=0, le=1)] = Field(0.95, description="Momentum of Muon's internal SGD.")
    ns_steps: NonNegativeInt = Field(5, description="Number of Newton-Schulz iterations.")
    nesterov: bool = Field(True, description="Use Nesterov-style momentum.")
    rms_rate: PositiveFloat | None = Field(
        0.2,
        description="Scales each update by sqrt(max(rows, columns)) * rms_rate (arXiv:2502.16982), so that Muon can "
        "use AdamW's learning rate and weight decay; null for no scaling.",
    )

    def layer_names(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """The layer names this optimizer refers to, each with its path under the optimizer."""
        return [(name, ("exclude_layers", i)) for i, name in enumerate(self.exclude_layers)]


def optimizer_layer_names(optimizer: Any) -> list[tuple[str, tuple[str | int, ...]]]:
    """The layer names an optimizer (of any kind) refers to, each with its path under the optimizer."""
    names = getattr(optimizer, "layer_names", None)
    return names() if names is not None else []


#: The optimizers that update weights themselves (the wrappers below delegate to them).
PLAIN_OPTIMIZERS = (SGD, Adam, AdamW, RMSprop, Adagrad, Adadelta, Adamax, Nadam, Ftrl, Lion, Lamb, Adafactor,
                    ScheduleFreeAdamW, Muon)  # fmt: skip
#: The optimizer classes by type name.
OPTIMIZER_TYPES: dict[str, type[_Optimizer]] = {cls.model_fields["type"].annotation.__args__[0]: cls for cls in PLAIN_OPTIMIZERS}  # type: ignore[union-attr]  # fmt: skip

#: Keras's name of every optimizer that needs no argument (`keras.optimizers.get`), and the other spellings
#: it takes for them (the class names: Keras ignores case), normalised to it. Lamb has none: Keras's table
#: of optimizers leaves it out, so `get("lamb")` fails.
_CANONICAL_NAMES = {
    "sgd": "SGD",
    "adam": "Adam",
    "adamw": "AdamW",
    "rmsprop": "RMSprop",
    "adagrad": "Adagrad",
    "adadelta": "Adadelta",
    "adamax": "Adamax",
    "nadam": "Nadam",
    "ftrl": "Ftrl",
    "lion": "Lion",
    "adafactor": "Adafactor",
    "muon": "Muon",
    "schedulefreeadamw": "ScheduleFreeAdamW",
}
OPTIMIZER_ALIASES = {cls: name for name, cls in _CANONICAL_NAMES.items()}
#: Every optimizer name a spec may give: Keras's names, then the other spellings.
OPTIMIZER_NAMES = (*_CANONICAL_NAMES, *OPTIMIZER_ALIASES)


OptimizerName: Any = canonical_name(
    OPTIMIZER_NAMES,
    OPTIMIZER_ALIASES,
    "An optimizer by Keras's name, with its defaults (class names such as Adam are taken too, as Keras does, and "
    "normalised to the lower-case name).",
)
PlainOptimizerConfig = Annotated[
    SGD | Adam | AdamW | RMSprop | Adagrad | Adadelta | Adamax | Nadam | Ftrl | Lion | Lamb | Adafactor
    | ScheduleFreeAdamW | Muon,
    Field(discriminator="type"),
    _OneClip(),
]  # fmt: skip
# Written once in the JSON Schema's `$defs` and referenced by each place of a wrapper that holds an optimizer.
PlainOptimizer = TypeAliasType(
    "PlainOptimizer",
    Annotated[
        OptimizerName | PlainOptimizerConfig,
        Field(description="An optimizer by Keras name with its defaults, or {type: Adam, learning_rate: ..., ...}."),
    ],
)


class _Wrapper(KspecModel):
    """An optimizer that delegates the updates to optimizers inside it."""

    @classmethod
    def keras_refuses(cls, field: str, value: Any, arguments: dict) -> bool:
        """Keras's constructors of the wrappers check none of their numbers (see `_Optimizer.keras_refuses`)."""
        return False

    def optimizers(self) -> list[tuple[Any, tuple[str | int, ...]]]:
        """The optimizers inside, each with its path under this one."""
        raise NotImplementedError

    @property
    def gradient_accumulation_steps(self) -> int | None:
        """The most batches an optimizer inside accumulates before it updates its weights (None: none does)."""
        steps = [getattr(o, "gradient_accumulation_steps", None) for o, _ in self.optimizers()]
        return max((s for s in steps if s), default=None)

    def layer_names(self) -> list[tuple[str, tuple[str | int, ...]]]:
        """The layer names the optimizers inside refer to, each with its path under this one."""
        out = []
        for optimizer, path in self.optimizers():
            for name, inner in optimizer_layer_names(optimizer):
                out.append((name, path + inner))
        return out


class LossScaleOptimizer(_Wrapper):
    """Dynamic loss scaling around another optimizer (for float16 training): the loss is multiplied by a scale
    that halves whenever the gradients overflow and doubles after dynamic_growth_steps finite steps."""

    type: Literal["LossScaleOptimizer"]
    inner_optimizer: PlainOptimizer = Field(description="The optimizer that updates the weights.")
    initial_scale: PositiveFloat = Field(
        32768.0, description="The loss scale at the start (high: a scale too high falls faster than one too low rises)."
    )
    dynamic_growth_steps: PositiveInt = Field(
        2000, description="The scale doubles after this many steps in a row with finite gradients."
    )

    def optimizers(self) -> list[tuple[Any, tuple[str | int, ...]]]:
        return [(self.inner_optimizer, ("inner_optimizer",))]


class MultiOptimizer(_Wrapper):
    """Different optimizers for different layers: each layer named in optimizer_map is updated by its optimizer,
    every other weight by default_optimizer (Keras's `MultiOptimizer(OptimizerMap(...))`)."""

    type: Literal["MultiOptimizer"]
    default_optimizer: PlainOptimizer = Field(
        description="The optimizer of every weight of a layer not in optimizer_map."
    )
    optimizer_map: dict[Name, PlainOptimizer] = Field(
        default_factory=dict,
        description="Layer name -> the optimizer of that layer's weights (by the spec's names: each must be a "
        "layer of the model with trainable weights).",
    )
    loss_scale_factor: PositiveFloat | None = Field(
        None, description="Multiplies the loss (and divides the gradients) of every optimizer inside; null for none."
    )

    def optimizers(self) -> list[tuple[Any, tuple[str | int, ...]]]:
        return [(self.default_optimizer, ("default_optimizer",))] + [
            (optimizer, ("optimizer_map", name)) for name, optimizer in self.optimizer_map.items()
        ]

    def layer_names(self) -> list[tuple[str, tuple[str | int, ...]]]:
        return [(name, ("optimizer_map", name)) for name in self.optimizer_map] + super().layer_names()


#: Every optimizer class (the wrappers too) by type name: what `optimizer_range_policy` asks.
ALL_OPTIMIZER_TYPES: dict[str, Any] = {
    **OPTIMIZER_TYPES,
    "LossScaleOptimizer": LossScaleOptimizer,
    "MultiOptimizer": MultiOptimizer,
}


OptimizerConfig = Annotated[
    SGD | Adam | AdamW | RMSprop | Adagrad | Adadelta | Adamax | Nadam | Ftrl | Lion | Lamb | Adafactor
    | ScheduleFreeAdamW | Muon | LossScaleOptimizer | MultiOptimizer,
    Field(discriminator="type"),
    _OneClip(),
]  # fmt: skip
Optimizer = Annotated[
    OptimizerName | OptimizerConfig,
    Field(
        description="Optimizer by Keras name with its defaults, or {type: Adam, learning_rate: ..., ...}; "
        "{type: LossScaleOptimizer, inner_optimizer: ...} and {type: MultiOptimizer, default_optimizer: ..., "
        "optimizer_map: {layer: ...}} wrap others."
    ),
]


def learning_rates(optimizer: Any) -> list[tuple[Any, tuple[str | int, ...]]]:
    """The learning rates (numbers or schedules) of an optimizer and the optimizers inside it, with their paths;
    a name has Keras's default (a number)."""
    if isinstance(optimizer, str):
        return []
    inside = getattr(optimizer, "optimizers", None)
    if inside is not None:
        return [(lr, path + sub) for inner, path in inside() for lr, sub in learning_rates(inner)]
    return [(optimizer.learning_rate, ("learning_rate",))]


def optimizer_range_policy(path: tuple, value: Any, data: Any) -> str | None:
    """The optimizer-range policy for an optimizer argument at `path` (under `training.optimizer`, inside a
    wrapper too) out of kspec's bounds, where Keras's constructor takes the value (`_Optimizer.keras_refuses`)."""
    if len(path) < 3 or tuple(path[:2]) != ("training", "optimizer") or not isinstance(data, dict):
        return None
    training = data.get("training")
    arguments = training.get("optimizer") if isinstance(training, dict) else None
    rest = list(path[2:])
    while len(rest) > 1:  # into a wrapper: inner_optimizer, default_optimizer, optimizer_map.<name>
        if not isinstance(arguments, dict):
            return None
        step = rest.pop(0)
        arguments = arguments.get(step) if isinstance(step, str) else None
        if step == "optimizer_map" and rest and isinstance(arguments, dict):
            arguments = arguments.get(rest.pop(0))
    if not rest or not isinstance(arguments, dict) or not isinstance(arguments.get("type"), str):
        return None
    cls = ALL_OPTIMIZER_TYPES.get(arguments["type"])
    if cls is None or cls.keras_refuses(str(rest[0]), value, arguments):
        return None
    return "optimizer-range"


def layer_pattern(paths: list[str]) -> str:
    """A regular expression that Keras's `re.fullmatch` and `re.search` match on exactly these variable paths."""
    return "^(?:" + "|".join(re.escape(p) for p in sorted(paths)) + ")$"
