"""`kspec import`: a Keras model as a kspec spec (`import_model`), and the spec as readable text (`spec_text`).

The importer reads the model's configuration as plain JSON data: `model.to_json()` for a model in
memory, the text of a `.json` file, or the `config.json` member of a `.keras` archive (a zip file).
Nothing in a model file is deserialised: no Keras object is created from it, so no code it holds
(a Lambda's bytecode, a custom class) can run, which is stricter than Keras's `safe_mode=True`, and
a file is imported without building its model. Only layer classes of kspec's closed set
(`keras.layers` classes, not registered or custom ones; the few classes Keras defines in `keras.applications`,
from their own modules) and the Operations of its operation types (the nodes `x + 3.0`, `x[:, 0]` and `keras.ops`
calls make: `Add` becomes `{type: ops.add, x2: 3.0}`) are mapped; everything else is reported, once: a subclassed
model nested as a layer as a nested model, an Operation kspec lacks as an operation.

- **Nested models** (a keras.Sequential or Functional model called as a layer) are inlined: their layers take their
  place in the graph (an inner name the outer graph has becomes `<model>_<name>`); a model called on several inputs
  gives its layers as many calls, so the later calls are `shares:` nodes of the first (`_inline_models`).
- **Sequential form** for `keras.Sequential` and for a Functional model that is a plain chain (one
  input, one output, each layer called once on the previous layer's output, feeding only the next);
  **graph form** otherwise, with `shares:` nodes for the second and later calls of a layer.
- Every problem is collected before anything is returned: layers that are not kspec layer types
  (with their names and classes), arguments kspec cannot express (layer, argument and value), and
  what `kspec.check` refuses in the result. `UnsupportedModel` lists them all; there is no partial spec.
- Values equal to kspec's defaults are left out; initializers, regularizers and constraints are
  written by name when their configuration is the one the name builds, else as `{type: ..., ...}`.
- The `training` section is a placeholder (the model file has no training set-up kspec can use):
  adam; per output, sparse categorical crossentropy after a softmax, binary crossentropy after a sigmoid
  (both with accuracy), else mean squared error.
- What Keras writes of its own accord is not an argument of the model: the masks it propagates (`mask=`
  arguments, and the NotEqual/LogicalOr operations computing them), `training=False` on calls, the backward
  layer Bidirectional makes, the `zero_output_for_mask` it sets; the rebuilt layers do the same again.

Keras is imported only to serialise a model given in memory and to read the defaults of Keras
constructor arguments that kspec does not model (an argument at its Keras default is dropped;
anything else is an unsupported argument).
"""

from __future__ import annotations

import functools
import inspect
import json
import os
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any

from .diagnostics import format_path
from .naming import object_alias
from .spec import Spec
from .spec.base import KspecModel
from .spec.layers import BUILTIN_LAYER_CLASSES, Layer, parse_layer
from .spec.layers.ops import KERAS_OPS, Op, key_text
from .text import cut

#: Keras layer class name -> kspec layer class (the built-in types; plugin layer types are not imported).
KERAS_LAYER_TYPES: dict[str, type[Layer]] = {
    cls.keras_class or cls.type_name(): cls for cls in BUILTIN_LAYER_CLASSES if not issubclass(cls, Op)
}
#: Model classes whose configuration kspec reads.
MODEL_CLASSES = ("Sequential", "Functional")

#: Layer-level keyword arguments of every Keras layer, with the value kspec builds every layer with.
_BASE_DEFAULTS: dict[str, Any] = {"trainable": True, "autocast": True, "activity_regularizer": None}
#: What Keras writes in a layer's configuration but computes from its other arguments (a lookup's vocabulary size:
#: its vocabulary and special tokens); kspec's layer computes it the same way.
_DERIVED = frozenset({("IntegerLookup", "vocabulary_size"), ("StringLookup", "vocabulary_size")})
#: Arguments that a Keras class takes through `**kwargs` (so its signature has no default), with that default.
_KWARGS_DEFAULTS: dict[tuple[str, str], Any] = {("LayerNormalization", "rms_scaling"): False}


class ImportFailed(Exception):
    """The model could not be imported."""


class ModelFileError(ImportFailed):
    """The model file cannot be read: missing, unreadable, not JSON, not a `.keras` archive (an I/O or usage error)."""


class UnsupportedModel(ImportFailed):
    """The model uses what kspec cannot express. `problems` lists every one, each naming the layer and argument."""

    def __init__(self, model_name: str | None, problems: list[str]):
        self.model_name = model_name
        self.problems = problems
        what = f"model '{model_name}'" if model_name else "the model"
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"Cannot import {what}: kspec cannot express {len(problems)} thing(s) in it:\n{lines}")


# ---- reading the configuration ---------------------------------------------------------------


def model_config(model: Any) -> dict:
    """The serialised model (`{"class_name", "config", ...}`) of a `keras.Model`, a path to a `.keras` or `.json`
    file, JSON text, or already loaded data. Raises `ModelFileError` when a file cannot be read."""
    if isinstance(model, dict):
        return model
    if isinstance(model, (str, os.PathLike)):
        text = os.fspath(model)
        if isinstance(model, str) and text.lstrip().startswith("{"):
            return _json(text, "the JSON text")
        return _read_file(text)
    if hasattr(model, "to_json") and hasattr(model, "layers"):
        try:
            return json.loads(model.to_json())
        except Exception as exc:  # noqa: BLE001 - Keras's own refusal to serialise (a subclassed model, ...)
            raise UnsupportedModel(getattr(model, "name", None), [f"Keras cannot serialise the model: {exc}"]) from None
    raise TypeError(
        "import_model expects a keras.Model, a path to a .keras or .json file, or JSON text. "
        f"Received: {type(model).__name__}"
    )


def _read_file(path: str) -> dict:
    try:
        if path.endswith(".keras") or zipfile.is_zipfile(path):
            try:
                with zipfile.ZipFile(path) as archive:
                    raw = archive.read("config.json")
            except zipfile.BadZipFile:
                raise ModelFileError(f"'{path}' is not a .keras archive (a zip file holding config.json).") from None
            except KeyError:
                raise ModelFileError(
                    f"'{path}' has no config.json: expected a .keras archive written by model.save()."
                ) from None
            return _json(raw.decode("utf-8", errors="replace"), f"config.json in '{path}'")
        with open(path, encoding="utf-8", errors="replace") as f:
            return _json(f.read(), f"'{path}'")
    except OSError as exc:
        raise ModelFileError(f"Cannot read '{path}': {exc.strerror or exc}.") from None


