"""Activations, initializers, regularizers and constraints: by name, or with parameters.

Names are Keras's (`keras.activations.get("relu")`, `keras.initializers.get("he_normal")`);
the parameterised forms are `{type: ClassName, ...}` with Keras's argument names,
and compile to Keras's serialised form `{"class_name": ..., "config": ...}`.
"""

from typing import Annotated, Literal

from pydantic import Field
from typing_extensions import TypeAliasType

from .base import KspecModel, NonNegativeFloat, PositiveFloat, Seed, shared

# `glu` halves the last axis and `threshold` needs arguments: neither fits the
# `activation=` argument of a layer whose output shape is its `units`. Use the
# activation layers (ReLU with threshold, Softmax, ...) for parameterised activations.
# `hard_shrink` and `soft_shrink` are 0, with a zero gradient, on [-0.5, 0.5], where a freshly
# initialised layer's outputs mostly lie: the soundness property found models that no training
# step could change (at eleven initialisations), so they are not offered either.
ACTIVATIONS = (
    "linear",
    "relu",
    "relu6",
    "leaky_relu",
    "elu",
    "selu",
    "celu",
    "gelu",
    "silu",
    "swish",
    "hard_silu",
    "hard_swish",
    "mish",
    "sigmoid",
    "hard_sigmoid",
    "log_sigmoid",
    "sparse_sigmoid",
    "tanh",
    "hard_tanh",
    "tanh_shrink",
    "softmax",
    "log_softmax",
    "sparsemax",
    "softplus",
    "softsign",
    "sparse_plus",
    "squareplus",
    "exponential",
)
#: Activations that normalise over the last axis: over one value, their output is a constant.
NORMALISING = frozenset({"softmax", "sparsemax", "log_softmax"})
ActivationName = TypeAliasType("ActivationName", Literal[ACTIVATIONS])  # type: ignore[valid-type]
Activation = Annotated[
    ActivationName | None,
    Field(description="Activation function by Keras name; null means linear (a(x) = x)."),
]


# ---- initializers -----------------------------------------------------------------------------

INITIALIZER_NAMES = (
    "zeros",
    "ones",
    "glorot_uniform",
    "glorot_normal",
    "he_uniform",
    "he_normal",
    "lecun_uniform",
    "lecun_normal",
    "random_normal",
    "random_uniform",
    "truncated_normal",
    "orthogonal",
    "variance_scaling",
)

InitializerSeed = Annotated[
    Seed | None,
    Field(
        description="Random seed, for reproducible initial values; null means unseeded.",
        json_schema_extra=shared("InitializerSeed"),
    ),
]


class Constant(KspecModel):
    """Fills the tensor with one value."""

    type: Literal["Constant"]
    value: float = Field(0.0, description="The value every element of the tensor is set to.")


class RandomNormal(KspecModel):
    """Draws from a normal distribution."""

    type: Literal["RandomNormal"]
    mean: float = Field(0.0, description="Mean of the normal distribution.")
    stddev: NonNegativeFloat = Field(0.05, description="Standard deviation of the normal distribution.")
    seed: InitializerSeed = None


class RandomUniform(KspecModel):
    """Draws from a uniform distribution on [minval, maxval)."""

    type: Literal["RandomUniform"]
    minval: float = Field(-0.05, description="Lower bound of the range of random values (inclusive).")
    maxval: float = Field(0.05, description="Upper bound of the range of random values (exclusive).")
    seed: InitializerSeed = None


class TruncatedNormal(KspecModel):
    """A normal distribution truncated at two standard deviations."""

    type: Literal["TruncatedNormal"]
    mean: float = Field(0.0, description="Mean of the normal distribution before truncation.")
    stddev: NonNegativeFloat = Field(
        0.05,
        description="Standard deviation of the normal distribution; values beyond two of these from the mean are redrawn.",
    )
    seed: InitializerSeed = None


class VarianceScaling(KspecModel):
    """Scales the distribution to the fan-in, fan-out or their average."""

    type: Literal["VarianceScaling"]
    scale: PositiveFloat = Field(1.0, description="Scaling factor: the variance of the distribution is scale / n.")
    mode: Literal["fan_in", "fan_out", "fan_avg"] = Field(
        "fan_in", description="What n is: the number of input units (fan_in), output units (fan_out), or their average."
    )
    distribution: Literal["truncated_normal", "untruncated_normal", "uniform"] = Field(
        "truncated_normal", description="The random distribution the values are drawn from."
    )
    seed: InitializerSeed = None


class Orthogonal(KspecModel):
    """An orthogonal matrix (flattened to 2-D)."""

    type: Literal["Orthogonal"]
    gain: float = Field(1.0, description="Multiplicative factor applied to the orthogonal matrix.")
    seed: InitializerSeed = None


