"""The search space of `kspec tune`: the `tuning` section.

Each parameter names the places in the spec it sets (`path`, the dotted keys that `--set` takes:
`model.layers.1.filters`, `training.optimizer`, `model.nodes.2.repeat` for a block use's depth) and a
typed domain. The rest of the spec is an ordinary spec: its own values are one point of the space
(or not: a spec's value need not lie in the domain). Rules that relate one value to another (a range's
low below its high, log scale above zero, a `when` that names a choice) are checked with the space, by
`kspec.tune.space`, with located diagnostics; here is the structure only.
"""

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from .base import END, KspecModel, Name, NonNegativeInt, PositiveFloat, PositiveInt, Seed, shared
from .layers._base import _str_or_list

#: A spec path, as `--set` writes it: dotted keys, list items numbered from 0.
PATH_PATTERN = rf"^[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)*{END}"
_PATH = {"type": "string", "pattern": PATH_PATTERN, "maxLength": 1000}
SpecPaths = Annotated[
    list[Annotated[str, Field(pattern=PATH_PATTERN, max_length=1000)]],
    BeforeValidator(_str_or_list),
    Field(min_length=1),
    WithJsonSchema(
        {
            "anyOf": [_PATH, {"type": "array", "items": _PATH, "minItems": 1}],
            "description": "Where the value goes: a spec path as `--set` writes it (`model.layers.1.filters`, "
            "`training.optimizer.learning_rate`, `model.nodes.2.repeat`), or several paths that take the same value.",
            **shared("TuningPath"),
        }
    ),
]

_Scalar = str | int | float | bool | None


def _one_or_list(value: Any) -> Any:
    return value if isinstance(value, list) else [value]


When = dict[
    Name,
    Annotated[
        list[_Scalar],
        BeforeValidator(_one_or_list),
        Field(min_length=1),
        WithJsonSchema(
            {
                "anyOf": [
                    {"type": ["string", "number", "boolean", "null"]},
                    {"type": "array", "items": {"type": ["string", "number", "boolean", "null"]}, "minItems": 1},
                ]
            }
        ),
    ],
]
_WHEN = Field(
    None,
    description="The parameter exists only when these other parameters take these values (`{optimizer: SGD}`: a "
    "choice matches its value, or a mapping choice its `type`); a list of values means any of them.",
    json_schema_extra=shared("TuningWhen"),
)


class _Param(KspecModel):
    path: SpecPaths
    when: When | None = _WHEN
    description: str | None = Field(None, max_length=10_000, description="Free text for people.")


class IntParam(_Param):
    """An integer drawn from [low, high] (both included): widths, kernel sizes, depths."""

    type: Literal["int"]
    low: int = Field(description="The smallest value.")
    high: int = Field(description="The largest value (included).")
    step: PositiveInt = Field(1, description="Values are low, low + step, ... up to high.")
    log: bool = Field(False, description="Draw on a log scale (low must be at least 1; step must be 1).")


class FloatParam(_Param):
    """A number drawn from [low, high]: rates, learning rates, regularisation factors."""

    type: Literal["float"]
    low: float = Field(description="The smallest value.")
    high: float = Field(description="The largest value.")
    step: PositiveFloat | None = Field(None, description="Values are low, low + step, ...; null: any number.")
    log: bool = Field(False, description="Draw on a log scale (low must be above 0; no step).")


class ChoiceParam(_Param):
    """One of a list of values: numbers, strings, or whole pieces of spec (a layer, an optimizer, a loss)."""

    type: Literal["choice"]
    choices: list[Any] = Field(
        min_length=1, description="The values to choose from; each must fit every place `path` names."
    )


Param = Annotated[IntParam | FloatParam | ChoiceParam, Field(discriminator="type")]


class Objective(KspecModel):
    """What a trial is judged by: a metric of its training history, at its best epoch."""

    metric: Annotated[str, Field(pattern=rf"^[A-Za-z0-9_]+{END}", max_length=200)] = Field(
        "val_loss",
        description="A name in the training history: `val_loss`, `val_accuracy`, ...",
    )
    direction: Literal["minimize", "maximize"] = Field("minimize", description="Whether lower or higher is better.")


class Pruner(KspecModel):
    """Stops unpromising trials early, from the objective at each epoch (Optuna's pruners)."""

    type: Literal["none", "median", "hyperband", "successive_halving"] = Field(
        "median",
        description="median: stop a trial worse than the median of earlier trials at the same epoch; hyperband, "
        "successive_halving: keep the best fraction at each rung of epochs; none.",
    )
    startup_trials: NonNegativeInt = Field(
        3, description="median: trials that are never pruned, to have something to compare with."
    )
    warmup_epochs: NonNegativeInt = Field(1, description="median: epochs a trial runs before it can be pruned.")
    min_epochs: PositiveInt = Field(1, description="hyperband, successive_halving: the epochs of the first rung.")
    reduction_factor: Annotated[int, Field(ge=2, le=100)] = Field(
        3, description="hyperband, successive_halving: 1 / the fraction of trials promoted at each rung."
    )


class Tuning(KspecModel):
    """The search space and the search of `kspec tune`; the rest of the spec is trained once per trial."""

    params: dict[Name, Param] = Field(
        min_length=1,
        description="The parameters by name, applied in order (a later one may set a value inside an earlier choice).",
    )
    objective: Objective = Field(default_factory=Objective, description="The metric to optimise and its direction.")
    trials: PositiveInt = Field(20, description="Trials of the study in all, across reruns and workers.")
    timeout: PositiveFloat | None = Field(None, description="Seconds after which a worker starts no new trial.")
    sampler: Literal["tpe", "random", "grid"] = Field(
        "tpe",
        description="tpe (learns from earlier trials), random, or grid (every combination; floats need a step).",
    )
    pruner: Pruner = Field(default_factory=Pruner, description="Early stopping of unpromising trials.")
    seed: Seed | None = Field(
        None, description="Seed of the sampler and the space check; default: training.seed, else 0."
    )
