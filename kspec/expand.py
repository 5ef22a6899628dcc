"""Stage: expand. Blocks and repetitions become a flat, named graph; each node remembers where it came from.

`expand(spec)` returns an `Expansion`: the flat model (the sequential form when the expanded
model is still a chain, the graph form otherwise), and for each flat node its `Origin`: where it
is written (a top-level layer, or a node in a block definition) and the chain of block uses that
instantiated it, innermost first, as notes ("in block 'bottleneck' used here as 'conv2_1' with
filters=64"), so that a diagnostic inside a block points at both places.

Names are deterministic: a use named `u` (default: the block's name, numbered like Keras's layer
names) prefixes its nodes' names, `u_conv1`; a repeated use numbers its repetitions from 1,
`u1_conv1`, `u2_conv1` (`u_1` after a name ending in a digit); nested uses nest prefixes,
`conv2_block1_1_conv` (Keras's own ResNet names).

A block's body is checked here, when it is instantiated with its arguments: the parameters are
substituted (`${...}` expressions, `kspec.expr`) and each layer is validated like a layer written
in the model. Every problem is collected; any error stops the pipeline before shape inference.
"""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from .diagnostics import Diagnostic, Note, Path, did_you_mean, suggestion
from .expr import ExprError, evaluate, expression_of, has_expression_marker
from .naming import base_name
from .spec import GraphModel, SequentialModel, SharedNode, Spec
from .spec.base import NAME_PATTERN, REF_PATTERN
from .spec.blocks import LOCAL_NAME_PATTERN, LOCAL_REF_PATTERN, RESERVED, Block, BlockUse
from .spec.layers import Layer, parse_layer

#: The keys of a block use that are not the block's arguments.
USE_KEYS = frozenset({"block", "name", "inputs", "repeat"})
#: The most nodes an expansion may produce (a spec of 10**4 uses of a block of 10**4 layers is refused).
MAX_NODES = 200_000

_NAME = re.compile(NAME_PATTERN)
_REF = re.compile(REF_PATTERN)
_LOCAL_NAME = re.compile(LOCAL_NAME_PATTERN)
_LOCAL_REF = re.compile(LOCAL_REF_PATTERN)


@dataclass(frozen=True)
class UseNote:
    """One block use that instantiated a node: what its note says, written out only when a diagnostic needs it."""

    block: str
    prefix: str
    args: tuple[tuple[str, Any], ...]
    repetition: tuple[int, int] | None  # (1-based repetition, repeat) when repeated
    path: Path

    def note(self) -> Note:
        shown = ", ".join(f"{k}={_brief(v)}" for k, v in self.args) or "no parameters"
        where = f"repetition {self.repetition[0]} of {self.repetition[1]}, " if self.repetition else ""
        return Note(f"in block '{self.block}', used here as '{self.prefix}' ({where}{shown})", path=self.path)


class Origin:
    """Where a flat node is written, and the block uses that put it there (innermost first).

    A replayed instantiation (`_Template`) gives its nodes their uses lazily: renaming the notes of 100
    nodes that no diagnostic will ever show was a tenth of checking ResNet-50.
    """

    __slots__ = ("path", "explicit_inputs", "_uses", "_replayed")

    def __init__(self, path: Path, uses: tuple[UseNote, ...] = (), explicit_inputs: bool = True, replayed: Any = None):
        self.path = path
        #: Whether `inputs` is written at `path` (not in the sequential form, where they are implicit).
        self.explicit_inputs = explicit_inputs
        self._uses = uses
        self._replayed = replayed  # (the template's origin, old prefix, new prefix, depth, the new scope's uses)

    @property
    def uses(self) -> tuple[UseNote, ...]:
        if self._replayed is not None:
            origin, old, new, depth, outer = self._replayed
            cut = len(old)
            inner = origin.uses[: len(origin.uses) - depth]
            self._uses = (
                tuple(
                    UseNote(
                        u.block,
                        new + u.prefix[cut:] if u.prefix.startswith(old) else u.prefix,
                        u.args,
                        u.repetition,
                        u.path,
                    )
                    for u in inner
                )
                + outer
            )
            self._replayed = None
        return self._uses

    @property
    def instantiated(self) -> bool:
        """Whether a block use made this node (without writing out its uses)."""
        return bool(self._uses) or self._replayed is not None

    @property
    def notes(self) -> tuple[Note, ...]:
        return tuple(u.note() for u in self.uses)


@dataclass
class Use:
    """One item of the model as written: a layer, or a block use and the flat nodes it expanded to."""

    name: str
    path: Path
    block: str | None = None
    repeat: int = 1
    nodes: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)


