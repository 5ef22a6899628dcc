"""Stage: infer. The flat graph of a Spec, checked (names, references, cycles, reachability), then
every tensor's shape and every layer's parameter count, statically and without Keras.

`infer(spec)` returns an `Inference`: one `NodeInfo` per layer call, in
execution order, the model's input and output tensors, parameter totals, and
the diagnostics found. A node whose rule fails gets no output, and the nodes
that depend on it are skipped silently, so one mistake gives one error.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, cast

from .diagnostics import Diagnostic, Path, did_you_mean
from .spec import GraphModel, SequentialModel, SharedNode, Spec
from .spec.layers import Layer, ShapeError, Tensor, shape_str


@dataclass
class NodeInfo:
    name: str
    layer: Layer
    path: Path
    inputs: tuple[str, ...]
    output: Tensor | None = None
    params: int = 0
    non_trainable: int = 0
    shares: str | None = None  # set on a second call of another node's layer (params counted there)
    #: For a spec with blocks: where the node is written and the block uses that made it (`kspec.expand.Origin`).
    origin: Any = None

    @property
    def notes(self) -> tuple:
        """A note for each block use that instantiated this node, innermost first."""
        return self.origin.notes if self.origin is not None else ()

    @property
    def layer_type(self) -> str:
        return self.layer.layer_type


@dataclass
class Inference:
    inputs: dict[str, Tensor] = field(default_factory=dict)
    nodes: list[NodeInfo] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    #: The model compiles to `keras.Sequential` (the sequential form, also after expanding blocks into a chain).
    sequential: bool = True
    #: Blocks could not be expanded (the diagnostics say why): there is no flat graph to infer.
    failed: bool = False
    #: How blocks were expanded (`kspec.expand.Expansion`), or None for a spec without blocks.
    expansion: Any = None
    _index: dict[str, NodeInfo] = field(default_factory=dict, repr=False, compare=False)
    _indexed: int = field(default=0, repr=False, compare=False)  # how many of `nodes` are in `_index`

    def node(self, name: str) -> NodeInfo | None:
        # Indexes only the nodes appended since the last call (rebuilding it on every call made checking
        # n layers take n**2 time: 66,000 layers took minutes). The last node with a name wins.
        if self._indexed > len(self.nodes):
            self._index, self._indexed = {}, 0
        for n in self.nodes[self._indexed :]:
            self._index[n.name] = n
        self._indexed = len(self.nodes)
        return self._index.get(name)

    def tensor(self, name: str) -> Tensor | None:
        if name in self.inputs:
            return self.inputs[name]
        node = self.node(name)
        return node.output if node else None

    @property
    def output_tensors(self) -> dict[str, Tensor | None]:
        return {name: self.tensor(name) for name in self.outputs}

    @property
    def total_params(self) -> int:
        return sum(n.params for n in self.nodes if n.shares is None)

    @property
    def non_trainable_params(self) -> int:
        return sum(n.non_trainable for n in self.nodes if n.shares is None)

    @property
    def trainable_params(self) -> int:
        return self.total_params - self.non_trainable_params

    @property
    def complete(self) -> bool:
        return not self.failed and all(n.output is not None for n in self.nodes)


@functools.cache
def to_snake_case(name: str) -> str:
    """Keras's automatic layer names: `MaxPooling2D` -> `max_pooling2d`."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    name = re.sub(r"([a-z])([A-Z])", r"\1_\2", name)
    return name.lower()


def infer(spec: Spec) -> Inference:
    """Shapes and parameter counts of every layer call; blocks are expanded first (`kspec.expand`).

    Paths of nodes and diagnostics point at the spec as written: a node made by a block points at
    its line in the block's definition, with a note for each block use that instantiated it.
    """
    from .expand import expand, uses_blocks

    if not uses_blocks(spec):
        return _flat(spec.model)
    expansion, problems = expand(spec)
    if expansion is None:
        return Inference(diagnostics=problems, failed=True, sequential=isinstance(spec.model, SequentialModel))
    result = _flat(expansion.model)
    result.diagnostics = problems + [expansion.place(d) for d in result.diagnostics]
    for node in result.nodes:
        node.path, node.origin = expansion.origin(node.path)
    result.expansion = expansion
    return result


def _flat(model: SequentialModel | GraphModel) -> Inference:
    if isinstance(model, SequentialModel):
        return _sequential(model)
    result = _graph(model)
    result.sequential = False
    return result


# ---- sequential ---------------------------------------------------------------------------------