def _json(text: str, what: str) -> dict:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ModelFileError(
            f"{what[0].upper()}{what[1:]} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})."
        ) from None
    except RecursionError:
        raise ModelFileError(
            f"{what[0].upper()}{what[1:]} is nested too deeply to be a Keras model configuration."
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("config"), dict) or "class_name" not in data:
        raise ModelFileError(
            f"{what[0].upper()}{what[1:]} is not a serialised Keras model: expected an object with 'class_name' and "
            "'config' (what model.to_json() writes)."
        )
    return data


# ---- the conversion ----------------------------------------------------------------------------


@dataclass
class _Node:
    """One call of a layer in a Functional model."""

    name: str  # the node's name in the spec (the layer's name for its first call)
    layer: str  # the Keras layer's name
    index: int  # which call of the layer (Keras's node index)
    refs: list[tuple[str, int]]  # the (layer, node index) of each input tensor
    style: str  # "single", "list" or "positional"
    problem: str | None = None  # why a spec cannot write this call
    fields: dict[str, Any] = field(default_factory=dict)  # an operation's operands that are not tensors (x2: 3.0)


@dataclass
class _Converter:
    problems: list[str] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # Keras name -> kspec name
    _signature_cache: dict[str, dict[str, Any]] = field(default_factory=dict)

    # -- names --

    def name(self, keras_name: Any) -> str:
        """A valid, unique kspec Name for a Keras layer name (kept as it is when it already is one)."""
        keras_name = str(keras_name)
        if keras_name in self.names:
            return self.names[keras_name]
        name = _valid_name(keras_name)
        taken = set(self.names.values())
        base, n = name, 1
        while name in taken:
            name = f"{base}_{n}"
            n += 1
        self.names[keras_name] = name
        return name

    # -- layers --

    def layer(self, entry: Any, where: str | None = None, *, wrapped: bool = False) -> dict | None:
        """The kspec layer mapping of a serialised Keras layer (without `inputs`), or None after recording problems.

        A `wrapped` layer (the `layer` of Bidirectional or TimeDistributed) gets no name: kspec names it after its
        wrapper (Keras's Bidirectional renames it again, `forward_...`), so its Keras name is not kept.
        """
        if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
            self.problems.append(f"{where or 'A layer'}: not a serialised Keras layer")
            return None
        class_name = str(entry.get("class_name"))
        config = entry["config"]
        keras_name = config.get("name", entry.get("name", "?"))
        where = f"Layer '{keras_name}' ({class_name})"
        cls = KERAS_LAYER_TYPES.get(class_name)
        module = getattr(cls, "keras_module", "keras.layers")  # a keras.applications class: its own module
        custom = entry.get("registered_name") not in (None, class_name) or entry.get("module") not in (None, module)
        if class_name == "Lambda":
            self.problems.append(
                f"{where}: Lambda layers hold Python code; a spec cannot name code (use a kspec layer type)"
            )
            return None
        if _is_model(entry):  # one that `_inline_models` left: it cannot be inlined
            why = (
                "not inlined, as the Sequential model around it has no input shape"
                if class_name in MODEL_CLASSES
                else "a subclassed model (its call is Python code); kspec takes the layers of nested keras.Sequential "
                "and Functional models"
            )
            self.problems.append(f"Model '{keras_name}' ({class_name}), nested in the model as a layer: {why}")
            return None
        if _is_op(entry):
            return self.op(entry)
        if cls is None or custom:
            kind = (
                "a custom layer class"
                if custom or entry.get("module") is None
                else "a Keras layer that kspec does not support"
            )
            self.problems.append(f"{where}: {kind}, not one of kspec's layer types")
            return None
        out: dict[str, Any] = (
            {"type": cls.type_name()} if wrapped else {"type": cls.type_name(), "name": self.name(keras_name)}
        )
        fields = cls.model_fields
        count = len(self.problems)
        for key, value in config.items():
            if key == "name":
                continue
            if key == "dtype":
                if not _is_policy(value, cls.keras_dtype_policy):
                    self._argument(
                        where, key, value, f"kspec builds this layer with the {cls.keras_dtype_policy} dtype policy"
                    )
                continue
            if key in fields and key not in ("type", "name", "inputs"):
                out[key] = self.value(cls, key, value, where)
                continue
            if wrapped and key == "zero_output_for_mask" and value == config.get("return_sequences", False):
                continue  # what Bidirectional sets on the layers it wraps, whatever they were built with
            if (cls.keras_class or cls.type_name(), key) in _DERIVED:
                continue
            default = self._keras_default(cls, key)
            if default is _NO_DEFAULT or not _same(value, default):
                expected = "" if default is _NO_DEFAULT else f" (kspec builds it with {_show(default)})"
                self._argument(where, key, value, f"kspec does not offer this argument{expected}")
        if len(self.problems) > count:
            return None
        if out.get("backward_layer") is not None and out["backward_layer"] == _reversed(out.get("layer")):
            # Keras writes the backward layer it made itself (a copy of `layer` running backwards): kspec's default.
            del out["backward_layer"]
        return self._validated(out, where)

    def op(self, entry: dict) -> dict | None:
        """The kspec operation of a serialised `keras.ops` Operation, from its configuration (the operands of its
        call are added with the call, `_op_call`), or None after recording the problem."""
        class_name = str(entry.get("class_name"))
        config = entry["config"]
        keras_name = config.get("name", entry.get("name", "?"))
        where = f"Operation '{keras_name}' ({class_name})"
        cls = KERAS_OPS.get(class_name)
        if cls is None or entry.get("registered_name") not in (None, class_name):
            self.problems.append(
                f"{where}: a keras.ops operation that kspec does not offer (its operations: docs/language.md)"
            )
            return None
        out: dict[str, Any] = {"type": cls.type_name(), "name": self.name(keras_name)}
        count = len(self.problems)
        for key, value in config.items():
            if key == "name":
                continue
            if key in cls.keras_fixed and _same(value, cls.keras_fixed[key]):
                continue
            if key not in cls.model_fields or key in ("type", "name", "inputs") + cls.operand_fields:
                self._argument(where, key, value, "kspec does not offer this argument")
            elif value is None and cls.model_fields[key].is_required():
                self._argument(where, key, value, "kspec names the axes: Keras's default acts on the batch axis too")
            else:
                out[key] = value
        return out if len(self.problems) == count else None

    def _validated(self, out: dict, where: str) -> dict | None:
        from pydantic import ValidationError

        try:
            parse_layer(out)
        except ValidationError as exc:
            for error in exc.errors():
                loc = [p for p in error["loc"] if p != out["type"]]
                key = format_path(loc) if loc else "?"
                value = out.get(loc[0]) if loc and isinstance(loc[0], str) else error.get("input")
                self._argument(where, key, value, error["msg"])
            return None
        return out

    def _argument(self, where: str, key: str, value: Any, why: str) -> None:
        self.problems.append(f"{where}: argument {key}={_show(value)} is not supported: {why}")

    def value(self, cls: type[Layer], key: str, value: Any, where: str) -> Any:
        """A Keras configuration value in kspec's form."""
        if isinstance(value, dict) and "class_name" in value and "config" in value:
            if key.endswith("_initializer"):
                return self._object(value, key, where, _INITIALIZERS)
            if key.endswith("_regularizer"):
                return self._object(value, key, where, _REGULARIZERS)
            if key.endswith("_constraint"):
                return self._object(value, key, where, _CONSTRAINTS)
            if value.get("module") == "keras.layers" or key in ("layer", "backward_layer"):
                return self.layer(value, where, wrapped=True)
        if isinstance(value, list) and value and all(_is_keras_layer(v) for v in value):  # StackedRNNCells' cells
            return [self.layer(v, where, wrapped=True) for v in value]
        if key == "activation" or key.endswith("_activation"):
            if value == "linear" and cls.model_fields[key].default is None:
                return None
            if not isinstance(value, str):
                self._argument(where, key, value, "activations are Keras names in kspec, not objects or code")
                return None
        return value

    def _object(self, value: dict, key: str, where: str, kind: _ObjectKind) -> Any:
        """An initializer, regularizer or constraint: by name when its configuration is the one the name builds."""
        class_name = value.get("class_name")
        config = dict(value.get("config") or {})
        if value.get("module") not in (None, kind.module) or value.get("registered_name") not in (None, class_name):
            self._argument(where, key, class_name, f"a custom {kind.what}; kspec takes Keras's built-in ones")
            return None
        for extra in kind.ignored:
            if extra in config and config[extra] is None:
                del config[extra]  # a newer Keras argument at its default (None): kspec builds the same object
        if class_name in kind.names_only:
            if config:
                self._argument(where, key, value, f"kspec offers {class_name} by name only, without arguments")
            return kind.names_only[class_name]
        if class_name not in kind.types:
            self._argument(where, key, class_name, f"kspec offers the {kind.what}s {', '.join(sorted(kind.types))}")
            return None
        config = {k: kind.clean(k, v) for k, v in config.items()}
        document = {"type": class_name, **config}
        name = kind.name_for(class_name, config)
        return name if name is not None else document

    def _keras_default(self, cls: type[Layer], key: str) -> Any:
        if key == "data_format":
            return "channels_last"
        if key in _BASE_DEFAULTS:
            return _BASE_DEFAULTS[key]
        keras_name = cls.keras_class or cls.type_name()
        if (keras_name, key) in _KWARGS_DEFAULTS:
            return _KWARGS_DEFAULTS[(keras_name, key)]
        if keras_name not in self._signature_cache:
            defaults: dict[str, Any] = {}
            _import_keras_quietly()
            keras_class = cls.keras_layer_class()
            for klass in reversed(keras_class.__mro__):
                init = klass.__dict__.get("__init__")
                if init is None:
                    continue
                try:
                    params = inspect.signature(init).parameters.values()
                except (TypeError, ValueError):
                    continue
                defaults.update({p.name: p.default for p in params if p.default is not inspect.Parameter.empty})
            self._signature_cache[keras_name] = defaults
        return self._signature_cache[keras_name].get(key, _NO_DEFAULT)


