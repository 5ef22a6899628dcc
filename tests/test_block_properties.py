"""Blocks are pure notation: a valid spec with a run of its layers moved into a parameterised block
(integer arguments turned into `${...}` parameters, the block used once or with `repeat`) checks to
the same layer calls, shapes and parameter counts, dumps and loads back equal, and builds in Keras
(whose shapes and parameter counts `build_model` asserts against the inference).

The specs come from the whole-spec strategies (tests/strategies.py); the block version is made from
each by construction, never by filtering.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import HealthCheck, assume, given, note, settings
from hypothesis import strategies as st

import kspec

from .strategies import image_specs, sequence_specs
from .test_schema_exact import _locations

_SKIP_KEYS = {"type", "name", "inputs", "seed"}


@st.composite
def sequential_specs(draw) -> dict:
    spec = draw(st.one_of(image_specs(), sequence_specs()))
    if "layers" not in spec["model"]:  # sequence_specs also draws graph-form models
        spec = draw(image_specs())
    return spec


@st.composite
def with_a_block(draw, spec: dict) -> tuple[dict, int, int]:
    """`spec` with layers [i, j) moved into block `b`; each top-level integer argument of those layers
    becomes a parameter `p<k>` (given at the use, or as the parameter's default)."""
    layers = spec["model"]["layers"]
    i = draw(st.integers(0, len(layers) - 1))
    j = draw(st.integers(i + 1, len(layers)))
    params: dict[str, Any] = {}
    arguments: dict[str, Any] = {}
    body = []
    for layer in copy.deepcopy(layers[i:j]):
        for key, value in list(layer.items()):
            if key in _SKIP_KEYS or not isinstance(value, int) or isinstance(value, bool):
                continue
            name = f"p{len(params)}"
            layer[key] = f"${{{name}}}" if draw(st.booleans()) else f"${{{name} * 2 - {name}}}"
            if draw(st.booleans()):
                params[name] = "int"
                arguments[name] = value
            else:
                params[name] = {"type": "int", "default": value}
        body.append(layer)
    use: dict[str, Any] = {"block": "b", **arguments}
    if draw(st.booleans()):
        use["name"] = "blk"
    out = copy.deepcopy(spec)
    out["blocks"] = {"b": {"params": params, "layers": body}}
    out["model"]["layers"] = layers[:i] + [use] + layers[j:]
    return out, i, j


def calls(report) -> list[tuple]:
    return [(n.layer_type, n.output.shape, n.params, n.non_trainable) for n in report.inference.nodes]


@settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_a_run_of_layers_as_a_block_checks_the_same(data) -> None:
    spec = data.draw(sequential_specs())
    plain = kspec.check(spec)
    if not plain.ok:  # a spec refused by a documented policy: its block version must be refused alike
        blocked, _, _ = data.draw(with_a_block(spec))
        again = kspec.check(blocked)
        assert not again.ok
        assert sorted(d.code for d in again.errors) == sorted(d.code for d in plain.errors)
        return
    blocked, i, j = data.draw(with_a_block(spec))
    note(f"block of layers [{i}, {j})")
    report = kspec.check(blocked)
    assert report.ok, [d.to_json() for d in report.diagnostics]
    assert calls(report) == calls(plain)
    assert report.param_count == plain.param_count
    assert report.inference.sequential  # a chain stays keras.Sequential
    prefix = blocked["model"]["layers"][i].get("name", "b")
    assert all(n.name.startswith(prefix + "_") for n in report.inference.nodes[i:j])
    # Round trip: the dumped spec (blocks and all) loads back equal.
    assert kspec.check(kspec.dump_spec(report.spec)).spec == report.spec


@settings(max_examples=40, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_a_repeated_shape_preserving_block(data) -> None:
    """A block of layers that keep the shape (same-padded convolutions, normalisation, activation), repeated
    with an `index`-dependent argument: the expansion is the written-out repetition."""
    h, w, c = data.draw(st.integers(2, 12)), data.draw(st.integers(2, 12)), data.draw(st.integers(1, 4))
    repeat = data.draw(st.integers(0, 4))
    k = data.draw(st.sampled_from([1, 3]))
    body = [
        {"type": "Conv2D", "filters": "${c}", "kernel_size": "${k + 2 * (index_ % 2) if k > 1 else 1}", "padding": "same"},
        {"type": "BatchNormalization"},
        {"type": "Activation", "activation": "relu"},
    ]
    spec = {
        "kspec": 1,
        "name": "rep",
        "blocks": {"unit": {"params": {"c": "int", "k": "int", "index_": "int"}, "layers": body}},
        "model": {
            "input": {"shape": [h, w, c]},
            "layers": [{"block": "unit", "repeat": repeat, "c": c, "k": k, "index_": "${index}"}, {"type": "Flatten"}, {"type": "Dense", "units": 1}],
        },
        "training": {"loss": "mse"},
    }
    report = kspec.check(spec)
    assert report.ok, [d.to_json() for d in report.diagnostics]
    written = []
    for r in range(repeat):
        kernel = k + 2 * (r % 2) if k > 1 else 1
        prefix = "unit" if repeat == 1 else f"unit{r + 1}"  # repetitions are numbered when there are several
        written += [
            {"type": "Conv2D", "filters": c, "kernel_size": kernel, "padding": "same", "name": f"{prefix}_conv2d"},
            {"type": "BatchNormalization", "name": f"{prefix}_batch_normalization"},
            {"type": "Activation", "activation": "relu", "name": f"{prefix}_activation"},
        ]
    flat = {**spec, "model": {"input": spec["model"]["input"], "layers": written + spec["model"]["layers"][1:]}}
    flat.pop("blocks")
    expected = kspec.check(flat)
    assert expected.ok
    assert [(n.name,) + c_ for n, c_ in zip(report.inference.nodes, calls(report))] == [
        (n.name,) + c_ for n, c_ in zip(expected.inference.nodes, calls(expected))
    ]


@settings(max_examples=8, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large], deadline=None)
@given(st.data())
def test_block_specs_build_in_keras(data) -> None:
    """Keras is the oracle: the expanded model builds, and `build_model` asserts that every layer call's
    shape and parameter counts equal the inference (KspecBug otherwise)."""
    spec = data.draw(sequential_specs())
    assume(kspec.check(spec).ok)  # refusals: the first property checks that blocks refuse them alike
    blocked, _, _ = data.draw(with_a_block(spec))
    report = kspec.check(blocked)
    assert report.ok, [d.to_json() for d in report.diagnostics]
    model = kspec.build_model(report.spec)
    assert model.count_params() == report.param_count


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["${filters}", "${index}", "${2 ** 64}", "${x.y}", "${", "${1/0}", "conv_bn", "x", "out", "1", "a.b", "${[1, 2]}"])
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(["block", "name", "inputs", "repeat", "type", "filters", "layers", "nodes", "params", "default"]), inner, max_size=3),
    max_leaves=6,
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.data())
def test_mutated_block_specs_give_diagnostics_never_a_crash(data) -> None:
    """Any one value of specs/resnet50.yaml or specs/unet.yaml replaced (or a key dropped): the checker
    returns diagnostics with a place, never raises."""
    import yaml
    from pathlib import Path

    root = Path(__file__).parent.parent / "specs"
    doc = yaml.safe_load((root / data.draw(st.sampled_from(["resnet50.yaml", "unet.yaml"]))).read_text())
    where = data.draw(st.sampled_from([p for p in _locations(doc) if p and p[0] in ("blocks", "model")]))
    parent = doc
    for key in where[:-1]:
        parent = parent[key]
    if data.draw(st.booleans()) and isinstance(parent, dict):
        del parent[where[-1]]
    else:
        parent[where[-1]] = data.draw(_JSON)
    report = kspec.check(doc)
    for d in report.diagnostics:
        assert d.message and d.code
        if d.severity == "error":
            assert d.path or d.code in ("not-a-mapping",), d
    if report.ok:
        assert report.param_count is not None