class _Seeded(KspecModel):
    seed: InitializerSeed = None


class GlorotUniform(_Seeded):
    """Glorot (Xavier) uniform: uniform on [-limit, limit], limit = sqrt(6 / (fan_in + fan_out))."""

    type: Literal["GlorotUniform"]


class GlorotNormal(_Seeded):
    """Glorot (Xavier) normal: truncated normal with stddev = sqrt(2 / (fan_in + fan_out))."""

    type: Literal["GlorotNormal"]


class HeUniform(_Seeded):
    """He uniform: uniform on [-limit, limit], limit = sqrt(6 / fan_in)."""

    type: Literal["HeUniform"]


class HeNormal(_Seeded):
    """He normal: truncated normal with stddev = sqrt(2 / fan_in)."""

    type: Literal["HeNormal"]


class LecunUniform(_Seeded):
    """LeCun uniform: uniform on [-limit, limit], limit = sqrt(3 / fan_in)."""

    type: Literal["LecunUniform"]


class LecunNormal(_Seeded):
    """LeCun normal: truncated normal with stddev = sqrt(1 / fan_in)."""

    type: Literal["LecunNormal"]


InitializerConfig = Annotated[
    Constant
    | RandomNormal
    | RandomUniform
    | TruncatedNormal
    | VarianceScaling
    | Orthogonal
    | GlorotUniform
    | GlorotNormal
    | HeUniform
    | HeNormal
    | LecunUniform
    | LecunNormal,
    Field(discriminator="type"),
]
#: One definition in the JSON Schema (`$defs`), referenced by every field: the union is long.
InitializerValue = TypeAliasType("InitializerValue", Literal[INITIALIZER_NAMES] | InitializerConfig)  # type: ignore[valid-type]
Initializer = Annotated[
    InitializerValue,
    Field(description="Initializer by Keras name, or {type: ClassName, ...} with its arguments."),
]


# ---- regularizers -----------------------------------------------------------------------------


class L1(KspecModel):
    """L1 weight penalty."""

    type: Literal["L1"]
    l1: NonNegativeFloat = Field(0.01, description="L1 regularization factor: the penalty is l1 * sum(abs(weights)).")


class L2(KspecModel):
    """L2 weight penalty."""

    type: Literal["L2"]
    l2: NonNegativeFloat = Field(
        0.01, description="L2 regularization factor: the penalty is l2 * sum(square(weights))."
    )


class L1L2(KspecModel):
    """Combined L1 and L2 weight penalty."""

    type: Literal["L1L2"]
    l1: NonNegativeFloat = Field(
        0.0, description="L1 regularization factor: adds l1 * sum(abs(weights)) to the penalty."
    )
    l2: NonNegativeFloat = Field(
        0.0, description="L2 regularization factor: adds l2 * sum(square(weights)) to the penalty."
    )


class OrthogonalRegularizer(KspecModel):
    """Encourages the rows (or columns) of a 2-D kernel to be orthogonal."""

    type: Literal["OrthogonalRegularizer"]
    factor: NonNegativeFloat = Field(
        0.01,
        description="Regularization factor: the penalty is factor times the mean dot product between distinct normalised rows (or columns).",
    )
    mode: Literal["rows", "columns"] = Field(
        "rows", description="Whether the rows or the columns of the kernel are made orthogonal."
    )


RegularizerConfig = Annotated[L1 | L2 | L1L2 | OrthogonalRegularizer, Field(discriminator="type")]
# Not "l1_l2": Keras 3 does not resolve that name ("Could not interpret regularizer identifier"); write
# {type: L1L2, l1: 0.01, l2: 0.01}.
RegularizerValue = TypeAliasType("RegularizerValue", Literal["l1", "l2"] | RegularizerConfig)
Regularizer = Annotated[
    RegularizerValue | None,
    Field(description="Regularizer by Keras name (factor 0.01), or {type: L1|L2|L1L2|OrthogonalRegularizer, ...}."),
]


# ---- constraints ------------------------------------------------------------------------------

_NORM_AXIS = (
    "Axis along which weight norms are computed; 0 constrains each column of a Dense kernel (input_dim, units)."
)


class MaxNorm(KspecModel):
    """Constrains the norm of the weights incident to each hidden unit to at most max_value."""

    type: Literal["MaxNorm"]
    max_value: PositiveFloat = Field(
        2.0, description="Maximum norm of the incoming weights; larger weight vectors are rescaled to it."
    )
    axis: int = Field(0, description=_NORM_AXIS)