_NO_DEFAULT = object()


def _import_keras_quietly() -> None:
    """Import Keras (and with it its backend) with the backend's start-up output kept off the terminal: the C++
    logs TF_CPP_MIN_LOG_LEVEL does not silence (absl's "All log messages before absl::InitializeLog()", oneDNN and
    CPU feature notices), absl's and Python's warnings. None of it concerns reading a model's configuration."""
    from .train import import_quietly

    import_quietly("keras")


def _is_keras_layer(value: Any) -> bool:
    return isinstance(value, dict) and value.get("module") == "keras.layers" and isinstance(value.get("config"), dict)


def _reversed(layer: Any) -> Any:
    """A wrapped recurrent layer's mapping, running the other way (what Bidirectional makes of it)."""
    if not isinstance(layer, dict):
        return None
    out = {k: v for k, v in layer.items() if k != "go_backwards"}
    if not layer.get("go_backwards", False):
        out["go_backwards"] = True
    return out


def _same(value: Any, default: Any) -> bool:
    """A configuration value equals a constructor default (lists and tuples alike; booleans are not numbers)."""
    if isinstance(value, (list, tuple)) and isinstance(default, (list, tuple)):
        return len(value) == len(default) and all(map(_same, value, default))
    if isinstance(value, bool) or isinstance(default, bool):
        return value is default
    return bool(value == default)


def _show(value: Any) -> str:
    return cut(json.dumps(value, default=str) if not isinstance(value, str) else repr(value), 120)


def _is_policy(dtype: Any, name: str = "float32") -> bool:
    """The dtype policy `name`, however Keras wrote it (a name, or a serialised DTypePolicy; None is float32)."""
    if dtype == name or (dtype is None and name == "float32"):
        return True
    return (
        isinstance(dtype, dict)
        and dtype.get("class_name") == "DTypePolicy"
        and isinstance(dtype.get("config"), dict)
        and dtype["config"].get("name") == name
    )


def _valid_name(name: str) -> str:
    """`name` as a kspec Name: letters, digits and '_', not starting with a digit, at most 128 characters."""
    out = re.sub(r"[^A-Za-z0-9_]", "_", name) or "_"
    if out[0].isdigit():
        out = "_" + out
    return out[:128]


# ---- initializers, regularizers, constraints ---------------------------------------------------


@dataclass(frozen=True)
class _ObjectKind:
    what: str
    module: str
    types: dict[str, type[KspecModel]]  # the {type: ...} forms kspec has
    names: tuple[str, ...]  # the names kspec takes
    names_only: dict[str, str] = field(default_factory=dict)  # Keras classes kspec offers by name only
    ignored: tuple[str, ...] = ()  # newer Keras arguments that kspec does not model, dropped when None
    float32: bool = False  # Keras stores the factors as float32 (L1(0.01) has l1=0.009999999776482582)

    def clean(self, key: str, value: Any) -> Any:
        """A float32 factor as the shortest decimal that is the same float32 (0.01, not 0.009999999776482582)."""
        if self.float32 and isinstance(value, float):
            import numpy as np

            single = np.float32(value)
            if float(single) == value:
                return float(str(single))
        return value

    def name_for(self, class_name: str, config: dict) -> str | None:
        """The kspec name whose Keras object has this configuration, if there is one."""
        name = object_alias(class_name)
        if name not in self.names:
            return None
        model = self.types[class_name]
        try:
            given = model.model_validate({"type": class_name, **config})
        except Exception:  # noqa: BLE001 - an invalid config is reported when the layer is validated
            return None
        # A name builds the class with its defaults, which are kspec's defaults of the {type} form
        # (Keras's "l1" and "l2" are L1(0.01) and L2(0.01)).
        return name if given == model.model_validate({"type": class_name}) else None