@dataclass
class Expansion:
    model: SequentialModel | GraphModel
    origins: list[Origin]
    uses: list[Use]
    #: The source path of the model's input(s) and outputs, by flat path prefix.
    input_paths: dict[int, Path] = field(default_factory=dict)
    output_paths: dict[int, Path] = field(default_factory=dict)

    @property
    def sequential(self) -> bool:
        return isinstance(self.model, SequentialModel)

    def origin(self, path: Path) -> tuple[Path, Origin | None]:
        """The source path of a path into the flat model, and the `Origin` of the node it is in."""
        if len(path) >= 3 and path[0] == "model" and path[1] in ("layers", "nodes") and isinstance(path[2], int):
            if path[2] < len(self.origins):
                o = self.origins[path[2]]
                rest = path[3:]
                if rest[:1] == ("inputs",) and not o.explicit_inputs:
                    rest = ()
                return o.path + rest, o
        if (
            len(path) >= 3
            and path[:2] == ("model", "inputs")
            and isinstance(path[2], int)
            and path[2] in self.input_paths
        ):
            return self.input_paths[path[2]] + path[3:], None
        if (
            len(path) >= 3
            and path[:2] == ("model", "outputs")
            and isinstance(path[2], int)
            and path[2] in self.output_paths
        ):
            return self.output_paths[path[2]], None
        return path, None

    def place(self, d: Diagnostic) -> Diagnostic:
        """A diagnostic about the flat model, pointed at the source (with the instantiation notes)."""
        from dataclasses import replace

        path, origin = self.origin(d.path)
        moved = tuple(replace(n, path=self.origin(n.path)[0]) if n.path else n for n in d.notes)
        return replace(d, path=path, notes=moved + (origin.notes if origin is not None else ()))


def uses_blocks(spec: Spec) -> bool:
    if spec.blocks:
        return True
    items = spec.model.layers if isinstance(spec.model, SequentialModel) else spec.model.nodes
    return any(isinstance(item, BlockUse) for item in items)


def expand(spec: Spec) -> tuple[Expansion | None, list[Diagnostic]]:
    """The flat model of a spec that uses blocks, or None and the diagnostics."""
    ex = _Expander(spec.blocks or {})
    ex.check_definitions()
    if isinstance(spec.model, SequentialModel):
        input_name = spec.model.input.name or "input_layer"
        items = [_Item.top(layer, ("model", "layers", i)) for i, layer in enumerate(spec.model.layers)]
        scope = _Scope(prefix="", args={}, notes=(), stack=())
        out = ex.chain(items, input_name, scope, top=True)
        outputs: list[str | None] = [out] if out is not None else []
    else:
        items = [_Item.top(node, ("model", "nodes", i)) for i, node in enumerate(spec.model.nodes)]
        scope = _Scope(prefix="", args={}, notes=(), stack=())
        local = {inp.name: _Tensors.one(inp.name) for inp in spec.model.inputs if inp.name is not None}
        ex.graph(items, local, scope, top=True)
        outputs = [ex.resolve(ref, local, ("model", "outputs", j), scope) for j, ref in enumerate(spec.model.outputs)]
    if ex.errors:
        return None, ex.diagnostics
    # An output that does not resolve is reported, as an error: none is left here.
    resolved = [o for o in outputs if o is not None]
    assert len(resolved) == len(outputs), "an unresolved output was not reported"
    return ex.finish(spec, resolved), ex.diagnostics


# ---- internals -----------------------------------------------------------------------------------


@dataclass
class _Scope:
    prefix: str
    args: dict[str, Any]
    notes: tuple[UseNote, ...]
    stack: tuple[str, ...]  # the blocks being instantiated, outermost first

    @functools.cached_property
    def key(self) -> Any:
        """The arguments as a hashable key (for the layer cache)."""
        return _freeze(self.args)

    def name(self, local: str) -> str:
        return f"{self.prefix}_{local}" if self.prefix else local


@dataclass
class _Tensors:
    """What a local name stands for: one tensor, or a block use's named outputs."""

    by_name: dict[str, str]
    single: str | None

    @staticmethod
    def one(flat: str) -> _Tensors:
        return _Tensors({}, flat)


@dataclass
class _Item:
    """One entry of a layer list or node list: a typed object (top level) or raw data (a block body)."""

    path: Path
    raw: dict | None = None
    obj: Any = None

    @staticmethod
    def top(obj: Any, path: Path) -> _Item:
        return _Item(path, obj=obj)

    def get(self, key: str) -> Any:
        if self.obj is not None:
            if isinstance(self.obj, BlockUse) and key not in type(self.obj).model_fields:
                return self.obj.arguments.get(key)
            return getattr(self.obj, key, None)
        return self.raw.get(key)  # type: ignore[union-attr]

    def has(self, key: str) -> bool:
        if self.obj is not None:
            return self.get(key) is not None
        return key in self.raw  # type: ignore[operator]

    @property
    def is_block(self) -> bool:
        return isinstance(self.obj, BlockUse) if self.obj is not None else "block" in self.raw  # type: ignore[operator]

    @property
    def is_shared(self) -> bool:
        return isinstance(self.obj, SharedNode) if self.obj is not None else "shares" in self.raw  # type: ignore[operator]