def _sequential(model: SequentialModel) -> Inference:
    result = Inference()
    input_name = model.input.name or "input_layer"
    result.inputs[input_name] = Tensor((None,) + model.input.shape, model.input.dtype)
    _check_input_dtype(result, model.input.dtype, ("model", "input", "dtype"))
    taken: dict[str, Path] = {input_name: ("model", "input")}
    counters: dict[str, int] = {}
    previous = input_name
    for i, item in enumerate(model.layers):
        layer = cast(Layer, item)  # `infer` expands block uses first: only layers are left
        path: Path = ("model", "layers", i)
        if layer.inputs is not None:
            result.diagnostics.append(
                Diagnostic(
                    "form",
                    "`inputs` belongs to the graph form; in the sequential form each layer takes the previous layer's output.",
                    path + ("inputs",),
                    hint="Remove `inputs`, or write the model in the graph form (`inputs`, `nodes`, `outputs`).",
                )
            )
        if layer.name is not None:
            name = layer.name
            if name in taken:
                result.diagnostics.append(_duplicate(name, path + ("name",), taken[name]))
        else:
            base = to_snake_case(layer.layer_type)
            n = counters.get(base, 0)
            name = base if n == 0 else f"{base}_{n}"
            while name in taken:
                n += 1
                name = f"{base}_{n}"
            counters[base] = n + 1
        taken.setdefault(name, path)
        node = NodeInfo(name, layer, path, (previous,))
        result.nodes.append(node)
        if layer.min_inputs > 1:
            result.diagnostics.append(
                Diagnostic(
                    "arity",
                    f"Layer '{layer.layer_type}' takes at least {layer.min_inputs} input tensors, "
                    "but in the sequential form every layer gets exactly one.",
                    path,
                    hint="Write the model in the graph form to combine several tensors.",
                )
            )
        else:
            _apply(result, node, [result.tensor(previous)])
        previous = name
    result.outputs = [previous]
    return result


# ---- graph ---------------------------------------------------------------------------------------