def _kinds() -> tuple[_ObjectKind, _ObjectKind, _ObjectKind]:
    from .spec import objects

    def types(union: Any) -> dict[str, type[KspecModel]]:
        members = union.__origin__.__args__ if hasattr(union, "__origin__") else union.__args__
        return {m.model_fields["type"].annotation.__args__[0]: m for m in members}

    initializers = _ObjectKind(
        "initializer",
        "keras.initializers",
        types(objects.InitializerConfig),
        objects.INITIALIZER_NAMES,
        names_only={"Zeros": "zeros", "Ones": "ones"},
        ignored=("input_axes", "output_axes"),
    )
    regularizers = _ObjectKind(
        "regularizer",
        "keras.regularizers",
        types(objects.RegularizerConfig),
        ("l1", "l2"),
        float32=True,
    )
    constraints = _ObjectKind(
        "constraint",
        "keras.constraints",
        types(objects.ConstraintConfig),
        ("max_norm", "min_max_norm", "non_neg", "unit_norm"),
    )
    return initializers, regularizers, constraints


_INITIALIZERS, _REGULARIZERS, _CONSTRAINTS = _kinds()


# ---- models ------------------------------------------------------------------------------------


def _tensor_ref(value: Any) -> tuple[str, int] | None:
    """(layer name, node index) of a serialised KerasTensor with tensor index 0, else None."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = (value.get("config") or {}).get("keras_history")
        if isinstance(history, list) and len(history) == 3 and isinstance(history[1], int) and history[2] == 0:
            return str(history[0]), history[1]
    return None


def _input(entry: dict, conv: _Converter, named: bool) -> dict | None:
    config = entry.get("config") or {}
    keras_name = config.get("name", entry.get("name", "input"))
    where = f"Input '{keras_name}'"
    shape = config.get("batch_shape") or ([None] + list(config["shape"]) if config.get("shape") else None)
    problems = len(conv.problems)
    for key, neutral in (("sparse", False), ("ragged", False), ("optional", False)):
        if config.get(key, neutral) != neutral:
            conv._argument(where, key, config[key], "kspec inputs are dense tensors")
    if not isinstance(shape, list) or len(shape) < 2:
        conv._argument(where, "batch_shape", shape, "expected (batch, ...) with at least one axis besides the batch")
    elif shape[0] is not None:
        conv._argument(where, "batch_shape", shape, "kspec inputs have a batch axis of any size (None)")
    if len(conv.problems) > problems or not isinstance(shape, list):  # a shape that is not a list is reported
        return None
    out: dict[str, Any] = {"shape": list(shape[1:])}
    if named or not str(keras_name).startswith("input_layer"):
        out = {"name": conv.name(keras_name), **out}
    dtype = config.get("dtype", "float32")
    if isinstance(dtype, dict):
        dtype = (dtype.get("config") or {}).get("name")
    if dtype != "float32":
        out["dtype"] = dtype
    return out


def _sequential(config: dict, conv: _Converter) -> dict:
    layers = list(config.get("layers") or [])
    if layers and isinstance(layers[0], dict) and layers[0].get("class_name") == "InputLayer":
        first = _input(layers.pop(0), conv, named=False)
    elif config.get("build_input_shape"):
        first = _input(
            {"config": {"batch_shape": config["build_input_shape"], "name": "input_layer"}}, conv, named=False
        )
    else:
        conv.problems.append(
            "The Sequential model has no input shape: build it, or start it with keras.Input(shape=...)"
        )
        first = None
    converted = [conv.layer(entry) for entry in layers]
    if not converted:
        conv.problems.append("The model has no layers")
    return {"input": first, "layers": converted}


def _functional(config: dict, conv: _Converter) -> dict:
    config = _inline_models(config, conv)
    entries = [e for e in config.get("layers") or [] if isinstance(e, dict)]
    inputs: dict[str, dict | None] = {}
    layers: dict[str, dict] = {}
    calls: dict[tuple[str, int], _Node] = {}
    node_names: dict[tuple[str, int], str] = {}
    for entry in entries:
        keras_name = str(entry.get("name", (entry.get("config") or {}).get("name")))
        if entry.get("class_name") == "InputLayer":
            given = _input(entry, conv, named=True)
            inputs[keras_name] = given
            node_names[(keras_name, 0)] = given["name"] if given else keras_name
            continue
        layers[keras_name] = entry
        for index, call in enumerate(entry.get("inbound_nodes") or []):
            parse = _op_call if _is_op(entry) else _call
            calls[(keras_name, index)] = parse(keras_name, index, call, entry)
    output_refs = [(str(o[0]), int(o[1])) for o in _layer_refs(config.get("output_layers"))]
    # Only what the outputs are computed from: Keras also records the operations that compute the masks it
    # propagates (NotEqual, LogicalOr, ... after Embedding(mask_zero) or Masking), which the same layers,
    # rebuilt, compute again (see `_call`).
    nodes = [calls[key] for key in _reachable(output_refs, calls)]
    used = {node.layer for node in nodes}
    converted = {name: conv.layer(entry) for name, entry in layers.items() if name in used}
    for node in nodes:
        node.name = conv.name(node.layer) if node.index == 0 else conv.name(f"{node.layer}_call{node.index}")
        node_names[(node.layer, node.index)] = node.name

    def ref(layer: str, index: int, where: str) -> str | None:
        if (layer, index) not in node_names:
            if layer in layers and converted.get(layer) is None:
                return None  # a layer that cannot be imported (a nested model, ...): reported once, as itself
            conv.problems.append(f"{where}: its input comes from call {index} of '{layer}', which is not in the model")
            return None
        return node_names[(layer, index)]

    out_nodes: list[dict] = []
    for node in _ordered(nodes):
        layer = converted.get(node.layer)
        where = f"Layer '{node.layer}' ({layers[node.layer].get('class_name')})"
        if node.problem:
            # Its name stands for its output, so that the layers using it add no problem of their own.
            conv.problems.append(f"{where}: {node.problem}")
            continue
        sources = [ref(layer_name, index, where) for layer_name, index in node.refs]
        kspec_type = layers[node.layer].get("class_name")
        cls = None if _is_op(layers[node.layer]) else KERAS_LAYER_TYPES.get(str(kspec_type))
        if cls is not None and len(sources) > 1 and node.style != cls.call_style:
            conv.problems.append(
                f"{where}: called with its inputs {node.style}, kspec calls {kspec_type} with them as a {cls.call_style}"
            )
        if layer is None or None in sources:
            continue
        if node.fields:  # an operation with constant operands, checked with them
            layer = conv._validated({**layer, **node.fields}, where.replace("Layer", "Operation", 1))
            if layer is None:
                continue
        if node.index == 0:
            out_nodes.append({**layer, "inputs": sources})
        else:
            out_nodes.append({"name": node.name, "shares": conv.name(node.layer), "inputs": sources})
    outputs = [ref(layer, index, "An output") for layer, index in output_refs]
    model_inputs = [inputs.get(str(i[0])) for i in _layer_refs(config.get("input_layers"))]
    return {"inputs": model_inputs, "nodes": out_nodes, "outputs": outputs}


def _reachable(outputs: list[tuple[str, int]], calls: dict[tuple[str, int], _Node]) -> list[tuple[str, int]]:
    """The calls the outputs are computed from, in Keras's order."""
    seen: set[tuple[str, int]] = set()
    stack = [key for key in outputs if key in calls]
    while stack:
        key = stack.pop()
        if key in seen:
            continue
        seen.add(key)
        stack.extend(k for k in calls[key].refs if k in calls and k not in seen)
    return [key for key in calls if key in seen]


