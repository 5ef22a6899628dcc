"""Activations, initializers, regularizers and constraints: by name, or with parameters.

Names are Keras's (`keras.activations.get("relu")`, `keras.initializers.get("he_normal")`);
the parameterised forms are `{type: ClassName, ...}` with Keras's argument names,
and compile to Keras's serialised form `{"class_name": ..., "config": ...}`.
"""

from __future__ import annotations

from typing import Annotated, Literal, Union

from pydantic import Field

from .base import KspecModel, NonNegativeFloat, PositiveFloat, Seed

# `glu` halves the last axis and `threshold` needs arguments: neither fits the
# `activation=` argument of a layer whose output shape is its `units`. Use the
# activation layers (ReLU with threshold, Softmax, ...) for parameterised activations.
ACTIVATIONS = (
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "celu", "gelu", "silu", "swish",
    "hard_silu", "hard_swish", "mish", "sigmoid", "hard_sigmoid", "log_sigmoid", "sparse_sigmoid",
    "tanh", "hard_tanh", "tanh_shrink", "hard_shrink", "soft_shrink", "softmax", "log_softmax",
    "sparsemax", "softplus", "softsign", "sparse_plus", "squareplus", "exponential",
)
ActivationName = Literal[ACTIVATIONS]  # type: ignore[valid-type]
Activation = Annotated[
    ActivationName | None,
    Field(description="Activation function by Keras name; null means linear (a(x) = x)."),
]


# ---- initializers -----------------------------------------------------------------------------

INITIALIZER_NAMES = (
    "zeros", "ones", "glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
    "lecun_uniform", "lecun_normal", "random_normal", "random_uniform", "truncated_normal",
    "orthogonal", "variance_scaling",
)


class Constant(KspecModel):
    """Fills the tensor with one value."""

    type: Literal["Constant"]
    value: float = 0.0


class RandomNormal(KspecModel):
    """Draws from a normal distribution."""

    type: Literal["RandomNormal"]
    mean: float = 0.0
    stddev: NonNegativeFloat = 0.05
    seed: Seed | None = None


class RandomUniform(KspecModel):
    """Draws from a uniform distribution on [minval, maxval)."""

    type: Literal["RandomUniform"]
    minval: float = -0.05
    maxval: float = 0.05
    seed: Seed | None = None


class TruncatedNormal(KspecModel):
    """A normal distribution truncated at two standard deviations."""

    type: Literal["TruncatedNormal"]
    mean: float = 0.0
    stddev: NonNegativeFloat = 0.05
    seed: Seed | None = None


class VarianceScaling(KspecModel):
    """Scales the distribution to the fan-in, fan-out or their average."""

    type: Literal["VarianceScaling"]
    scale: PositiveFloat = 1.0
    mode: Literal["fan_in", "fan_out", "fan_avg"] = "fan_in"
    distribution: Literal["truncated_normal", "untruncated_normal", "uniform"] = "truncated_normal"
    seed: Seed | None = None


class Orthogonal(KspecModel):
    """An orthogonal matrix (flattened to 2-D)."""

    type: Literal["Orthogonal"]
    gain: float = 1.0
    seed: Seed | None = None


class _Seeded(KspecModel):
    seed: Seed | None = None


class GlorotUniform(_Seeded):
    type: Literal["GlorotUniform"]


class GlorotNormal(_Seeded):
    type: Literal["GlorotNormal"]


class HeUniform(_Seeded):
    type: Literal["HeUniform"]


class HeNormal(_Seeded):
    type: Literal["HeNormal"]


class LecunUniform(_Seeded):
    type: Literal["LecunUniform"]


class LecunNormal(_Seeded):
    type: Literal["LecunNormal"]


InitializerConfig = Annotated[
    Union[
        Constant, RandomNormal, RandomUniform, TruncatedNormal, VarianceScaling, Orthogonal,
        GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform, LecunNormal,
    ],
    Field(discriminator="type"),
]
Initializer = Annotated[
    Literal[INITIALIZER_NAMES] | InitializerConfig,  # type: ignore[valid-type]
    Field(description="Initializer by Keras name, or {type: ClassName, ...} with its arguments."),
]


# ---- regularizers -----------------------------------------------------------------------------

class L1(KspecModel):
    type: Literal["L1"]
    l1: NonNegativeFloat = 0.01


class L2(KspecModel):
    type: Literal["L2"]
    l2: NonNegativeFloat = 0.01


class L1L2(KspecModel):
    type: Literal["L1L2"]
    l1: NonNegativeFloat = 0.0
    l2: NonNegativeFloat = 0.0


class OrthogonalRegularizer(KspecModel):
    """Encourages the rows (or columns) of a 2-D kernel to be orthogonal."""

    type: Literal["OrthogonalRegularizer"]
    factor: NonNegativeFloat = 0.01
    mode: Literal["rows", "columns"] = "rows"


RegularizerConfig = Annotated[Union[L1, L2, L1L2, OrthogonalRegularizer], Field(discriminator="type")]
Regularizer = Annotated[
    Literal["l1", "l2", "l1_l2"] | RegularizerConfig | None,
    Field(description="Regularizer by Keras name (factor 0.01), or {type: L1|L2|L1L2|OrthogonalRegularizer, ...}."),
]


# ---- constraints ------------------------------------------------------------------------------

class MaxNorm(KspecModel):
    type: Literal["MaxNorm"]
    max_value: PositiveFloat = 2.0
    axis: int = 0


class MinMaxNorm(KspecModel):
    type: Literal["MinMaxNorm"]
    min_value: NonNegativeFloat = 0.0
    max_value: NonNegativeFloat = 1.0
    rate: Annotated[float, Field(ge=0, le=1)] = 1.0
    axis: int = 0


class NonNeg(KspecModel):
    type: Literal["NonNeg"]


class UnitNorm(KspecModel):
    type: Literal["UnitNorm"]
    axis: int = 0


ConstraintConfig = Annotated[Union[MaxNorm, MinMaxNorm, NonNeg, UnitNorm], Field(discriminator="type")]
Constraint = Annotated[
    Literal["max_norm", "min_max_norm", "non_neg", "unit_norm"] | ConstraintConfig | None,
    Field(description="Weight constraint by Keras name, or {type: MaxNorm|MinMaxNorm|NonNeg|UnitNorm, ...}."),
]