class _Expander:
    def __init__(self, blocks: dict[str, Block]):
        self.blocks = blocks
        self.diagnostics: list[Diagnostic] = []
        self.nodes: list[tuple[Any, Origin]] = []  # flat node objects (name and inputs set), in order
        self.uses: list[Use] = []
        self.too_large = False
        self.params = {name: {p: block.param(p) for p in block.params} for name, block in blocks.items()}
        #: Validated layers by (body item, arguments): a block used many times with the same arguments
        #: substitutes and validates each of its layers once.
        self.layer_cache: dict[tuple, Layer] = {}
        self.templates: dict[tuple, _Template] = {}
        #: Body items without any `${...}`: the same layer whatever the arguments.
        self.constant_items: dict[int, bool] = {}

    @property
    def errors(self) -> bool:
        return any(d.severity == "error" for d in self.diagnostics)

    def error(self, code: str, message: str, path: Path, scope: _Scope | None = None, hint: str | None = None) -> None:
        notes = tuple(u.note() for u in scope.notes) if scope is not None else ()
        self.diagnostics.append(Diagnostic(code, message, path, hint=hint, notes=notes))

    # ---- definitions ----------------------------------------------------------------------------

    def check_definitions(self) -> None:
        """The form of every block, used or not: its body and its parameters' names and defaults."""
        for name, block in self.blocks.items():
            path: Path = ("blocks", name)
            graph_keys = [k for k in ("inputs", "nodes", "outputs") if getattr(block, k) is not None]
            if block.layers is not None and graph_keys:
                self.error(
                    "form",
                    f"Block '{name}' has both `layers` (a chain) and `{'`, `'.join(graph_keys)}` (a graph); a block has one body.",
                    path + (graph_keys[0],),
                )
            elif block.layers is None and len(graph_keys) < 3:
                missing = [k for k in ("inputs", "nodes", "outputs") if getattr(block, k) is None]
                if not graph_keys:
                    self.error(
                        "missing-key",
                        f"Block '{name}' needs a body: `layers` (a chain), or `inputs`, `nodes` and `outputs` (a graph).",
                        path,
                    )
                else:
                    self.error(
                        "missing-key",
                        f"Block '{name}' has a graph body without `{'`, `'.join(missing)}`.",
                        path + (missing[0],),
                    )
            for pname in block.params:
                param = block.param(pname)
                ppath = path + ("params", pname)
                if pname in RESERVED:
                    self.error(
                        "value",
                        f"'{pname}' cannot name a block parameter: a block use has a key of that name. "
                        f"Reserved: {', '.join(sorted(RESERVED))}.",
                        ppath,
                    )
                if not param.required:
                    problem = _type_problem(param.default, param.type)
                    if problem:
                        self.error(
                            "type",
                            f"The default of parameter '{pname}' of block '{name}' {problem}.",
                            ppath + ("default",),
                        )
            if block.inputs is not None and len(set(block.inputs)) != len(block.inputs):
                self.error(
                    "duplicate-name",
                    f"Block '{name}' names an input twice. Received: inputs={list(block.inputs)}",
                    path + ("inputs",),
                )

    # ---- bodies ---------------------------------------------------------------------------------

    def chain(self, items: list[_Item], previous: str, scope: _Scope, top: bool = False) -> str | None:
        """A layer list: each item applied to the previous one's output. The flat name of the last output."""
        counters: dict[str, int] = {}
        taken: set[str] = {previous}
        failed = False
        for item in items:
            if item.has("inputs") and not item.is_block:
                self.error(
                    "form",
                    "`inputs` belongs to the graph form; in a layer list each layer takes the previous layer's output.",
                    item.path + ("inputs",),
                    scope,
                    hint="Remove `inputs`, or write the block with `inputs`, `nodes` and `outputs`.",
                )
                failed = True
                continue
            if item.is_block:
                if item.has("inputs"):
                    self.error(
                        "form",
                        "`inputs` belongs to the graph form; in a layer list a block takes the previous output.",
                        item.path + ("inputs",),
                        scope,
                    )
                    failed = True
                    continue
                use_name = self.use_name(item, scope, counters, taken)
                outs = self.instantiate(item, [previous], use_name, scope, top)
                if outs is None:
                    failed = True  # reported; the rest of the list is still checked
                    previous = _UNKNOWN
                    continue
                if len(outs.by_name) > 1:
                    self.error(
                        "arity",
                        f"Block '{item.get('block')}' has {len(outs.by_name)} outputs ({', '.join(outs.by_name)}); in a layer "
                        "list a block must have one. Use the graph form to use several outputs.",
                        item.path + ("block",),
                        scope,
                    )
                    failed = True
                    previous = _UNKNOWN
                    continue
                previous = outs.single  # type: ignore[assignment]
                continue
            local = item.get("name")
            if local is None:
                local = _numbered(
                    base_name(item.get("type")) if isinstance(item.get("type"), str) else "layer",
                    scope,
                    counters,
                    taken,
                )
            elif not self.good_name(local, item.path + ("name",), scope):
                failed = True
                continue
            flat = scope.name(local)
            taken.add(flat)
            if not self.add(item, flat, [previous], scope, top, sequential=True):
                failed = True
            previous = flat
        return None if failed else previous

    def graph(self, items: list[_Item], local: dict[str, _Tensors], scope: _Scope, top: bool = False) -> None:
        """A node list: each node names its inputs; nodes in any order. Fills `local` with every name."""
        defined: dict[str, Path] = {}
        pending: list[_Item] = []
        for item in items:
            name = item.get("name")
            if name is None:
                self.error(
                    "missing-key", "Graph nodes need a `name`.", item.path, scope, hint="Add `name: <node name>`."
                )
                continue
            if not self.good_name(name, item.path + ("name",), scope):
                continue
            if not item.is_block and not item.has("inputs"):
                self.error(
                    "missing-key",
                    f"Node '{name}' needs `inputs`: the names of the inputs or nodes it is applied to.",
                    item.path,
                    scope,
                )
                continue
            if name in local or name in defined:
                self.error(
                    "duplicate-name",
                    f"The name '{name}' is already used; names of inputs and nodes must be unique.",
                    item.path + ("name",),
                    scope,
                )
                continue
            defined[name] = item.path
            if not item.is_block:
                local[name] = _Tensors.one(scope.name(name))
            pending.append(item)
        # Block uses are expanded once their inputs are known, so nodes may come in any order.
        progress = True
        while pending and progress:
            progress = False
            for item in list(pending):
                refs = _as_list(item.get("inputs"))
                if any(_base(r) in defined and _base(r) not in local for r in refs if isinstance(r, str)):
                    continue  # waits for a block use's outputs
                pending.remove(item)
                progress = True
                name = item.get("name")
                flat_inputs = [self.resolve(r, local, item.path + ("inputs", j), scope) for j, r in enumerate(refs)]
                if any(f is None for f in flat_inputs):
                    if item.is_block:
                        local[name] = _Tensors({}, None)
                    continue
                if item.is_block:
                    outs = self.instantiate(item, flat_inputs, scope.name(name), scope, top)  # type: ignore[arg-type]
                    local[name] = outs if outs is not None else _Tensors({}, None)
                else:
                    self.add(item, scope.name(name), flat_inputs, scope, top, sequential=False)  # type: ignore[arg-type]
        for item in pending:
            self.error(
                "cycle",
                f"Node '{item.get('name')}' depends, through its inputs, on a block use that depends on it: the graph has a cycle.",
                item.path + ("inputs",),
                scope,
            )

    def resolve(self, ref: Any, local: dict[str, _Tensors], path: Path, scope: _Scope) -> str | None:
        """The flat name of a reference (`name` or `use.output`)."""
        if not isinstance(ref, str) or not (_LOCAL_REF if scope.prefix else _REF).match(ref):
            self.error("value", f"A reference must be a name, or USE.OUTPUT. Received: {_show(ref)}", path, scope)
            return None
        base, _, out = ref.partition(".")
        tensors = local.get(base)
        if tensors is None:
            hint = did_you_mean(base, list(local))
            self.error(
                "undefined-node",
                f"'{ref}' is not an input or node {'of this block' if scope.prefix else 'of this model'}. Received: {ref}",
                path,
                scope,
                hint=hint or (f"Defined names: {', '.join(local)}." if local else None),
            )
            return None
        if not tensors.by_name and tensors.single is None:
            return None  # the use failed to expand: already reported
        if out:
            if out not in tensors.by_name:
                names = list(tensors.by_name) or ["(one unnamed output)"]
                self.error(
                    "undefined-node",
                    f"'{base}' has no output '{out}'. Its outputs: {', '.join(names)}. Received: {ref}",
                    path,
                    scope,
                    hint=did_you_mean(out, tensors.by_name),
                )
                return None
            return tensors.by_name[out]
        if tensors.single is None:
            self.error(
                "undefined-node",
                f"'{base}' has {len(tensors.by_name)} outputs ({', '.join(tensors.by_name)}): name one, e.g. '{base}.{next(iter(tensors.by_name))}'.",
                path,
                scope,
            )
            return None
        return tensors.single

    def use_name(self, item: _Item, scope: _Scope, counters: dict[str, int], taken: set[str]) -> str:
        name = item.get("name")
        if name is not None:
            return scope.name(name)
        local = _numbered(str(item.get("block")), scope, counters, taken)
        taken.add(scope.name(local))
        return scope.name(local)

    def good_name(self, name: Any, path: Path, scope: _Scope) -> bool:
        if isinstance(name, str) and (_LOCAL_NAME if scope.prefix else _NAME).match(name) and len(name) <= 128:
            return True
        rule = "letters, digits and '_'" + ("" if scope.prefix else ", not starting with a digit")
        self.error("value", f"A name must be {rule}. Received: name={_show(name)}", path, scope)
        return False

    # ---- one flat node ----------------------------------------------------------------------------

    def add(self, item: _Item, flat: str, inputs: list[str], scope: _Scope, top: bool, sequential: bool) -> bool:
        if len(self.nodes) >= MAX_NODES:
            if not self.too_large:
                self.too_large = True
                self.error("too-large", f"The expanded model has more than {MAX_NODES:,} nodes.", item.path, scope)
            return False
        origin = Origin(item.path, scope.notes, explicit_inputs=not sequential)
        if item.obj is not None:  # a top-level layer or shared call, already validated
            if isinstance(item.obj, SharedNode):
                obj = item.obj.model_copy(update={"inputs": inputs})
            else:
                obj = item.obj.model_copy(update={"name": flat, "inputs": inputs})
            self.nodes.append((obj, origin))
            return True
        raw_id = id(item.raw)
        constant = self.constant_items.get(raw_id)
        if constant is None:
            constant = self.constant_items[raw_id] = not _has_expression(item.raw)
        cache_key = (raw_id, None if constant else scope.key)
        cached = self.layer_cache.get(cache_key)
        if cached is not None:
            self.nodes.append((_renamed(cached, flat, inputs), origin))
            return True
        data = {}
        ok = True
        for key, value in item.raw.items():  # type: ignore[union-attr]
            if key in ("name", "inputs"):
                continue
            if key == "shares":
                data[key] = value
                continue
            sub = self.substitute(value, scope.args, item.path + (key,), scope)
            ok = ok and sub is not _FAILED
            data[key] = sub
        if not ok:
            return False
        if "shares" in data:
            target = data["shares"]
            if not isinstance(target, str) or not _LOCAL_NAME.match(target):
                self.error(
                    "value",
                    f"`shares` must name a layer node of this block. Received: shares={_show(target)}",
                    item.path + ("shares",),
                    scope,
                )
                return False
            extra = [k for k in data if k != "shares"]
            if extra:
                self.error(
                    "unknown-key",
                    f"Unknown key '{extra[0]}' in a shared call (`{{name, shares, inputs}}`).",
                    item.path + (extra[0],),
                    scope,
                )
                return False
            obj = SharedNode.model_construct(name=flat, shares=scope.name(target), inputs=inputs)
            self.nodes.append((obj, origin))
            return True
        try:
            layer = parse_layer(data)
        except ValidationError as exc:
            from .structure import translate

            for d in translate(exc.errors(include_url=False, include_context=True), data):
                self.diagnostics.append(_moved(d, item.path, scope))
            return False
        self.layer_cache[cache_key] = layer
        self.nodes.append((_renamed(layer, flat, inputs), origin))
        return True

    def substitute(self, value: Any, args: dict[str, Any], path: Path, scope: _Scope, names: dict | None = None) -> Any:
        """`value` with every `${...}` replaced by its value; `_FAILED` (after a diagnostic) when one has none."""
        text = expression_of(value)
        if text is not None:
            try:
                return evaluate(text, names if names is not None else args)
            except ExprError as exc:
                self.error("expression", f"Cannot evaluate `{_show(value)}`: {exc}", path, scope)
                return _FAILED
        if has_expression_marker(value):
            self.error(
                "expression",
                f'An expression must be the whole value, `"${{...}}"`; kspec does not interpolate into text. Received: {_show(value)}',
                path,
                scope,
            )
            return _FAILED
        if isinstance(value, list):
            out = [self.substitute(v, args, path + (i,), scope, names) for i, v in enumerate(value)]
            return _FAILED if any(v is _FAILED for v in out) else out
        if isinstance(value, dict):
            out_d = {k: self.substitute(v, args, path + (k,), scope, names) for k, v in value.items()}
            return _FAILED if any(v is _FAILED for v in out_d.values()) else out_d
        return value

    # ---- block uses -------------------------------------------------------------------------------

    def instantiate(self, item: _Item, inputs: list[str], prefix: str, scope: _Scope, top: bool) -> _Tensors | None:
        name = item.get("block")
        if not isinstance(name, str):
            self.error(
                "type",
                f"`block` must be the name of a block, a string. Received: block={_show(name)}",
                item.path + ("block",),
                scope,
            )
            return None
        block = self.blocks.get(name)
        if block is None:
            known = list(self.blocks)
            self.error(
                "unknown-block",
                f"Unknown block {_show(name)}: blocks are defined under `blocks`. Received: block={_show(name)}",
                item.path + ("block",),
                scope,
                hint=did_you_mean(str(name), known)
                or (f"Defined blocks: {', '.join(known)}." if known else "Define it under `blocks:`."),
            )
            return None
        if name in scope.stack:
            cycle = " -> ".join(scope.stack[scope.stack.index(name) :] + (name,))
            self.error(
                "cycle",
                f"Block '{name}' uses itself: {cycle}. Blocks cannot be recursive.",
                item.path + ("block",),
                scope,
            )
            return None
        if block.layers is None and (block.inputs is None or block.nodes is None or block.outputs is None):
            return None  # reported with the definitions
        n_in = 1 if block.layers is not None else len(block.inputs)  # type: ignore[arg-type]
        n_out = 1 if block.layers is not None else len(block.outputs)  # type: ignore[arg-type]
        if len(inputs) != n_in:
            self.error(
                "arity",
                f"Block '{name}' takes {n_in} input tensor(s){' (' + ', '.join(block.inputs) + ')' if block.inputs else ''}. "
                f"Received: {len(inputs)} (inputs={list(inputs)})",
                item.path + ("inputs",) if item.has("inputs") else item.path,
                scope,
            )
            return None
        repeat = self.repeat_count(item, scope)
        if repeat is None:
            return None
        if repeat != 1 and n_in != n_out:
            self.error(
                "arity",
                f"Block '{name}' has {n_in} input(s) and {n_out} output(s): a repeated block feeds its outputs to its next "
                f"repetition's inputs, so it needs as many of each. Received: repeat={repeat}",
                item.path + ("repeat",),
                scope,
            )
            return None
        out_names = ["output"] if block.layers is not None else list(block.outputs)  # type: ignore[arg-type]
        use = Use(item.get("name") or prefix, item.path, name, repeat) if top else None
        first = len(self.nodes)
        current = list(inputs)
        # Arguments that do not mention `index` are the same in every repetition: evaluated once.
        varies = repeat > 1 and _mentions_index(item.obj.arguments if item.obj is not None else item.raw)
        args = None
        for rep in range(repeat):
            if args is None or varies:
                args = self.arguments(item, block, name, scope, rep, repeat)
            if args is None:
                return None
            inst_prefix = prefix if repeat == 1 else f"{prefix}{'_' if prefix[-1].isdigit() else ''}{rep + 1}"
            use_note = UseNote(
                name, inst_prefix, tuple(args.items()), (rep + 1, repeat) if repeat > 1 else None, item.path
            )
            inner = _Scope(inst_prefix, args, (use_note,) + scope.notes, scope.stack + (name,))
            outs = self.instantiated_body(block, name, current, inner)
            if outs is None:
                return None
            current = outs
        if use is not None:
            use.nodes = [n.name for n, _ in self.nodes[first:]]
            use.outputs = list(current)
            self.uses.append(use)
        if len(current) == 1:
            return _Tensors(dict(zip(out_names, current)), current[0])
        return _Tensors(dict(zip(out_names, current)), None)

    def repeat_count(self, item: _Item, scope: _Scope) -> int | None:
        value = item.get("repeat")
        if value is None:
            return 1
        value = self.substitute(value, scope.args, item.path + ("repeat",), scope)
        if value is _FAILED:
            return None
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 10_000:
            self.error(
                "value",
                f"`repeat` must be an integer from 0 to 10000. Received: repeat={_show(value)}",
                item.path + ("repeat",),
                scope,
            )
            return None
        return value

    def arguments(
        self, item: _Item, block: Block, name: str, scope: _Scope, rep: int, repeat: int
    ) -> dict[str, Any] | None:
        """The block's parameters for one repetition: the use's arguments (evaluated with `index`), then defaults."""
        if item.obj is not None:
            given = item.obj.arguments
        else:
            given = {k: v for k, v in item.raw.items() if k not in USE_KEYS}  # type: ignore[union-attr]
        names = dict(scope.args)
        names["index"] = rep
        params = self.params[name]
        args: dict[str, Any] = {}
        ok = True
        misspelled: set[str] = set()
        for key, value in given.items():
            path = item.path + (key,)
            if key not in block.params:
                allowed = list(block.params)
                hint = did_you_mean(str(key), allowed + ["name", "inputs", "repeat"])
                meant = suggestion(hint)
                if meant is not None:
                    misspelled.add(meant)  # one mistake: not also a missing parameter
                self.error(
                    "unknown-key",
                    f"Block '{name}' has no parameter {_show(key)}. Received: {key}={_show(value)}",
                    path,
                    scope,
                    hint=hint
                    or (f"Its parameters: {', '.join(allowed)}." if allowed else f"Block '{name}' has no parameters."),
                )
                ok = False
                continue
            value = self.substitute(value, scope.args, path, scope, names)
            if value is _FAILED:
                ok = False
                continue
            problem = _type_problem(value, params[key].type)
            if problem:
                self.error("type", f"Parameter '{key}' of block '{name}' {problem}.", path, scope)
                ok = False
                continue
            args[key] = value
        for pname, param in params.items():
            if pname not in args and pname not in given:
                if param.required and pname in misspelled:
                    ok = False
                elif param.required:
                    self.error(
                        "missing-key", f"Block '{name}' needs the parameter '{pname}' ({param.type}).", item.path, scope
                    )
                    ok = False
                else:
                    args[pname] = param.default
        return {k: args[k] for k in block.params if k in args} if ok else None

    def instantiated_body(self, block: Block, name: str, inputs: list[str], scope: _Scope) -> list[str] | None:
        """`body`, or a replay of an earlier instantiation of the same block with the same arguments: its nodes
        renamed to this use's prefix and inputs (a ResNet-50 has 16 bottlenecks but 8 distinct ones)."""
        key = (name, scope.key)
        template = self.templates.get(key)
        if template is not None and len(self.nodes) + len(template.nodes) <= MAX_NODES:
            return template.replay(self, inputs, scope)
        first, before = len(self.nodes), len(self.diagnostics)
        outs = self.body(block, ("blocks", name), inputs, scope)
        if outs is not None and len(self.diagnostics) == before:
            self.templates[key] = _Template(self.nodes[first:], inputs, outs, scope)
        return outs

    def body(self, block: Block, path: Path, inputs: list[str], scope: _Scope) -> list[str] | None:
        before = len(self.diagnostics)
        if block.layers is not None:
            items = [_Item(path + ("layers", i), raw=raw) for i, raw in enumerate(block.layers)]
            out = self.chain(items, inputs[0], scope)
            return [out] if out is not None and len(self.diagnostics) == before else None
        local = {name: _Tensors.one(flat) for name, flat in zip(block.inputs, inputs)}  # type: ignore[arg-type]
        items = [_Item(path + ("nodes", i), raw=raw) for i, raw in enumerate(block.nodes)]  # type: ignore[arg-type]
        self.graph(items, local, scope)
        outs = [self.resolve(ref, local, path + ("outputs", j), scope) for j, ref in enumerate(block.outputs)]  # type: ignore[arg-type]
        if any(o is None for o in outs) or len(self.diagnostics) != before:
            return None
        return outs  # type: ignore[return-value]

    # ---- the flat model ---------------------------------------------------------------------------

    def finish(self, spec: Spec, outputs: list[str]) -> Expansion:
        nodes = [n for n, _ in self.nodes]
        origins = [o for _, o in self.nodes]
        if isinstance(spec.model, SequentialModel):
            top_uses = self._top_layers(spec)
            input_name = spec.model.input.name or "input_layer"
            previous = input_name
            linear = True
            for node in nodes:
                if isinstance(node, SharedNode) or list(node.inputs) != [previous]:
                    linear = False
                    break
                previous = node.name
            if linear:
                flat = [n.model_copy(update={"inputs": None}) for n in nodes]
                model: Any = SequentialModel.model_construct(input=spec.model.input, layers=flat)
                return Expansion(model, origins, top_uses)
            inp = spec.model.input.model_copy(update={"name": input_name})
            model = GraphModel.model_construct(inputs=[inp], nodes=nodes, outputs=outputs)
            last = origins[-1].path if origins else ("model", "layers")
            return Expansion(model, origins, top_uses, {0: ("model", "input")}, {0: last})
        model = GraphModel.model_construct(inputs=list(spec.model.inputs), nodes=nodes, outputs=outputs)
        return Expansion(model, origins, self._top_layers(spec))

    def _top_layers(self, spec: Spec) -> list[Use]:
        """The model's items in order: each block use (recorded while expanding) or plain layer."""
        by_path = {u.path: u for u in self.uses}
        out: list[Use] = []
        for node, origin in self.nodes:
            if not origin.instantiated:
                out.append(Use(node.name, origin.path, nodes=[node.name], outputs=[node.name]))
        items = spec.model.layers if isinstance(spec.model, SequentialModel) else spec.model.nodes
        order: dict[Path, int] = {
            ("model", "layers" if isinstance(spec.model, SequentialModel) else "nodes", i): i for i in range(len(items))
        }
        everything = out + list(by_path.values())
        return sorted(everything, key=lambda u: order.get(u.path, len(order)))