def _layer_refs(value: Any) -> list[list]:
    """`input_layers` / `output_layers`: `[name, node, tensor]`, a list of them, or a dict of them (a model
    called with and returning dicts; the spec's model takes and returns them in that order, as lists)."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list) and len(value) == 3 and isinstance(value[0], str):
        return [value]
    return [v for v in value or [] if isinstance(v, list) and len(v) == 3]


def _is_tensors(value: Any) -> bool:
    if isinstance(value, list):
        return all(v is None or _is_tensors(v) for v in value)
    return isinstance(value, dict) and value.get("class_name") == "__keras_tensor__"


def _call(layer: str, index: int, call: Any, entry: dict) -> _Node:
    """One call of a layer. A call a spec cannot write has a `problem` (reported if the outputs depend on it)."""
    if not isinstance(call, dict):
        return _Node(
            "", layer, index, [], "", "a call in an older Keras format that kspec does not read (save it with Keras 3)"
        )
    args, kwargs = call.get("args") or [], dict(call.get("kwargs") or {})
    # What Keras records for a plain call: `training=False` for layers whose call takes it (or the default of the
    # call's `training`: True for the augmentation layers; a model called in fit or predict passes its own
    # `training` to every layer instead), and `mask`: None, or the mask Keras propagates from the layer before
    # (computed by ops such as NotEqual), which it propagates again when the same layers are rebuilt. (A mask
    # passed by hand is not told apart from a propagated one.) Anything else is an argument of the call that a
    # spec cannot give.
    if kwargs.get("mask") is None or _is_tensors(kwargs["mask"]):
        kwargs.pop("mask", None)
    if kwargs.get("training") is True and _training_default(str(entry.get("class_name"))) is True:
        del kwargs["training"]
    extra = sorted(k for k, v in kwargs.items() if v is not None and not (k == "training" and v is False))
    if extra:
        shown = ", ".join(f"{k}={_show(kwargs[k])}" for k in extra)
        return _Node("", layer, index, [], "", f"called with {shown}, which a spec cannot give")
    if len(args) == 1 and isinstance(args[0], list):
        refs, style = [_tensor_ref(a) for a in args[0]], "list"
    else:
        refs, style = [_tensor_ref(a) for a in args], "positional" if len(args) > 1 else "single"
    if not refs or None in refs:
        problem = "called on something other than single-output layer tensors (constants, nested structures or a layer's second output)"
        return _Node("", layer, index, [r for r in refs if r is not None], "", problem)
    return _Node("", layer, index, refs, style)  # type: ignore[arg-type]


@functools.cache
def _training_default(class_name: str) -> Any:
    """The default of `training` in the call of the Keras class of a kspec layer type (None if it has none)."""
    cls = KERAS_LAYER_TYPES.get(class_name)
    if cls is None:
        return None
    _import_keras_quietly()
    parameter = inspect.signature(cls.keras_layer_class().call).parameters.get("training")
    return None if parameter is None else parameter.default


def _is_op(entry: dict) -> bool:
    """A serialised `keras.ops` Operation (`x + 3.0`, `keras.ops.mean(x)`), not a layer."""
    return str(entry.get("module") or "").startswith("keras.src.ops")


def _op_call(layer: str, index: int, call: Any, entry: dict) -> _Node:
    """One call of an operation: its tensor operands, and the others (constants, an index) as the fields of the
    kspec operation (`x + 3.0`: `x2: 3.0`). An operation kspec does not offer is reported once, by `op`; its
    call gives only the tensors it reads."""
    if not isinstance(call, dict):
        return _Node("", layer, index, [], "", "a call in an older Keras format that kspec does not read")
    args, kwargs = call.get("args") or [], call.get("kwargs") or {}
    cls = KERAS_OPS.get(str(entry.get("class_name")))
    extra = sorted(k for k, v in kwargs.items() if v is not None)
    if cls is None or extra:
        refs = [r for r in map(_tensor_ref, _flat(args)) if r is not None]
        problem = f"called with {', '.join(f'{k}={_show(kwargs[k])}' for k in extra)}" if extra else None
        return _Node("", layer, index, refs, "positional", problem and f"{problem}, which a spec cannot give")
    fields: dict[str, Any] = {}
    if cls.call_style == "list":
        tensors = args[0] if len(args) == 1 and isinstance(args[0], list) else [None]
    elif cls.operand_fields == ("x1", "x2") and len(args) == 2:
        tensors = []
        for name, arg in zip(cls.operand_fields, args):
            if _is_tensors(arg):
                tensors.append(arg)
            else:
                fields[name] = _constant(arg)
        if any(value is None for value in fields.values()):
            problem = (
                f"called with a constant kspec cannot write ({_show(args)}): a number, or a float32 or int32 tensor"
            )
            return _Node("", layer, index, [], "", problem)
    elif cls.operand_fields == ("key",) and len(args) == 2:
        tensors, fields["key"] = args[:1], _key(args[1])
        if fields["key"] is None:
            return _Node("", layer, index, [], "", f"indexed with {_show(args[1])}, which kspec cannot write")
    else:
        tensors = args
    operands = [_tensor_ref(t) for t in tensors]
    found = [r for r in operands if r is not None]
    if not operands or len(found) < len(operands):
        problem = "called on something other than single-output tensors (a nested structure or a second output)"
        return _Node("", layer, index, found, "", problem)
    return _Node("", layer, index, found, "positional", fields=fields)


def _flat(value: Any) -> list:
    return [v for item in value for v in _flat(item)] if isinstance(value, list) else [value]


def _constant(value: Any) -> Any:
    """A constant operand as kspec writes it: a number, or nested lists of a float32 or int32 array."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    config = value.get("config") if isinstance(value, dict) else None
    if (
        not isinstance(value, dict)
        or value.get("class_name") not in ("__numpy__", "__tensor__")
        or not isinstance(config, dict)
        or config.get("dtype") not in ("float32", "int32")
        or not isinstance(config.get("value"), list)
    ):
        return None
    kind = float if config["dtype"] == "float32" else int

    def numbers(item: Any) -> Any:
        if isinstance(item, list):
            return [numbers(v) for v in item]
        if kind is float:
            import numpy as np

            return float(str(np.float32(item)))  # the shortest decimal of the same float32
        return int(item)

    return numbers(config["value"])