def _graph(model: GraphModel) -> Inference:
    result = Inference()
    defined: dict[str, Path] = {}
    for i, inp in enumerate(model.inputs):
        path: Path = ("model", "inputs", i)
        if inp.name is None:
            result.diagnostics.append(
                Diagnostic("missing-key", "Graph-form inputs need a `name`.", path, hint="Add `name: <input name>`.")
            )
            continue
        if inp.name in defined:
            result.diagnostics.append(_duplicate(inp.name, path + ("name",), defined[inp.name]))
            continue
        defined[inp.name] = path + ("name",)
        result.inputs[inp.name] = Tensor((None,) + inp.shape, inp.dtype)
        _check_input_dtype(result, inp.dtype, path + ("dtype",))

    # First pass: names, and the form of each node.
    nodes: dict[str, NodeInfo] = {}
    layer_nodes: dict[str, NodeInfo] = {}
    all_refs: dict[str, list[str]] = {}  # every entry's inputs by name, duplicates included
    for i, node_spec in enumerate(model.nodes):
        path = ("model", "nodes", i)
        if node_spec.name is not None and node_spec.inputs is not None:
            all_refs.setdefault(node_spec.name, []).extend(node_spec.inputs)
        if node_spec.name is None:
            result.diagnostics.append(
                Diagnostic("missing-key", "Graph-form nodes need a `name`.", path, hint="Add `name: <node name>`.")
            )
            continue
        if node_spec.inputs is None:
            result.diagnostics.append(
                Diagnostic(
                    "missing-key",
                    f"Node '{node_spec.name}' needs `inputs`: the names of the inputs or nodes it is applied to.",
                    path,
                )
            )
            continue
        if node_spec.name in defined:
            result.diagnostics.append(_duplicate(node_spec.name, path + ("name",), defined[node_spec.name]))
            continue
        defined[node_spec.name] = path + ("name",)
        if isinstance(node_spec, SharedNode):
            info = NodeInfo(node_spec.name, None, path, tuple(node_spec.inputs), shares=node_spec.shares)  # type: ignore[arg-type]
        else:
            info = NodeInfo(node_spec.name, cast(Layer, node_spec), path, tuple(node_spec.inputs))
            layer_nodes[info.name] = info
        nodes[info.name] = info

    # Second pass: references.
    ok_refs: dict[str, NodeInfo] = {}
    for info in nodes.values():
        bad = False
        for j, ref in enumerate(info.inputs):
            if ref not in defined:
                bad = True
                result.diagnostics.append(_undefined(ref, info.path + ("inputs", j), list(defined)))
        if info.shares is not None:
            target = layer_nodes.get(info.shares)
            if target is None:
                bad = True
                hint = did_you_mean(info.shares, layer_nodes)
                what = (
                    "a model input"
                    if info.shares in result.inputs
                    else ("itself a shared call" if info.shares in nodes else "not defined")
                )
                result.diagnostics.append(
                    Diagnostic(
                        "undefined-node",
                        f"`shares` must name a layer node; '{info.shares}' is {what}. Received: shares={info.shares}",
                        info.path + ("shares",),
                        hint=hint,
                    )
                )
            else:
                info.layer = target.layer
        if not bad:
            ok_refs[info.name] = info
    for j, out in enumerate(model.outputs):
        if out not in defined:
            result.diagnostics.append(_undefined(out, ("model", "outputs", j), list(defined)))
    if len(set(model.outputs)) != len(model.outputs):
        result.diagnostics.append(
            Diagnostic(
                "duplicate-name",
                f"Each output may be listed once. Received: outputs={list(model.outputs)}",
                ("model", "outputs"),
            )
        )
    result.outputs = list(model.outputs)

    order = _toposort(ok_refs, result)
    _check_reachability(model, nodes, all_refs, result)
    for info in order:
        result.nodes.append(info)
        tensors = [result.tensor(ref) for ref in info.inputs]
        if any(t is None for t in tensors):
            continue  # an upstream error was already reported
        layer = info.layer
        if not layer.min_inputs <= len(tensors) <= layer.max_inputs:
            expected = (
                f"exactly {layer.min_inputs}"
                if layer.min_inputs == layer.max_inputs
                else f"between {layer.min_inputs} and {layer.max_inputs}"
            )
            result.diagnostics.append(
                Diagnostic(
                    "arity",
                    f"Layer '{layer.layer_type}' takes {expected} input tensors. Received: {len(tensors)} "
                    f"(inputs={list(info.inputs)})",
                    info.path + ("inputs",),
                )
            )
            continue
        _apply(result, info, tensors)
        if info.shares is not None and info.output is not None:
            first = ok_refs.get(info.shares) or nodes.get(info.shares)
            if first is not None and first.output is not None and first.params != info.params:
                result.diagnostics.append(
                    Diagnostic(
                        "shared-layer",
                        f"Node '{info.name}' calls the layer of '{info.shares}' on inputs its weights do not fit: "
                        f"the weights built for {_shapes(result, first)} would need {info.params} parameters "
                        f"instead of {first.params} for {_shapes(result, info)}.",
                        info.path + ("inputs",),
                        hint="A shared layer must see inputs with the same feature dimensions at every call.",
                    )
                )
                info.output = None
    return result


def _shapes(result: Inference, info: NodeInfo) -> str:
    return ", ".join(str(result.tensor(r)) for r in info.inputs)


def _toposort(nodes: dict[str, NodeInfo], result: Inference) -> list[NodeInfo]:
    """Nodes in dependency order; a cycle is reported once, with its members."""
    order: list[NodeInfo] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def deps(name: str) -> tuple[str, ...]:
        # A shared call runs after the node that defines its layer: Keras builds a layer's
        # weights at its first call, and kspec's weights are those of the defining node.
        info = nodes[name]
        return info.inputs + ((info.shares,) if info.shares is not None else ())

    def visit(name: str, stack: list[str]) -> None:
        # Iterative DFS to keep deep graphs off the recursion limit.
        work = [(name, iter(deps(name)))]
        state[name] = 1
        stack.append(name)
        while work:
            current, it = work[-1]
            advanced = False
            for ref in it:
                if ref not in nodes:
                    continue  # a model input or an already-reported reference
                if state.get(ref) == 1:
                    cycle = stack[stack.index(ref) :] + [ref]
                    sharing = [n for n in cycle if nodes[n].shares in cycle]
                    if sharing:
                        call = nodes[sharing[0]]
                        message = (
                            f"Node '{call.shares}' depends on '{call.name}', which calls its layer again: a shared "
                            "call runs after the node that defines the layer (whose inputs build the weights). "
                            f"Dependencies: {' -> '.join(reversed(cycle))}."
                        )
                        hint = f"Define the layer on the first call ('{call.name}') and share it in '{call.shares}'."
                    else:
                        message = f"The graph has a cycle: {' -> '.join(reversed(cycle))}. A node cannot depend on its own output."
                        hint = None
                    result.diagnostics.append(Diagnostic("cycle", message, nodes[ref].path + ("inputs",), hint=hint))
                    continue
                if state.get(ref) is None:
                    state[ref] = 1
                    stack.append(ref)
                    work.append((ref, iter(deps(ref))))
                    advanced = True
                    break
            if not advanced:
                work.pop()
                stack.pop()
                state[current] = 2
                order.append(nodes[current])

    for name in nodes:
        if name not in state:
            visit(name, [])
    return order


