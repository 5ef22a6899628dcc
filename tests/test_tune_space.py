"""The search space is checked before anything trains (kspec.tune.space): no Optuna, no TensorFlow.

Each bad space gets its diagnostic at the line of the parameter (or of the bound, the choice, the path) that
is wrong; a space with invalid regions validates with a warning that names a failing assignment and the
fraction of the checked points that fail; `--strict` makes it an error; a space with no valid point is an error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

import kspec
from kspec.cli import main
from kspec.spec.tuning import Tuning
from kspec.tune import space

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "specs" / "digits_tune.yaml"

BASE = """\
kspec: 1
name: t
blocks:
  conv_pool:
    params: {filters: int}
    layers:
      - {type: Conv2D, filters: "${filters}", kernel_size: 3, padding: same}
      - {type: MaxPooling2D, pool_size: 2}
model:
  input: {shape: [8, 8, 1]}
  layers:
    - {block: conv_pool, repeat: 1, filters: 8}
    - {type: Flatten}
    - {type: Dropout, rate: 0.2}
    - {type: Dense, units: 10, activation: softmax}
training:
  optimizer: {type: Adam, learning_rate: 0.001}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  validation_split: 0.2
tuning:
  objective: {metric: val_accuracy, direction: maximize}
  params:
"""


def spec_with(params: str, **tuning: str) -> str:
    text = BASE + "".join(f"    {line}\n" for line in params.strip("\n").splitlines())
    for key, value in tuning.items():
        text = text.replace("tuning:\n", f"tuning:\n  {key}: {value}\n")
    return text


def line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


def only(report, code: str):
    found = [d for d in report.diagnostics if d.code == code]
    assert len(found) == 1, [(d.code, d.message) for d in report.diagnostics]
    return found[0]


# ---- the example: a space with an invalid region --------------------------------------------------------


def test_the_example_validates_with_a_located_warning_and_a_failing_assignment() -> None:
    text = EXAMPLE.read_text()
    report = kspec.check(EXAMPLE)
    assert report.ok
    d = only(report, "tuning-region")
    assert d.severity == "warning"
    assert d.span is not None and d.span.line == line_of(text, "path: model.layers.1.repeat")
    assert d.path == ("tuning", "params", "depth")
    assert "with depth: 4" in d.message and "the input size 1 is smaller than the pool size 2" in d.message
    assert "are invalid" in d.message and "%" in d.message
    notes = [n.message for n in d.notes]
    assert "the model fails here" in notes and any(n.startswith("valid with depth: 3") for n in notes)


def test_strict_makes_an_invalid_region_an_error() -> None:
    result = CliRunner().invoke(main, ["validate", str(EXAMPLE), "--strict", "--format", "json"])
    assert result.exit_code == 1
    diagnostics = json.loads(result.stdout)["files"][0]["diagnostics"]
    assert [(d["code"], d["severity"]) for d in diagnostics] == [("tuning-region", "error")]
    assert diagnostics[0]["line"] == line_of(EXAMPLE.read_text(), "path: model.layers.1.repeat")


def test_the_fraction_is_of_the_whole_space_when_it_is_small() -> None:
    text = spec_with("depth: {type: int, path: model.layers.0.repeat, low: 1, high: 4}")
    report = kspec.check(text)
    d = only(report, "tuning-region")
    # depth 4 on an 8x8 image: 1 of the 4 points; a small discrete space is checked whole
    assert "1 of 4 points of the space (25%) are invalid" in d.message


def test_a_space_without_a_valid_point_is_an_error() -> None:
    text = spec_with("depth: {type: int, path: model.layers.0.repeat, low: 4, high: 6}")
    report = kspec.check(text)
    d = only(report, "tuning-empty")
    assert d.severity == "error" and not report.ok
    assert d.span is not None and d.span.line == line_of(text, "depth: {type: int")  # `params`, at its value
    assert "3 of 3 points of the space (100%)" in d.message and "with depth: 4" in d.message


# ---- bad spaces: located diagnostics -----------------------------------------------------------------------

BAD = {
    "empty range": (
        "width: {type: int, path: model.layers.0.filters, low: 64,\n  high: 8}",
        "high: 8",
        "The range of `width` is empty",
    ),
    "log over zero": (
        "lr: {type: float, path: training.optimizer.learning_rate,\n  low: 0.0, high: 0.1, log: true}",
        "low: 0.0",
        "log scale, so low must be above 0",
    ),
    "log with a step": (
        "width: {type: int, path: model.layers.0.filters, low: 8, high: 64, log: true,\n  step: 8}",
        "step: 8",
        "cannot have both log: true and a step",
    ),
    "a path that names nothing": (
        "rate: {type: float,\n  path: model.layers.7.rate, low: 0.1, high: 0.5}",
        "path: model.layers.7.rate",
        "The path of `rate` names nothing: the spec has no `model.layers.7` (`model.layers` has 4 items",
    ),
    "a path through a value": (
        "rate: {type: float,\n  path: model.layers.2.rate.x, low: 0.1, high: 0.5}",
        "path: model.layers.2.rate.x",
        "`model.layers.2.rate` is 0.2, not a mapping or a list",
    ),
    "a choice that does not fit the field": (
        "opt:\n  type: choice\n  path: training.optimizer\n  choices:\n    - {type: Adam}\n    - {type: SGD, momentum: 1.5}",
        "{type: SGD, momentum: 1.5}",
        "`opt` offers choices[1], which does not fit where it goes: `momentum` in SGD must be <= 1.0",
    ),
    "a layer choice that does not fit the model": (
        "layer:\n  type: choice\n  path: model.layers.2\n  choices:\n    - {type: Dropout, rate: 0.1}\n    - {type: Conv2D, filters: 2, kernel_size: 2}",
        "{type: Conv2D, filters: 2, kernel_size: 2}",
        "`layer` offers choices[1], which does not fit where it goes: Input 0 of layer 'Conv2D' is incompatible",
    ),
    "a range the field refuses in part": (
        "rate: {type: float, path: model.layers.2.rate, low: 0.0,\n  high: 1.5}",
        "high: 1.5",
        "`rate` takes high: 1.5, which does not fit where it goes",
    ),
    "a range of the wrong type": (
        "units: {type: float, path: model.layers.3.units, low: 2.0,\n  high: 16.0}",
        "low: 2.0",
        "`units` takes low: 2.0, which does not fit where it goes",
    ),
    "a when that names nothing": (
        "opt: {type: choice, path: training.optimizer, choices: [{type: Adam}, {type: SGD}]}\n"
        "momentum: {type: float, path: training.optimizer.momentum, low: 0.0, high: 0.9,\n  when: {optimiser: SGD}}",
        "when: {optimiser: SGD}",
        "`momentum` depends on `optimiser`, which is not a parameter.",
    ),
    "a when with a value that is not a choice": (
        "opt: {type: choice, path: training.optimizer, choices: [{type: Adam}, {type: SGD}]}\n"
        "momentum: {type: float, path: training.optimizer.momentum, low: 0.0, high: 0.9,\n  when: {opt: RMSprop}}",
        "when: {opt: RMSprop}",
        "`momentum` exists when `opt` is 'RMSprop', which is not one of its choices",
    ),
    "a when on a later parameter": (
        "momentum: {type: float, path: training.optimizer.momentum, low: 0.0, high: 0.9,\n  when: {opt: SGD}}\n"
        "opt: {type: choice, path: training.optimizer, choices: [{type: Adam}, {type: SGD}]}",
        "when: {opt: SGD}",
        "which is declared after it",
    ),
    "two parameters on one path": (
        "a: {type: int, path: model.layers.0.filters, low: 4, high: 8}\nb: {type: int,\n  path: model.layers.0.filters, low: 8, high: 16}",
        "path: model.layers.0.filters, low: 8",
        "`b` and `a` both set `model.layers.0.filters`",
    ),
    "a grid over a float without a step": (
        "rate:\n  {type: float, path: model.layers.2.rate, low: 0.1, high: 0.5}",
        "{type: float, path: model.layers.2.rate",
        "The grid sampler needs every value of `rate`",
    ),
    "the same choice twice": (
        "act: {type: choice, path: model.layers.3.activation, choices: [softmax,\n  softmax]}",
        "  softmax]}",
        "`act` lists the same choice twice",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_a_bad_space_gets_a_located_error(case: str) -> None:
    params, at, message = BAD[case]
    extra = {"sampler": "grid"} if "grid" in case else {}
    text = spec_with(params, **extra)
    report = kspec.check(text)
    errors = [d for d in report.errors if d.code == "tuning"]
    assert errors, [(d.code, d.message) for d in report.diagnostics]
    d = errors[0]
    assert message in d.message, d.message
    assert d.span is not None and d.span.line == line_of(text, at), (d.span, d.message)


def test_a_validation_objective_needs_validation_data() -> None:
    text = spec_with("w: {type: int, path: model.layers.0.filters, low: 4, high: 8}").replace(
        "  validation_split: 0.2\n", ""
    )
    d = only(kspec.check(text), "tuning")
    assert d.path == ("tuning", "objective", "metric")
    assert "measured on validation data, but training has none" in d.message


def test_the_tuning_section_itself_is_checked_like_the_rest() -> None:
    text = spec_with("w: {type: int, path: model.layers.0.filters, low: 4, hihg: 8}")
    report = kspec.check(text)
    assert [d.code for d in report.errors] == ["unknown-key"]  # the typo of a missing key: one diagnostic
    unknown = only(report, "unknown-key")
    assert unknown.span is not None and unknown.span.line == line_of(text, "hihg")
    assert "high" in (unknown.hint or "")


def test_the_base_spec_must_be_valid_on_its_own() -> None:
    text = spec_with("w: {type: int, path: model.layers.0.filters, low: 4, high: 8}").replace("units: 10", "units: 0")
    report = kspec.check(text)
    assert [d.code for d in report.errors] == ["value"]  # the space is not checked over a broken spec


# ---- points: what is checked --------------------------------------------------------------------------------


def tuning_of(params: str) -> Tuning:
    report = kspec.check(spec_with(params))
    assert report.spec is not None and report.spec.tuning is not None, report.diagnostics
    return report.spec.tuning


def test_a_small_discrete_space_is_enumerated_whole_with_inactive_parameters_dropped() -> None:
    tuning = tuning_of(
        "opt: {type: choice, path: training.optimizer, choices: [{type: Adam}, {type: SGD}]}\n"
        "nesterov: {type: choice, path: training.optimizer.nesterov, choices: [true, false], when: {opt: SGD}}\n"
        "depth: {type: int, path: model.layers.0.repeat, low: 1, high: 3}"
    )
    points, whole = space.points(tuning, seed=0)
    assert whole
    # Adam: 3 depths; SGD: 2 nesterov x 3 depths
    assert len(points) == 9
    assert sum("nesterov" not in p for p in points) == 3


def test_a_continuous_space_is_checked_at_its_corners_and_a_seeded_sample() -> None:
    tuning = tuning_of(
        "rate: {type: float, path: model.layers.2.rate, low: 0.1, high: 0.5}\n"
        "lr: {type: float, path: training.optimizer.learning_rate, low: 0.0001, high: 0.1, log: true}"
    )
    points, whole = space.points(tuning, seed=3)
    assert not whole
    corners = [p for p in points if p["rate"] in (0.1, 0.5) and p["lr"] in (0.0001, 0.1)]
    assert len(corners) == 4
    assert len(points) == 4 + space.SAMPLE
    assert all(0.1 <= p["rate"] <= 0.5 and 0.0001 <= p["lr"] <= 0.1 for p in points)
    assert space.points(tuning, seed=3) == (points, whole)  # the same seed, the same sample


def test_values_are_set_in_declaration_order_inside_what_a_choice_set() -> None:
    tuning = tuning_of(
        "opt: {type: choice, path: training.optimizer, choices: [{type: Adam}, {type: SGD, momentum: 0.5}]}\n"
        "lr: {type: float, path: training.optimizer.learning_rate, low: 0.001, high: 0.1}\n"
        "units: {type: int, path: [model.layers.3.units], low: 10, high: 12}"
    )
    data = kspec.load.load_text(spec_with("x: {type: int, path: a, low: 1, high: 2}")).data
    out, missing = space.apply(data, tuning, {"opt": 1, "lr": 0.01, "units": 12})
    assert not missing and "tuning" not in out
    assert out["training"]["optimizer"] == {"type": "SGD", "momentum": 0.5, "learning_rate": 0.01}
    assert out["model"]["layers"][3]["units"] == 12
    assert data["training"]["optimizer"] == {"type": "Adam", "learning_rate": 0.001}  # the spec's data is untouched


def test_a_mapping_choice_matches_when_by_its_type() -> None:
    assert space.matches({"type": "SGD", "momentum": 0.9}, ["SGD"])
    assert not space.matches({"type": "Adam"}, ["SGD"])
    assert space.matches(True, [True]) and not space.matches(1, [True])  # true is not 1


def test_the_schema_describes_the_tuning_section() -> None:
    schema = kspec.json_schema()
    assert "tuning" in schema["properties"]
    text = json.dumps(schema)
    for word in ("successive_halving", "hyperband", "median", "tpe", "grid"):
        assert f'"{word}"' in text


# ---- a property: the verdict on a space is the verdict on its points --------------------------------------

from hypothesis import given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@st.composite
def spaces(draw) -> str:
    """Spaces over BASE's depth, width, kernel size, pool size and dropout: ranges that may be empty, reach
    invalid models or values the field refuses."""
    lines = []
    if draw(st.booleans()):
        low = draw(st.integers(0, 6))
        lines.append(f"depth: {{type: int, path: model.layers.0.repeat, low: {low}, high: {low + draw(st.integers(-1, 4))}}}")
    if draw(st.booleans()):
        low = draw(st.integers(1, 64))
        log = draw(st.booleans())
        lines.append(f"width: {{type: int, path: model.layers.0.filters, low: {low}, high: {low * 4}, log: {str(log).lower()}}}")
    if draw(st.booleans()):
        kernels = draw(st.lists(st.sampled_from([1, 2, 3, 5, 9, 11]), min_size=1, max_size=3, unique=True))
        lines.append(f"kernel: {{type: choice, path: blocks.conv_pool.layers.0.kernel_size, choices: {kernels}}}")
    if draw(st.booleans()):
        pools = draw(st.lists(st.sampled_from([1, 2, 3, 4, 8]), min_size=1, max_size=3, unique=True))
        lines.append(f"pool: {{type: choice, path: blocks.conv_pool.layers.1.pool_size, choices: {pools}}}")
    if draw(st.booleans()) or not lines:
        high = draw(st.sampled_from([0.5, 0.9, 1.0, 1.5]))
        lines.append(f"dropout: {{type: float, path: model.layers.2.rate, low: 0.0, high: {high}}}")
    return spec_with("\n".join(lines))


@given(spaces())
def test_the_verdict_on_a_space_is_the_verdict_on_its_points(text: str) -> None:
    report = kspec.check(text)
    codes = [d.code for d in report.diagnostics]
    assert all(d.path[:1] == ("tuning",) and d.span is not None for d in report.diagnostics), report.diagnostics
    tuning = report.spec.tuning
    if space.check_params(tuning):
        assert [c for c in codes if c != "tuning"] == []  # a parameter that cannot work: no point is checked
        return
    data = kspec.load.load_text(text).data
    pts, _ = space.points(tuning, seed=0)
    valid = [p for p in pts if space.check_point(data, tuning, p, lambda d: kspec.check(d).diagnostics).ok]
    # no valid point: an error that says so; some: a warning or a located error for each failure; all: nothing
    assert ("tuning-empty" in codes) == (not valid)
    if valid and len(valid) < len(pts):
        assert "tuning-region" in codes or "tuning" in codes
    if len(valid) == len(pts):
        assert codes == []