def _key(value: Any) -> str | None:
    """The text of an index (`x[:, 0]`: ":, 0"), or None for one kspec cannot write."""
    items: list[Any] = []
    for item in value if isinstance(value, list) else [value]:
        kind = item.get("class_name") if isinstance(item, dict) else None
        if item is None or (isinstance(item, int) and not isinstance(item, bool)):
            items.append(item)
        elif kind == "__ellipsis__":
            items.append(Ellipsis)
        elif kind == "__slice__" and isinstance(item.get("config"), dict):
            bounds = [item["config"].get(k) for k in ("start", "stop", "step")]
            if not all(b is None or (isinstance(b, int) and not isinstance(b, bool)) for b in bounds):
                return None
            items.append(slice(*bounds))
        else:
            return None
    return key_text(tuple(items))


# ---- nested models -------------------------------------------------------------------------------


def _is_model(entry: dict) -> bool:
    """A model nested in the model as a layer: keras.Sequential, Functional, or a subclassed model (Keras writes
    a `compile_config` for models only)."""
    return entry.get("class_name") in MODEL_CLASSES or "compile_config" in entry


def _entry_name(entry: dict) -> str:
    return str(entry.get("name", (entry.get("config") or {}).get("name")))


def _has_input(config: dict) -> bool:
    """A Sequential model's configuration says its input shape."""
    layers = config.get("layers") or []
    first = layers[0] if layers and isinstance(layers[0], dict) else {}
    return first.get("class_name") == "InputLayer" or bool(config.get("build_input_shape"))


def _history(name: str, node: int, tensor: int) -> dict:
    """A serialised KerasTensor: the output `tensor` of call `node` of layer `name`."""
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, node, tensor]}}


def _chain_config(config: dict, name: str) -> dict:
    """A Sequential model's configuration as a Functional model's: each layer called on the previous one's output."""
    layers = [e for e in config.get("layers") or [] if isinstance(e, dict)]
    if layers and layers[0].get("class_name") == "InputLayer":
        first = layers.pop(0)
    else:
        first = {"class_name": "InputLayer", "config": {"batch_shape": config.get("build_input_shape")}}
    previous = str((first.get("config") or {}).get("name") or f"{name}_input")
    entries = [{**first, "name": previous, "config": {**(first.get("config") or {}), "name": previous}}]
    for entry in layers:
        layer = _entry_name(entry)
        entries.append({**entry, "name": layer, "inbound_nodes": [{"args": [_history(previous, 0, 0)], "kwargs": {}}]})
        previous = layer
    return {
        **config,
        "layers": entries,
        "input_layers": [[entries[0]["name"], 0, 0]],
        "output_layers": [[previous, 0, 0]],
    }