def _check_reachability(
    model: GraphModel, nodes: dict[str, NodeInfo], all_refs: dict[str, list[str]], result: Inference
) -> None:
    needed: set[str] = set()
    work = [o for o in model.outputs]
    while work:
        name = work.pop()
        if name in needed:
            continue
        needed.add(name)
        work.extend(all_refs.get(name, ()))
    for info in nodes.values():
        if info.name not in needed:
            result.diagnostics.append(
                Diagnostic(
                    "unused-node",
                    f"Node '{info.name}' does not lead to any model output, so it would never run.",
                    info.path + ("name",),
                    hint="Use it as an input of another node or list it in `outputs`, or remove it.",
                    policy="unused-node",
                )
            )
    for i, inp in enumerate(model.inputs):
        if inp.name is not None and inp.name not in needed:
            result.diagnostics.append(
                Diagnostic(
                    "unused-node",
                    f"Input '{inp.name}' does not lead to any model output.",
                    ("model", "inputs", i, "name"),
                    hint="Feed it to a node, or remove it.",
                    policy="unused-node",
                )
            )


# ---- shared helpers ----------------------------------------------------------------------------


def _check_input_dtype(result: Inference, dtype: str, path: Path) -> None:
    """An input dtype that a Keras backend cannot hold: PyTorch has no uint64 tensors (any model with such an
    input fails there when run), so it is refused on every backend (portability policy)."""
    if dtype == "uint64":
        from .backends import portability_note

        result.diagnostics.append(
            Diagnostic(
                "value",
                "Input dtype uint64 is not supported: PyTorch has no uint64 tensors. " + portability_note(("torch",)),
                path,
                hint="Use int64 (or int32) for integer inputs.",
                policy="portability",
                backends=("torch",),
            )
        )


def _apply(result: Inference, info: NodeInfo, tensors: list[Tensor | None]) -> None:
    if any(t is None for t in tensors):
        return
    try:
        inferred = info.layer.apply(list(tensors))  # type: ignore[arg-type]
        _refuse_constant(info, inferred.output)
        _refuse_masked_softmax(result, info)
    except ShapeError as exc:
        where = info.path if info.shares is not None or exc.field is None else info.path + (exc.field,)
        shapes = ", ".join(shape_str(t.shape) for t in tensors)  # type: ignore[union-attr]
        result.diagnostics.append(
            Diagnostic(
                exc.code,
                f"{exc} (layer '{info.name}' applied to {shapes})",
                where,
                policy=exc.policy,
                backends=exc.backends,
            )
        )
        return
    info.output = inferred.output
    info.params = inferred.params
    info.non_trainable = inferred.non_trainable


@dataclass(frozen=True)
class OutputEnd:
    """How an output's values were made: the activation applied last, and the layers after it that pass its
    values on (`Layer.passes_values`), which may scale them up (dropout) or add noise of either sign."""

    activation: str
    #: The layer types after the activation, in order.
    after: tuple[str, ...] = ()
    #: A layer after the activation multiplies values by factors above 1: an upper bound such as 1 is lost.
    scaled: bool = False
    #: The last layer after the activation that moves values either way (noise, an overshooting interpolation):
    #: no bound is left.
    noise: str | None = None

    def __str__(self) -> str:
        return f"activation '{self.activation}'" + (f" (then {', '.join(self.after)})" if self.after else "")


def upstream(inference: Inference, name: str) -> tuple[list[NodeInfo], list[str]]:
    """The nodes that tensor `name` is computed from (nearest first) and the model inputs it needs."""
    nodes: list[NodeInfo] = []
    inputs: list[str] = []
    seen: set[str] = set()
    stack = [name]
    while stack:
        current = stack.pop(0)
        if current in seen:
            continue
        seen.add(current)
        if current in inference.inputs:
            inputs.append(current)
            continue
        node = inference.node(current)
        if node is None:
            continue
        if current != name:
            nodes.append(node)
        stack.extend(node.inputs)
    return nodes, sorted(inputs, key=list(inference.inputs).index)