class _Template:
    """The nodes one instantiation of a block added, to be replayed for another use with the same arguments."""

    def __init__(self, nodes: list[tuple[Any, Origin]], inputs: list[str], outputs: list[str], scope: _Scope):
        self.nodes = list(nodes)
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.prefix = scope.prefix + "_"
        self.depth = len(scope.notes)  # the uses around the instantiation, shared by all its nodes

    def replay(self, ex: _Expander, inputs: list[str], scope: _Scope) -> list[str]:
        old_inputs = dict(zip(self.inputs, inputs))
        old, new = self.prefix, scope.prefix + "_"
        cut = len(old)

        def rename(flat: str) -> str:
            if flat in old_inputs:
                return old_inputs[flat]
            return new + flat[cut:] if flat.startswith(old) else flat

        for obj, origin in self.nodes:
            inputs_ = [rename(r) for r in obj.inputs]
            copy_: SharedNode | Layer
            if isinstance(obj, SharedNode):
                copy_ = SharedNode.model_construct(name=rename(obj.name), shares=rename(obj.shares), inputs=inputs_)
            else:
                copy_ = _renamed(obj, rename(obj.name), inputs_)
            replayed = (origin, old, new, self.depth, scope.notes)
            ex.nodes.append((copy_, Origin(origin.path, (), origin.explicit_inputs, replayed)))
        return [rename(o) for o in self.outputs]