def _map_tensors(value: Any, fn: Any) -> Any:
    """`value` with each serialised KerasTensor replaced by `fn(name, node, tensor)` of its history."""
    if isinstance(value, list):
        return [_map_tensors(v, fn) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("class_name") == "__keras_tensor__":
        history = (value.get("config") or {}).get("keras_history")
        if isinstance(history, list) and len(history) == 3 and all(isinstance(h, int) for h in history[1:]):
            return fn(str(history[0]), history[1], history[2])
        return value
    return {k: _map_tensors(v, fn) for k, v in value.items()}


def _tensors_of(value: Any) -> list:
    """The serialised KerasTensors of a call's argument, in order (a tensor, or a list or dict of them)."""
    if isinstance(value, list):
        return [t for v in value for t in _tensors_of(v)]
    if isinstance(value, dict) and value.get("class_name") != "__keras_tensor__":
        return [t for v in value.values() for t in _tensors_of(v)]
    return [value]


@dataclass
class _Inlined:
    """A nested model's layers, inlined: each inner layer under its name in the outer graph, called once per call
    of the model (`k`), on what that call fed the model's inputs."""

    inner: dict  # its configuration, with the models nested in it inlined in turn
    names: dict[str, str]  # inner layer name -> name in the outer graph
    feeds: list[dict[str, Any]]  # per call of the model: inner input name -> the tensor the call gave it
    calls: dict[str, int] = field(default_factory=dict)  # inner layer name -> its calls in the model

    def __post_init__(self) -> None:
        self.calls = {_entry_name(e): len(e.get("inbound_nodes") or []) for e in self.inner.get("layers") or []}

    def tensor(self, name: str, node: int, index: int, call: int) -> Any:
        """The outer graph's tensor for the inner tensor (name, node, index) in the model's call `call`."""
        if name in self.feeds[call]:
            return self.feeds[call][name]
        return _history(self.names.get(name, name), call * self.calls.get(name, 1) + node, index)

    def output(self, index: int, call: int) -> Any:
        """The tensor of the model's output `index` in its call `call`."""
        refs = _layer_refs(self.inner.get("output_layers"))
        if not 0 <= call < len(self.feeds) or not 0 <= index < len(refs):
            return _history("?", call, index)  # not in the model: reported when read
        name, node, tensor = refs[index]
        return self.tensor(str(name), node, tensor, call)


def _inline_models(config: dict, conv: _Converter) -> dict:
    """The Functional model's configuration with each nested keras.Sequential or Functional model replaced by its
    layers: a model called once becomes its layers, called on the model's inputs; a model called several times
    becomes its layers called as many times (their later calls are `shares` nodes). An inner layer keeps its name
    unless the outer graph has it, then it is `<model>_<name>`. A subclassed model is left (and reported)."""
    entries = [e for e in config.get("layers") or [] if isinstance(e, dict)]
    nested = [e for e in entries if e.get("class_name") in MODEL_CLASSES and isinstance(e.get("config"), dict)]
    if not nested:
        return config
    taken = {_entry_name(e) for e in entries}
    models: dict[str, _Inlined] = {}
    for entry in nested:
        model = _entry_name(entry)
        where = f"Model '{model}' ({entry['class_name']}), nested in the model as a layer"
        if entry["config"].get("trainable", True) is not True:
            conv.problems.append(f"{where}: trainable=False is not supported (a spec's layers are trainable)")
        inner = entry["config"] if entry["class_name"] == "Functional" else _chain_config(entry["config"], model)
        inner = _inline_models(inner, conv)
        inputs = [str(r[0]) for r in _layer_refs(inner.get("input_layers"))]
        feeds = []
        for call in entry.get("inbound_nodes") or []:
            args = call.get("args") or [] if isinstance(call, dict) else []
            kwargs = dict(call.get("kwargs") or {}) if isinstance(call, dict) else {}
            if kwargs.get("mask") is None or _is_tensors(kwargs["mask"]):
                kwargs.pop("mask", None)
            extra = sorted(k for k, v in kwargs.items() if v is not None and not (k == "training" and v is False))
            given = _tensors_of(args[0] if len(args) == 1 else args)
            if extra:
                shown = ", ".join(f"{k}={_show(kwargs[k])}" for k in extra)
                conv.problems.append(f"{where}: called with {shown}, which a spec cannot give")
            elif len(given) != len(inputs) or not all(_tensor_ref(t) for t in given):
                conv.problems.append(
                    f"{where}: called on {len(given)} value(s) where it takes {len(inputs)} single-output tensor(s)"
                )
            feeds.append(dict(zip(inputs, given)))
        names: dict[str, str] = {}
        for inner_entry in inner.get("layers") or []:
            name = _entry_name(inner_entry)
            if inner_entry.get("class_name") == "InputLayer":
                continue
            new, n = (name, 0) if name not in taken else (f"{model}_{name}", 0)
            while new in taken:
                n += 1
                new = f"{model}_{name}_{n}"
            taken.add(new)
            names[name] = new
        models[model] = _Inlined(inner, names, feeds)

    def outer(name: str, node: int, index: int) -> Any:
        return models[name].output(index, node) if name in models else _history(name, node, index)

    out: list[dict] = []
    for entry in entries:
        model = _entry_name(entry)
        if model not in models:
            out.append({**entry, "inbound_nodes": _map_tensors(entry.get("inbound_nodes") or [], outer)})
            continue
        inlined = models[model]
        for inner_entry in inlined.inner.get("layers") or []:
            if inner_entry.get("class_name") == "InputLayer":
                continue
            calls = []
            for k in range(len(inlined.feeds)):
                for node in inner_entry.get("inbound_nodes") or []:
                    calls.append(_map_tensors(node, lambda n, j, t, k=k, m=inlined: m.tensor(n, j, t, k)))
            new = inlined.names[_entry_name(inner_entry)]
            renamed = {**(inner_entry.get("config") or {}), "name": new}
            out.append({**inner_entry, "name": new, "config": renamed, "inbound_nodes": _map_tensors(calls, outer)})

    def output(ref: list) -> list:
        name, node, index = str(ref[0]), ref[1], ref[2]
        if name not in models:
            return ref
        # Keras numbers a Functional model's calls in `output_layers` from 1: its own node (inputs to outputs) is 0.
        shift = 1 if next(e for e in nested if _entry_name(e) == name)["class_name"] == "Functional" else 0
        tensor = models[name].output(index, node - shift)
        history = (tensor.get("config") or {}).get("keras_history") if isinstance(tensor, dict) else None
        return list(history) if isinstance(history, list) else ["?", node, index]  # a bad call, reported

    outputs = [output(ref) for ref in _layer_refs(config.get("output_layers"))]
    return {**config, "layers": out, "output_layers": outputs}


def _ordered(nodes: list[_Node]) -> list[_Node]:
    """The nodes in a topological order, keeping Keras's order where it is free; each call of a layer after its
    previous calls (a `shares` node after the node it shares)."""
    by_key = {(n.layer, n.index): n for n in nodes}
    done: set[tuple[str, int]] = set()
    order: list[_Node] = []
    for start in nodes:
        stack = [(start, False)]
        while stack:
            node, expanded = stack.pop()
            key = (node.layer, node.index)
            if key in done:
                continue
            if expanded:
                done.add(key)
                order.append(node)
                continue
            stack.append((node, True))
            deps = list(node.refs) + ([(node.layer, node.index - 1)] if node.index else [])
            for dep in reversed(deps):
                if dep in by_key and dep not in done:
                    stack.append((by_key[dep], False))
    return order


def _as_sequential(graph: dict) -> dict | None:
    """The sequential form of a graph that is a plain chain, or None."""
    if len(graph["inputs"]) != 1 or len(graph["outputs"]) != 1 or None in graph["inputs"]:
        return None
    previous = graph["inputs"][0]["name"]
    layers = []
    for node in graph["nodes"]:
        if "shares" in node or node["inputs"] != [previous]:
            return None
        previous = node["name"]
        layers.append({k: v for k, v in node.items() if k != "inputs"})
    if graph["outputs"] != [previous]:
        return None
    first = dict(graph["inputs"][0])
    if first["name"].startswith("input_layer"):
        del first["name"]  # Keras's automatic name: the sequential form's default
    return {"input": first, "layers": layers}


#: Placeholder losses by the activation an output ends with (and the metric that fits their labels); else
#: mean_squared_error.
_LOSSES = {"softmax": "sparse_categorical_crossentropy", "sigmoid": "binary_crossentropy"}


def _training(model: dict) -> dict:
    """Placeholder training: adam; per output, sparse categorical crossentropy after a softmax, binary
    crossentropy after a sigmoid (both with accuracy), else mean squared error."""
    if "layers" in model:
        layers = model["layers"]
        names = [layer.get("name") or f"#{i}" for i, layer in enumerate(layers)]
        nodes = {n: {**layer, "inputs": names[i - 1 : i]} for i, (n, layer) in enumerate(zip(names, layers))}
        outputs = names[-1:]
    else:
        nodes = {n["name"]: n for n in model["nodes"]}
        outputs = model["outputs"]

    def final_activation(name: str) -> Any:
        """The activation applied last, looking back through the layers and operations that pass values on."""
        while name in nodes:
            inputs = nodes[name].get("inputs") or []
            node = nodes[name]
            while "shares" in node:
                node = nodes.get(node["shares"]) or {}
            try:
                layer = parse_layer({k: v for k, v in node.items() if k != "inputs"})
            except Exception:  # noqa: BLE001 - a node the check refuses, with its own problem
                return None
            if layer.value_passing() != "keeps" or len(inputs) != 1:
                return layer.final_activation()
            name = inputs[0]
        return None

    losses = {name: _LOSSES.get(final_activation(name), "mean_squared_error") for name in outputs}
    metrics = {name: ["accuracy"] for name, loss in losses.items() if loss != "mean_squared_error"}
    training: dict[str, Any] = {"optimizer": "adam"}
    if len(outputs) == 1:
        (training["loss"],) = losses.values()
        if metrics:
            training["metrics"] = ["accuracy"]
    else:
        training["loss"] = losses
        if metrics:
            training["metrics"] = metrics
    return training


def spec_document_of(model: Any, *, name: str | None = None) -> dict:
    """The spec of a Keras model as plain data, before it is checked; raises `UnsupportedModel` (every problem)."""
    serialised = model_config(model)
    class_name = serialised.get("class_name")
    config = serialised["config"]
    model_name = str(config.get("name") or "model")
    conv = _Converter()
    if class_name not in MODEL_CLASSES or serialised.get("registered_name") not in (None, class_name):
        raise UnsupportedModel(
            model_name,
            [
                f"The model is a {class_name}: kspec imports keras.Sequential and Functional models (keras.Model(inputs, outputs))"
            ],
        )
    if config.get("trainable", True) is not True:
        conv.problems.append("The model: trainable=False is not supported (a spec's model is trainable)")
    if class_name == "Sequential" and not (
        any(_is_model(e) for e in config.get("layers") or [] if isinstance(e, dict)) and _has_input(config)
    ):
        body = _sequential(config, conv)
    elif class_name == "Sequential":  # a nested model in it: its layers inlined in the graph, as a chain if they are
        graph = _functional(_chain_config(config, model_name), conv)
        body = (_as_sequential(graph) if not conv.problems else None) or graph
    else:
        graph = _functional(config, conv)
        body = (_as_sequential(graph) if not conv.problems else None) or graph
    if conv.problems:
        raise UnsupportedModel(model_name, conv.problems)
    return {"kspec": 1, "name": _valid_name(name or model_name), "model": body, "training": _training(body)}


def import_model(model: Any, *, name: str | None = None) -> Spec:
    """The kspec spec of a Keras model: a `keras.Model` (Sequential or Functional), a path to a `.keras` or `.json`
    file (`model.to_json()`), JSON text, or loaded data. `name` replaces the model's name.

    Raises `UnsupportedModel` listing every layer and argument kspec cannot express (and anything `kspec.check`
    refuses in the result), `ModelFileError` when a file cannot be read. Write the spec with `spec_text`.
    """
    return import_report(model, name=name).spec


def import_report(model: Any, *, name: str | None = None) -> Any:
    """`import_model`, returning the `kspec.check` report of the imported spec (its `spec`, `inference`, warnings)."""
    from .check import check

    document = spec_document_of(model, name=name)
    report = check(document)
    if not report.ok or report.spec is None:
        problems = [
            f"{format_path(d.path) or 'the spec'}: {d.message}" for d in report.diagnostics if d.severity == "error"
        ]
        raise UnsupportedModel(document["name"], [f"kspec refuses the imported spec at {p}" for p in problems])
    return report


# ---- text --------------------------------------------------------------------------------------


def spec_text(spec: Spec, format: str = "yaml", *, source: str | None = None) -> str:
    """An imported spec as text, YAML or JSON, with one line per input and layer (default values left out,
    one-int forms where Keras's tuples repeat one value). `kspec.check` reads it back as an equal Spec."""
    from .dump import spec_document, yaml_text

    document = spec_document(spec, defaults=False)
    model = document["model"]
    for layer in model.get("layers") or model.get("nodes") or []:
        _compact(layer)
    if "outputs" in model and len(model["outputs"]) == 1:
        model["outputs"] = model["outputs"][0]
    if format == "json":
        return _json_lines(document)
    if format != "yaml":
        raise ValueError(f"format must be 'yaml' or 'json'. Received: format={format!r}")
    lines = [
        f"# Imported by `kspec import`{f' from {source}' if source else ''}.",
        "# The training section is a placeholder: edit the optimizer, loss and metrics before training.",
        yaml_text({"kspec": document["kspec"], "name": document["name"]}).rstrip("\n"),
    ]
    if document.get("description") is not None:
        lines.append(yaml_text({"description": document["description"]}).rstrip("\n"))
    lines.append("model:")
    for key, value in model.items():
        if isinstance(value, list):
            lines.append(f"  {key}:")
            lines.extend(f"    - {_flow(item)}" for item in value)
        else:
            lines.append(f"  {key}: {_flow(value)}")
    for key in ("training", "data"):
        if key in document:
            lines.append(yaml_text({key: document[key]}).rstrip("\n"))
    return "\n".join(lines) + "\n"


def _json_lines(document: dict) -> str:
    """The document as indented JSON, with each input and layer on one line (kspec reads it back as equal data)."""

    def compact(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, allow_nan=False, separators=(", ", ": "))

    def model(value: dict) -> str:
        parts = []
        for key, item in value.items():
            if isinstance(item, list):
                lines = ",\n".join(f"      {compact(one)}" for one in item)
                parts.append(f"    {json.dumps(key)}: [\n{lines}\n    ]")
            else:
                parts.append(f"    {json.dumps(key)}: {compact(item)}")
        return "{\n" + ",\n".join(parts) + "\n  }"

    entries = [f"  {json.dumps(k)}: {model(v) if k == 'model' else compact(v)}" for k, v in document.items()]
    return _escape_json("{\n" + ",\n".join(entries) + "\n}\n")


def _escape_json(text: str) -> str:
    from .dump import _JSON_ESCAPED

    return _JSON_ESCAPED.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def _flow(value: Any) -> str:
    """One value as a one-line YAML flow node, quoted as kspec's YAML 1.2 reader needs (see `kspec.dump`)."""
    import yaml

    from .dump import _Dumper

    text = yaml.dump(value, Dumper=_Dumper, default_flow_style=True, sort_keys=False, allow_unicode=True, width=1 << 30)
    return text.removesuffix("\n...\n").rstrip("\n")


def _compact(layer: dict) -> None:
    """Shorter forms of a layer's values, where the layer reads them back the same: `[3, 3]` -> `3`,
    `[[1, 1], [1, 1]]` -> `1`, `[[1, 1], [2, 2]]` -> `[1, 2]`, `inputs: [x]` -> `inputs: x`."""
    if isinstance(layer.get("inputs"), list) and len(layer["inputs"]) == 1:
        layer["inputs"] = layer["inputs"][0]
    if "type" not in layer:
        return
    parsed = None
    for key, value in list(layer.items()):
        if not isinstance(value, list) or not value:
            continue
        candidates = []
        if all(isinstance(v, int) and not isinstance(v, bool) for v in value) and len(set(value)) == 1:
            candidates.append(value[0])
        elif all(isinstance(v, list) and len(v) == 2 and v[0] == v[1] for v in value):
            pairs = [v[0] for v in value]
            candidates += [pairs[0]] if len(set(pairs)) == 1 else []
            candidates.append(pairs)
        for candidate in candidates:
            parsed = parsed or parse_layer(layer)
            try:
                if parse_layer({**layer, key: candidate}) == parsed:
                    layer[key] = candidate
                    break
            except Exception:  # noqa: BLE001 - a form this field does not take
                continue


__all__ = [
    "ImportFailed",
    "ModelFileError",
    "UnsupportedModel",
    "import_model",
    "import_report",
    "model_config",
    "spec_text",
]