class MinMaxNorm(KspecModel):
    """Constrains the norm of the weights incident to each hidden unit to [min_value, max_value]."""

    type: Literal["MinMaxNorm"]
    min_value: NonNegativeFloat = Field(0.0, description="Minimum norm of the incoming weights.")
    max_value: NonNegativeFloat = Field(1.0, description="Maximum norm of the incoming weights.")
    rate: Annotated[float, Field(ge=0, le=1)] = Field(
        1.0,
        description="How strictly the constraint is enforced: norms become (1 - rate) * norm + rate * clip(norm, min_value, max_value); 1.0 is strict.",
    )
    axis: int = Field(0, description=_NORM_AXIS)


class NonNeg(KspecModel):
    """Constrains the weights to be non-negative."""

    type: Literal["NonNeg"]


class UnitNorm(KspecModel):
    """Constrains the weights incident to each hidden unit to have unit norm."""

    type: Literal["UnitNorm"]
    axis: int = Field(0, description=_NORM_AXIS)


ConstraintConfig = Annotated[MaxNorm | MinMaxNorm | NonNeg | UnitNorm, Field(discriminator="type")]
ConstraintValue = TypeAliasType(
    "ConstraintValue", Literal["max_norm", "min_max_norm", "non_neg", "unit_norm"] | ConstraintConfig
)
Constraint = Annotated[
    ConstraintValue | None,
    Field(description="Weight constraint by Keras name, or {type: MaxNorm|MinMaxNorm|NonNeg|UnitNorm, ...}."),
]


# ---- what each object needs of the tensor it lands on -----------------------------------------

#: The constraints that take the norm along an axis, by name, with that axis (Keras's default, 0).
_AXIS_CONSTRAINTS = {"max_norm": 0, "min_max_norm": 0, "unit_norm": 0}

#: A problem with the tensor an argument object lands on: the message, and the kspec policy that refuses it
#: (None: Keras fails).
FitProblem = tuple[str, str | None]


def fit_problem(value: object, shape: tuple[int | None, ...], activity: bool = False) -> FitProblem | None:
    """What stops an initializer, regularizer or constraint from applying to a tensor of this shape: a weight's
    (no batch axis), or with `activity` a layer output's (batch axis first). None when it applies.

    >>> fit_problem("orthogonal", (3,))[0]
    'the orthogonal initializer needs a weight of at least 2 dimensions'
    >>> fit_problem(MinMaxNorm(type="MinMaxNorm", axis=-2), (3,))[0]
    'the norm is taken along axis -2, which a weight of rank 1 does not have'
    >>> fit_problem("unit_norm", (4, 3)) is None
    True
    """
    rank = len(shape)
    if isinstance(value, str):  # by name (the common case: a check of a large model asks thousands of times)
        if value == "orthogonal":
            return _orthogonal_problem(rank)
        axis = _AXIS_CONSTRAINTS.get(value)
        return None if axis is None else _axis_problem(axis, rank)
    if isinstance(value, Orthogonal):
        return _orthogonal_problem(rank)
    if isinstance(value, OrthogonalRegularizer):
        return _orthogonal_penalty_problem(value, shape, activity)
    if isinstance(value, MaxNorm | MinMaxNorm | UnitNorm):
        return _axis_problem(value.axis, rank)
    return None


def _orthogonal_problem(rank: int) -> FitProblem | None:
    return ("the orthogonal initializer needs a weight of at least 2 dimensions", None) if rank < 2 else None


def _axis_problem(axis: int, rank: int) -> FitProblem | None:
    if -rank <= axis < rank:
        return None
    return f"the norm is taken along axis {axis}, which a weight of rank {rank} does not have", None


def _orthogonal_penalty_problem(
    reg: OrthogonalRegularizer, shape: tuple[int | None, ...], activity: bool
) -> FitProblem | None:
    if len(shape) != 2:
        return (
            f"OrthogonalRegularizer needs a tensor of rank 2 (Keras: inputs must have rank 2), not rank {len(shape)}",
            None,
        )
    axis = 0 if reg.mode == "rows" else 1
    size = shape[axis]
    what = reg.mode
    if activity and axis == 0:
        return (
            "in mode 'rows' an activity regularizer's rows are the examples of a batch, and a batch of one example "
            "gives a NaN penalty (kspec policy: use mode 'columns')",
            "orthogonal-penalty",
        )
    if size is None:
        return (
            f"its number of {what} is unknown here, and with one of them the penalty is NaN (kspec policy)",
            "orthogonal-penalty",
        )
    if size < 2:
        return f"with a single one of its {what} there are no pairs to compare, and the penalty is NaN (0 / 0)", None
    return None