class _Failed:
    def __repr__(self) -> str:
        return "<failed>"


_FAILED = _Failed()
#: The output of a use that failed to expand, so that the rest of a layer list is still checked.
_UNKNOWN = "<unknown>"


def _renamed(layer: Layer, name: str, inputs: list[str]) -> Layer:
    """A copy of a validated layer with another name and inputs (what `model_copy(update=...)` does,
    without its generic machinery: a copy per layer call of ResNet-50 was a tenth of a check)."""
    new = object.__new__(type(layer))
    state = layer.__dict__.copy()
    state["name"] = name
    state["inputs"] = inputs
    _set = object.__setattr__
    _set(new, "__dict__", state)
    fields = layer.__pydantic_fields_set__
    _set(new, "__pydantic_fields_set__", fields if "name" in fields and "inputs" in fields else fields | _NAME_INPUTS)
    _set(new, "__pydantic_extra__", layer.__pydantic_extra__)
    _set(new, "__pydantic_private__", layer.__pydantic_private__)
    return new


_NAME_INPUTS = frozenset({"name", "inputs"})


def _numbered(base: str, scope: _Scope, counters: dict[str, int], taken: set[str]) -> str:
    """Keras's automatic names: `base`, then `base_1`, `base_2`, ..., skipping names already taken."""
    n = counters.get(base, 0)
    local = base if n == 0 else f"{base}_{n}"
    while scope.name(local) in taken:
        n += 1
        local = f"{base}_{n}"
    counters[base] = n + 1
    return local


