"""The strategies cover the language: drawn specs use every layer type, activation, optimizer, learning-rate
schedule, loss and metric that the schema allows, and (being valid by construction) never get a structural
error. A new layer type or loss without a generator for it fails here."""

from __future__ import annotations

import time
from collections import Counter

from hypothesis import HealthCheck, Phase, find, given, note, settings
from hypothesis import strategies as st

import kspec
from kspec.spec.layers import LAYER_CLASSES
from kspec.spec.objects import ACTIVATIONS, INITIALIZER_NAMES
from kspec.spec.training import LOSS_ALIASES, LOSS_CLASS_KIND, LOSSES, METRIC_NAMES, OPTIMIZER_NAMES
from tests.draws import DRAWERS, extra_run
from tests.stats import record
from tests.strategies import (
    IMAGE_TYPES,
    KINDS,
    METRIC_CLASSES,
    OPTIMIZER_CLASSES,
    SCHEDULES,
    _arguments_at_bounds,
    _concatenate,
    _Graph,
    argument_fields,
    drawn_kinds,
    graph_specs,
    image_layer,
    image_specs,
    layer_classes,
    object_choices,
    object_type_name,
    optimizer_at_bound,
    optimizer_bounds,
    optimizers,
    pass_through_end,
    pass_through_types,
    sequence_specs,
    valid_specs,
    with_argument_objects,
)

STRUCTURAL = {"unknown-key", "missing-key", "type", "unknown-layer", "duplicate-name", "undefined-node",
              "unused-node", "cycle", "arity", "form", "not-a-mapping"}


def _walk(value, seen: Counter) -> None:
    """Counts every `type` and every `activation` / loss / metric / optimizer name in a spec."""
    if isinstance(value, dict):
        if isinstance(value.get("type"), str):
            seen["type:" + value["type"]] += 1
        if isinstance(value.get("activation"), str):
            seen["activation:" + value["activation"]] += 1
        for v in value.values():
            _walk(v, seen)
    elif isinstance(value, list):
        for v in value:
            _walk(v, seen)


def _names(training: dict, seen: Counter) -> None:
    if isinstance(training["optimizer"], str):
        seen["optimizer:" + training["optimizer"]] += 1
    loss = training["loss"]
    for one in (loss.values() if isinstance(loss, dict) and "type" not in loss else [loss]):
        if isinstance(one, str):
            seen["loss:" + one] += 1
    metrics = training.get("metrics", [])
    for group in (metrics.values() if isinstance(metrics, dict) else [metrics]):
        for m in group:
            if isinstance(m, str):
                seen["metric:" + m] += 1


