"""Stage: graph. The flat graph of a model (after blocks are expanded): node names, references, shared
calls, cycles, reachability and the order in which nodes run. No shapes here: `kspec.infer` walks the
order this module gives and applies each layer's shape rule.

`NodeInfo` and `Inference` are the records both stages fill: this module the names, inputs and order, the
inference each node's output and parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

from .diagnostics import Diagnostic, Note, Path, did_you_mean, suggestion
from .spec import GraphModel, SharedNode
from .spec.layers import Layer, Tensor


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


def sequential_name(
    layer: Layer, path: Path, taken: dict[str, Path], counters: dict[str, int], result: Inference
) -> str:
    """The name of a sequential-form layer: its own (a duplicate is reported), or Keras's automatic one
    (`dense`, `dense_1`, ...), skipping the names already taken."""
    if layer.name is not None:
        name = layer.name
        if name in taken:
            result.diagnostics.append(duplicate_name(name, path + ("name",), taken[name]))
    else:
        base = layer.base_name()
        n = counters.get(base, 0)
        name = base if n == 0 else f"{base}_{n}"
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        counters[base] = n + 1
    taken.setdefault(name, path)
    return name


def resolve(
    model: GraphModel, result: Inference, defined: dict[str, Path], lenient: bool = False
) -> tuple[list[NodeInfo], dict[str, NodeInfo], dict[str, NodeInfo]]:
    """The graph form's nodes: names (duplicates reported), references (undefined ones reported), shared calls,
    outputs (set on `result`), then cycles and nodes that lead to no output. Returns the nodes in the order they
    run (those whose references resolve), those nodes by name, and every named node by name. `defined` holds
    the model inputs' names and gets the nodes' names too. `lenient`: some references could not be read (a
    broken node, `kspec.recover`), so no node is called unused."""
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
            result.diagnostics.append(duplicate_name(node_spec.name, path + ("name",), defined[node_spec.name]))
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
                result.diagnostics.append(undefined_name(ref, info.path + ("inputs", j), list(defined)))
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
            result.diagnostics.append(undefined_name(out, ("model", "outputs", j), list(defined)))
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
    if not lenient:
        _check_reachability(model, nodes, all_refs, defined, result)
    return order, ok_refs, nodes


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
    model: GraphModel,
    nodes: dict[str, NodeInfo],
    all_refs: dict[str, list[str]],
    defined: dict[str, Path],
    result: Inference,
) -> None:
    """`unused-node` for the nodes and inputs that lead to no output. A reference to nothing defined stands for
    the name it is closest to (its did-you-mean), so that one misspelled name is one error, not three; where no
    name is close, it could have meant any of them, and none is called unused."""
    needed: set[str] = set()
    work = [o for o in model.outputs]
    while work:
        name = work.pop()
        if name in needed:
            continue
        needed.add(name)
        if name not in defined:
            closest = suggestion(did_you_mean(name, defined))
            if closest is None:
                return
            work.append(closest)
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


def duplicate_name(name: str, path: Path, first: Path) -> Diagnostic:

    return Diagnostic(
        "duplicate-name",
        f"The name '{name}' is already used; names of inputs and layers must be unique.",
        path,
        notes=(Note("first used here", path=first),),
    )


def undefined_name(ref: str, path: Path, defined: list[str]) -> Diagnostic:
    return Diagnostic(
        "undefined-node",
        f"'{ref}' is not an input or node of this model. Received: {path[-2] if isinstance(path[-1], int) else path[-1]}={ref}",
        path,
        hint=did_you_mean(ref, defined) or (f"Defined names: {', '.join(defined)}." if defined else None),
    )