def _any_text(value: Any, test: Any) -> bool:
    """Whether `test` holds for a string anywhere in `value` (lists and mappings walked)."""
    if isinstance(value, str):
        return test(value)
    if isinstance(value, dict):
        return any(_any_text(v, test) for v in value.values())
    if isinstance(value, list):
        return any(_any_text(v, test) for v in value)
    return False


def _mentions_index(value: Any) -> bool:
    """Whether an expression in `value` may read `index` (conservatively: the word appears in one)."""
    return _any_text(value, lambda s: "${" in s and "index" in s)


def _has_expression(value: Any) -> bool:
    return _any_text(value, lambda s: "${" in s)


def _freeze(value: Any) -> Any:
    """A hashable, type-exact key for argument values (1, 1.0 and true stay apart)."""
    if isinstance(value, dict):
        return tuple((k, _freeze(v)) for k, v in value.items())
    if isinstance(value, list):
        return ("list",) + tuple(_freeze(v) for v in value)
    return (type(value).__name__, value)


def _moved(d: Diagnostic, prefix: Path, scope: _Scope) -> Diagnostic:
    from dataclasses import replace

    return replace(d, path=prefix + d.path, notes=d.notes + tuple(u.note() for u in scope.notes))


def _type_problem(value: Any, kind: str) -> str | None:
    if kind == "int":
        ok = type(value) is int
    elif kind == "float":
        ok = type(value) is int or (type(value) is float and math.isfinite(value))
    elif kind == "bool":
        ok = type(value) is bool
    elif kind == "str":
        ok = isinstance(value, str)
    elif kind == "list":
        ok = isinstance(value, list)
    else:  # any
        ok = not (isinstance(value, float) and not math.isfinite(value))
    if ok:
        return None
    words = {
        "int": "an integer",
        "float": "a number",
        "bool": "a boolean",
        "str": "a string",
        "list": "a list",
        "any": "a finite value",
    }
    return f"must be {words[kind]}. Received: {_show(value)}"


def _as_list(value: Any) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _base(ref: str) -> str:
    return ref.partition(".")[0]


def _brief(value: Any) -> str:
    """`_show` for the values of a note, with a fast path for the usual small ones."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and -1e15 < value < 1e15:
        return repr(value)
    return _show(value)


def _show(value: Any) -> str:
    from .structure import _show as show

    return show(value)


__all__ = ["Expansion", "Origin", "Use", "expand", "uses_blocks"]