def test_valid_specs_cover_the_language() -> None:
    seen: Counter = Counter()
    structural: list = []

    @settings(max_examples=2000, derandomize=True, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(valid_specs())
    def draw(spec):
        _walk(spec["model"], seen)
        _walk(spec["training"], seen)
        _names(spec["training"], seen)
        report = kspec.check(spec)
        structural.extend(f"{d.code}: {d.message}" for d in report.errors if d.code in STRUCTURAL or report.spec is None)

    start = time.perf_counter()
    draw()
    record("strategies: valid specs drawn and checked", 2000, time.perf_counter() - start)
    assert structural == []
    expected = (
        {"type:" + cls.type_name() for cls in LAYER_CLASSES}
        | {"activation:" + a for a in ACTIVATIONS}
        | {"optimizer:" + o for o in OPTIMIZER_NAMES} | {"type:" + o for o in OPTIMIZER_CLASSES}
        | {"type:" + s for s in SCHEDULES}
        | {"loss:" + name for name in [*LOSSES, *LOSS_ALIASES]} | {"type:" + c for c in LOSS_CLASS_KIND}
        | {"metric:" + m for m in METRIC_NAMES} | {"type:" + m for m in METRIC_CLASSES}
    )
    # The family drawers (tests/draws/) take part in every family above, each one now and then; each is also drawn
    # on its own here, so that every type it draws is seen without 2,000 whole specs for each.
    seen.update(_family_types())
    assert sorted(expected - set(seen) - STRING_ONLY) == []


def _family_types() -> Counter:
    """Every type the family drawers draw, each drawer run on tracked shapes of every rank it takes."""
    seen: Counter = Counter()
    shapes = [(8,), (6, 4), (None, 4), (12, 10, 3), (9, 9, 1), (6, 6, 4, 2)]  # vectors, sequences, images, volumes
    for drawer in DRAWERS:  # each drawer on its own: a new drawer does not change what the others draw here
        fitting = [s for s in shapes if len(s) in drawer.ranks and not (drawer.known and None in s)]
        if fitting:
            _draw_each(drawer, fitting, seen)
    # the image layers of valid_specs, each type on its own (a rare one need not wait for 2,000 whole specs)
    for t in sorted(set(IMAGE_TYPES) - {"Volume", "Extra"}):
        _draw_image_type(t, seen)
    return seen


def _draw_image_type(t: str, seen: Counter) -> None:
    @settings(max_examples=5, derandomize=True, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def draw(data):
        layer, _ = data.draw(image_layer((12, 10, 3), only=t))
        _walk(layer, seen)

    draw()


def _draw_each(drawer, shapes: list, seen: Counter) -> None:
    @settings(max_examples=30 * len(drawer.types), derandomize=True, database=None, phases=[Phase.generate],
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(shapes), st.data())
    def draw(shape, data):
        layers, _ = data.draw(st.composite(lambda d: drawer.fn(d, shape))())
        for layer in layers:
            _walk(layer, seen)

    draw()


#: Layer types that take string tensors only: the families above have numeric inputs, so these are drawn by the
#: string-input property of tests/test_text_models.py.
STRING_ONLY = {"type:TextVectorization", "type:StringLookup", "type:HashedCrossing"}


# ---- the tracked shapes of a Concatenate -----------------------------------------------------------


def _simplest(strategy: st.SearchStrategy):
    """The simplest value of `strategy`, what Hypothesis shrinks to (the first of a `sampled_from`, the
    lower bound of `integers`, so `chance` is False): a `draw` that makes the same choices on every run."""
    return find(strategy, lambda _: True, settings=settings(database=None, derandomize=True, max_examples=10))


def test_concatenate_along_an_unknown_length() -> None:
    """Regression (found by test_schema_exact.py::test_mutated_documents[list item] on a fresh clone):
    the generator crashed on a Concatenate whose inputs have an unknown length (None) on the
    concatenation axis, `TypeError: unsupported operand type(s) for +: 'int' and 'NoneType'`, where
    Keras gives the concatenated axis the length None. The graph below is the one graph_specs had
    built when it crashed (a RepeatVector of a sequence, pooled by GlobalAveragePooling1D: features
    of unknown width, (None,)); every later choice is the simplest one, as in the crash:
    `n3` concatenated with itself along its only axis."""
    g = _Graph(_simplest)
    g.add_input((2, 1))
    g.add({"type": "Dense", "units": 2}, ["in0"], (2, 2), shareable=True)
    g.nodes.append({"name": "n1", "shares": "n0", "inputs": "in0"})
    g.shapes["n1"] = (2, 2)
    g.uses.update(["in0"])
    g.add({"type": "RepeatVector", "n": 1}, ["in0"], (1, 2, 1))
    g.add({"type": "GlobalAveragePooling1D"}, ["n2"], (None,))
    g.add({"type": "Dense", "units": 1}, ["n0"], (2, 1), shareable=True)

    name = _concatenate(g, "n3")

    assert g.nodes[-1] == {"type": "Concatenate", "name": "n5", "inputs": ["n3", "n3"]}
    assert g.shapes[name] == (None,)


def test_concatenate_of_known_and_unknown_lengths() -> None:
    """A known length (3) and an unknown one (an input of shape [4, null]) on the last axis concatenate
    to an unknown one; the other axes are kept."""
    g = _Graph(_simplest)
    g.add_input((4, 3))
    g.add_input((4, None))
    g.uses.update(["in0"])  # so that the unused input, of unknown width, is the partner

    name = _concatenate(g, "in0")

    assert g.nodes[-1] == {"type": "Concatenate", "name": "n0", "inputs": ["in0", "in1"]}
    assert g.shapes[name] == (4, None)


DIMS = st.sampled_from([None, 1, 2, 3])


def test_concatenate_tracks_the_shape_keras_gives() -> None:
    """On tensors with unknown lengths (None) anywhere, on either concatenation axis: the Concatenate
    the generator draws never crashes it, and where Keras takes the inputs, the tracked shape of the
    result is the shape Keras gives it (inputs Keras refuses are drawn on purpose, as near misses;
    most are ones it takes)."""
    import keras

    counts = {"taken by Keras": 0, "refused by Keras": 0}

    @settings(deadline=None)
    @given(st.data())
    def prop(data: st.DataObject) -> None:
        g = _Graph(data.draw)
        rank = data.draw(st.integers(1, 3), label="rank")
        base = data.draw(st.tuples(*[DIMS] * rank), label="base shape")
        for _ in range(data.draw(st.integers(1, 4), label="tensors")):
            shape = list(base)
            for pos in sorted({0, rank - 1}):  # the positions of the concatenation axes 1 and -1
                if data.draw(st.booleans()):
                    shape[pos] = data.draw(DIMS)
            g.add_input(tuple(shape))
        if data.draw(st.booleans()):
            g.add_input(data.draw(st.lists(DIMS, min_size=1, max_size=3).map(tuple), label="another rank"))
        a = data.draw(st.sampled_from(sorted(g.shapes)), label="first input")

        name = _concatenate(g, a)

        node = g.nodes[-1]
        shapes = [g.shapes[i] for i in node["inputs"]]
        note(f"{node} on {shapes}, tracked as {g.shapes[name]}")
        try:
            result = keras.layers.Concatenate(axis=node.get("axis", -1))([keras.Input(s) for s in shapes])
        except ValueError:
            counts["refused by Keras"] += 1
            return
        counts["taken by Keras"] += 1
        assert g.shapes[name] == tuple(result.shape[1:])

    prop()
    assert counts["taken by Keras"] >= counts["refused by Keras"], counts


# ---- the rarer classes: argument objects, shared outputs, pass-through ends, optimizer bounds ---------


def _draws(strategy, n: int, seen) -> None:
    """`seen(value)` for n derandomized draws of `strategy` (generation only)."""

    @settings(max_examples=n, derandomize=True, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def draw(value):
        seen(value)

    draw()


def test_the_rarer_classes_are_drawn() -> None:
    """Each family draws the classes of specs that an independent generator found kspec wrong on, at a rate
    that a run of the properties sees: layers with argument objects, outputs behind layers that pass values on,
    optimizer arguments at their bounds, and (graphs) a shared call among the outputs; and no more than that
    (most specs keep Keras's defaults: most of them are accepted)."""
    n = 300
    for family, strategy, kinds in [
        ("image", image_specs(), set(KINDS) - {"shared node as output"}),
        ("sequence", sequence_specs(), set(KINDS) - {"shared node as output"}),
        ("graph", graph_specs(), set(KINDS)),
    ]:
        counts: Counter = Counter()
        _draws(strategy, n, lambda spec, counts=counts: counts.update(drawn_kinds(spec)))
        assert set(counts) == kinds, (family, counts)
        for kind in kinds:
            low = 0.06 if kind == "with argument objects" else 0.02
            assert low * n <= counts[kind] <= 0.6 * n, (family, kind, dict(counts), n)


def _validate(annotation, value) -> None:
    from pydantic import TypeAdapter

    TypeAdapter(annotation).validate_python(value)


def test_argument_objects_cover_every_field_and_object() -> None:
    """`with_argument_objects`, from the field names of each layer class: every argument-object field of every
    layer type gets objects, every initializer, regularizer and constraint (by name, and each class with each of
    its arguments: a norm's axis from -4 to 4, both OrthogonalRegularizer modes) is drawn, and each parses."""
    types = sorted(t for t in layer_classes() if argument_fields(t))
    fields, objects, arguments, axes, modes = set(), set(), set(), set(), set()

    @settings(max_examples=40, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def prop(data):
        for t in types:
            layer = with_argument_objects(data.draw, {"type": t}, percent=50)
            for field, value in layer.items():
                if field == "type":
                    continue
                fields.add((t, field))
                _validate(layer_classes()[t].model_fields[field].annotation, value)
                if isinstance(value, str):
                    objects.add(value)
                    continue
                objects.add(value["type"])
                arguments.update((value["type"], k) for k in value if k != "type")
                if "axis" in value:
                    axes.add(value["axis"])
                if value["type"] == "OrthogonalRegularizer":
                    modes.add(value.get("mode", "rows"))

    prop()
    assert {"Dense", "Conv1D", "Conv2D", "LSTM", "GRU", "SimpleRNN", "Embedding", "PReLU", "BatchNormalization",
            "LayerNormalization", "MultiHeadAttention", "SeparableConv2D", "DepthwiseConv1D"} <= set(types)
    assert sorted({(t, f) for t in types for f in argument_fields(t)} - fields) == []
    assert {"moving_mean_initializer", "moving_variance_initializer", "activity_regularizer", "alpha_constraint",
            "embeddings_regularizer", "pointwise_initializer", "recurrent_constraint"} <= {f for _, f in fields}
    expected = set(INITIALIZER_NAMES) | {"l1", "l2", "max_norm", "min_max_norm", "non_neg", "unit_norm"}
    classes = [c for t in types for f in argument_fields(t) for c in object_choices(t, f) if isinstance(c, type)]
    expected |= {object_type_name(c) for c in classes}
    assert {"Constant", "VarianceScaling", "Orthogonal", "LecunNormal", "L1", "L2", "L1L2", "OrthogonalRegularizer",
            "MaxNorm", "MinMaxNorm", "UnitNorm", "NonNeg"} <= expected
    assert sorted(expected - objects) == []
    every_argument = {(object_type_name(c), k) for c in classes for k in c.model_fields if k != "type"}
    assert sorted(every_argument - arguments) == []
    assert axes == set(range(-4, 5)) and modes == {"rows", "columns"}


def test_optimizer_arguments_at_their_bounds() -> None:
    """`optimizer_bounds` reads each optimizer argument's bounds from the schema and keeps what kspec parses: Lion's
    beta_1 of 1 (Keras's bound, refused by a policy as it is parsed) is left out; its tiny value is in. Every
    argument of the table is drawn, by `optimizers` too, and each drawn configuration parses."""
    from kspec.spec.training import Training

    table = optimizer_bounds()
    assert set(table) == set(OPTIMIZER_CLASSES)
    assert table["Lion"]["beta_1"] == (1e-10, 1 - 1e-6)
    assert {0.0, 1 - 1e-6} <= set(table["Adam"]["beta_1"]) and {0.0, 1 - 1e-6} <= set(table["Adam"]["beta_2"])
    assert {0.0, 1.0} <= set(table["SGD"]["momentum"]) and {0.0, 1.0} <= set(table["Nadam"]["ema_momentum"])
    assert table["Adam"]["epsilon"] == (1e-10,) and table["RMSprop"]["clipnorm"] == (1e-10,)
    assert 0.0 in table["Ftrl"]["learning_rate_power"] and 0.0 in table["Ftrl"]["initial_accumulator_value"]
    assert 0.0 in table["Adagrad"]["initial_accumulator_value"]
    assert all("learning_rate" not in fields for fields in table.values())

    drawn: set = set()
    ema: Counter = Counter()

    @settings(max_examples=60, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def prop(data):
        for kind in OPTIMIZER_CLASSES:
            for config in ({"type": kind}, {"type": kind, "clipvalue": 0.5}):  # a clip set already: no second one
                _arguments_at_bounds(data.draw, config)
                assert optimizer_at_bound(config) or set(config) == {"type", "clipvalue"}, config
                drawn.update((kind, k) for k in config if config[k] in table[kind].get(k, ()))
                ema[config.get("use_ema", False)] += "ema_momentum" in config
                Training.model_validate({"optimizer": config, "loss": "mse"})  # one clip at most, every value parses

    prop()
    assert sorted({(kind, f) for kind, fields in table.items() for f in fields} - drawn) == []
    assert ema[True] > ema[False] > 0

    configs: list = []
    _draws(optimizers(), 400, configs.append)
    at_bound = [c for c in configs if optimizer_at_bound(c)]
    assert 0.08 * len(configs) <= len(at_bound) <= 0.4 * len(configs), len(at_bound)


DIMS_OR_NONE = st.sampled_from([None, 1, 2, 3, 4])


def test_pass_through_ends_track_the_shape_keras_gives() -> None:
    """The layers `pass_through_end` puts after a head of shape (u,) or (T, u), T unknown now and then: Keras
    builds them on that shape, and gives the shape they track."""
    import keras

    @settings(max_examples=100, derandomize=True, database=None, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.data())
    def prop(data):
        u = data.draw(st.integers(1, 4))
        shape = (u,) if data.draw(st.booleans()) else (data.draw(DIMS_OR_NONE), u)
        layers, out = data.draw(pass_through_end(shape))
        note(f"{layers} on {shape}, tracked as {out}")
        assert all(layer["type"] in pass_through_types() or layer["type"] == "Reshape" for layer in layers)
        x = keras.Input(shape)
        y = x
        for layer in layers:
            args = {k: v for k, v in layer.items() if k != "type"}
            y = getattr(keras.layers, layer["type"])(**args)(y)
        assert tuple(y.shape[1:]) == out

    prop()