def output_end(inference: Inference, name: str) -> OutputEnd | None:
    """The activation that made the values of tensor `name`, looking back through layers that pass values on
    (`Layer.value_passing`: Flatten, Dropout, pooling, ...; a shared call's layer, TimeDistributed and Bidirectional's wrapped layers);
    None where it cannot be told (a merge, a normalization, a model input)."""
    after: list[str] = []
    scaled, noise = False, None
    node = inference.node(name)
    while node is not None and node.layer is not None:  # a shared call of no layer has no layer
        layer = node.layer
        passing = layer.value_passing()
        if passing is None:
            activation = layer.final_activation()
            if activation is None:
                return None
            scaled = scaled or getattr(layer, "merge_mode", None) == "sum"  # a Bidirectional adding its two outputs
            return OutputEnd(activation, tuple(reversed(after)), scaled, noise)
        after.append(layer.layer_type)
        scaled = scaled or passing == "scales"
        noise = layer.layer_type if passing == "noise" else noise
        node = inference.node(node.inputs[0]) if len(node.inputs) == 1 else None
    return None


#: Activations that normalise over the last axis: over one value, their output is a constant.
NORMALISING = frozenset({"softmax", "sparsemax", "log_softmax"})


def _refuse_constant(info: NodeInfo, output: Tensor) -> None:
    """The constant-layer policy for what no single layer rule sees: a normalising `activation` over a last axis
    of size 1, and Subtract of a tensor from itself. Their output never depends on the input."""
    activation = getattr(info.layer, "activation", None)
    if activation in NORMALISING and output.shape[-1] == 1:
        raise ShapeError(
            f"Activation '{activation}' over a last axis of size 1 is always {1 if activation != 'log_softmax' else 0} "
            f"(kspec policy: nothing before it could train). Received: activation={activation}, "
            f"output_shape={shape_str(output.shape)}",
            field="activation",
            policy="constant-layer",
        )
    if info.layer.layer_type == "Subtract" and info.shares is None and len(set(info.inputs)) == 1:
        raise ShapeError(
            f"Subtract of '{info.inputs[0]}' from itself is always 0 (kspec policy: nothing before it could train). "
            f"Received: inputs={list(info.inputs)}",
            field="inputs",
            policy="constant-layer",
        )


#: Layers after which no Keras mask is left (they consume it, or drop it).
MASK_ENDS = frozenset({"GlobalAveragePooling1D", "GlobalMaxPooling1D", "Flatten", "Reshape", "Dot", "Concatenate"})


def _carries_mask(result: Inference, name: str) -> bool:
    """Whether the tensor `name` may carry a Keras mask (from Embedding(mask_zero=True) or Masking): conservative,
    a mask is assumed to pass through every layer but those in MASK_ENDS and sequence-to-vector recurrent layers."""
    seen, work = set(), [name]
    while work:
        node = result.node(work.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        layer = node.layer
        if getattr(layer, "mask_zero", False) or layer.layer_type == "Masking":
            return True
        inner = getattr(layer, "layer", None)
        if layer.layer_type in MASK_ENDS or not getattr(inner or layer, "return_sequences", True):
            continue
        work.extend(node.inputs)
    return False


def _refuse_masked_softmax(result: Inference, info: NodeInfo) -> None:
    """Found by the soundness property: Keras's Softmax layer adds the incoming (batch, steps) mask to its
    (batch, steps, features) input, which fails, or with sizes that happen to broadcast masks the wrong axis."""
    if info.layer.layer_type == "Softmax" and any(_carries_mask(result, r) for r in info.inputs):
        raise ShapeError(
            "Layer 'Softmax' on a masked sequence (kspec policy: Keras adds the (batch, steps) mask to the "
            "(batch, steps, features) input, which fails or masks the wrong axis). Use `activation: softmax` on the "
            f"layer before, or put the Softmax before the Embedding's mask. Received: inputs={list(info.inputs)}",
            policy="masked-softmax",
        )


def _duplicate(name: str, path: Path, first: Path) -> Diagnostic:
    from .diagnostics import Note

    return Diagnostic(
        "duplicate-name",
        f"The name '{name}' is already used; names of inputs and layers must be unique.",
        path,
        notes=(Note("first used here", path=first),),
    )


def _undefined(ref: str, path: Path, defined: list[str]) -> Diagnostic:
    return Diagnostic(
        "undefined-node",
        f"'{ref}' is not an input or node of this model. Received: {path[-2] if isinstance(path[-1], int) else path[-1]}={ref}",
        path,
        hint=did_you_mean(ref, defined) or (f"Defined names: {', '.join(defined)}." if defined else None),
    )
