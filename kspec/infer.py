"""Stage: infer. Every tensor's shape and every layer's parameter count, statically and without Keras, in the
order `kspec.graph` gives (which checks the flat graph's names, references, cycles and reachability first).

`infer(spec)` returns an `Inference`: one `NodeInfo` per layer call, in
execution order, the model's input and output tensors, parameter totals, and
the diagnostics found. A node whose rule fails gets no output, and the nodes
that depend on it are skipped silently, so one mistake gives one error.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

from .diagnostics import Diagnostic, Path
from .graph import Inference, NodeInfo, duplicate_name, resolve, sequential_name, upstream
from .spec import GraphModel, SequentialModel, Spec
from .spec.layers import Layer, ShapeError, Tensor, shape_str
from .spec.objects import NORMALISING

if TYPE_CHECKING:
    from .recover import Repair

__all__ = ["Inference", "NodeInfo", "OutputEnd", "infer", "output_end", "upstream"]


def infer(spec: Spec, fixed: Repair | None = None) -> Inference:
    """Shapes and parameter counts of every layer call; blocks are expanded first (`kspec.expand`).

    Paths of nodes and diagnostics point at the spec as written: a node made by a block points at
    its line in the block's definition, with a note for each block use that instantiated it.
    `fixed` is the repair of a spec the language refused (`kspec.recover`): its stand-ins get no output,
    so that nothing depending on them is checked, and nothing is said about them.
    """
    from .expand import expand, uses_blocks

    opaque: Callable[[Path], bool] = _never
    lenient = fixed is not None and fixed.unknown_references
    if fixed is not None and fixed.opaque:
        opaque = fixed.opaque.__contains__
    if not uses_blocks(spec):
        return _flat(spec.model, opaque, lenient)
    expansion, problems = expand(spec)
    if expansion is None:
        return Inference(diagnostics=problems, failed=True, sequential=isinstance(spec.model, SequentialModel))
    if opaque is not _never:
        opaque = _through(expansion, fixed.opaque)  # type: ignore[union-attr]
    result = _flat(expansion.model, opaque, lenient)
    result.diagnostics = problems + [expansion.place(d) for d in result.diagnostics]
    for node in result.nodes:
        node.path, node.origin = expansion.origin(node.path)
    result.expansion = expansion
    return result


def _never(path: Path) -> bool:
    return False


def _through(expansion: Any, opaque: set[Path]) -> Callable[[Path], bool]:
    """Whether a flat node's source (in the spec as written) is a stand-in."""

    def check(path: Path) -> bool:
        return expansion.origin(path)[0] in opaque

    return check


def _flat(
    model: SequentialModel | GraphModel, opaque: Callable[[Path], bool] = _never, lenient: bool = False
) -> Inference:
    if isinstance(model, SequentialModel):
        return _sequential(model, opaque)
    result = _graph(model, opaque, lenient)
    result.sequential = False
    return result


# ---- sequential ---------------------------------------------------------------------------------


def _sequential(model: SequentialModel, opaque: Callable[[Path], bool]) -> Inference:
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
        name = sequential_name(layer, path, taken, counters, result)
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
        elif not opaque(path):
            _apply(result, node, [result.tensor(previous)])
        previous = name
    result.outputs = [previous]
    return result


# ---- graph ---------------------------------------------------------------------------------------


def _graph(model: GraphModel, opaque: Callable[[Path], bool], lenient: bool) -> Inference:
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
            result.diagnostics.append(duplicate_name(inp.name, path + ("name",), defined[inp.name]))
            continue
        defined[inp.name] = path + ("name",)
        result.inputs[inp.name] = Tensor((None,) + inp.shape, inp.dtype)
        _check_input_dtype(result, inp.dtype, path + ("dtype",))

    order, ok_refs, nodes = resolve(model, result, defined, lenient)
    for info in order:
        result.nodes.append(info)
        tensors = [result.tensor(ref) for ref in info.inputs]
        if any(t is None for t in tensors):
            continue  # an upstream error was already reported
        if opaque(info.path) or (info.shares is not None and info.shares in nodes and opaque(nodes[info.shares].path)):
            continue  # a stand-in for a broken node (`kspec.recover`), or a call of its layer: output unknown
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
        _refuse_ids_out_of_range(result, info)
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


def _refuse_ids_out_of_range(result: Inference, info: NodeInfo) -> None:
    """The lookup-ids policy: an embedding whose input ids come from a lookup, hashing or discretization layer
    (through layers that keep values: Flatten, Reshape, ...) takes every id that layer can produce."""
    rows = info.layer.reads_ids_below()
    if rows is None or len(info.inputs) != 1:
        return
    node = result.node(info.inputs[0])
    while node is not None and node.layer is not None:
        bound = node.layer.ids_below()
        if bound is not None:
            if bound > rows:
                raise ShapeError(
                    f"Layer '{info.layer.layer_type}' takes ids in [0, {rows}), but its input comes from "
                    f"{node.layer.layer_type} '{node.name}', whose ids run up to {bound - 1} (kspec policy: an id out "
                    f"of range fails on TensorFlow, and on other backends reads another row or zeros). Received: "
                    f"input_dim={rows}",
                    field="input_dim",
                    policy="lookup-ids",
                )
            return
        if node.layer.value_passing() != "keeps" or len(node.inputs) != 1:
            return
        node = result.node(node.inputs[0])


def _refuse_constant(info: NodeInfo, output: Tensor) -> None:
    """The constant-layer policy for what no single layer rule sees: a normalising activation (`Activation.
    normalising`) over a last axis of size 1, and a layer called on one tensor twice whose output is then always
    the same (`Layer.constant_on_equal_inputs`: Subtract). Their output never depends on the input."""
    layer = info.layer
    activation = getattr(layer, "activation", None)
    field = "activation"
    if activation is None and "cell" in type(layer).model_fields:  # an RNN: the activation is its cell's
        activation, field = layer.final_activation(), "cell"
    if activation in NORMALISING and output.shape[-1] == 1:
        raise ShapeError(
            f"Activation '{activation}' over a last axis of size 1 is always {1 if activation != 'log_softmax' else 0} "
            f"(kspec policy: nothing before it could train). Received: activation={activation}, "
            f"output_shape={shape_str(output.shape)}",
            field=field,
            policy="constant-layer",
        )
    always = layer.constant_on_equal_inputs()
    if always is not None and info.shares is None and len(info.inputs) > 1 and len(set(info.inputs)) == 1:
        raise ShapeError(
            f"{layer.layer_type} of '{info.inputs[0]}' with itself is always {always} (kspec policy: nothing before "
            f"it could train). Received: inputs={list(info.inputs)}",
            field="inputs",
            policy="constant-layer",
        )


def _carries_mask(result: Inference, name: str) -> bool:
    """Whether the tensor `name` may carry a Keras mask (`Layer.makes_mask`: Embedding(mask_zero=True), Masking):
    conservative, a mask is assumed to pass through every layer but those that end it (`Layer.ends_mask`)."""
    seen, work = set(), [name]
    while work:
        node = result.node(work.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        layer = node.layer
        if layer.makes_mask():
            return True
        if layer.ends_mask():
            continue
        work.extend(node.inputs)
    return False


def _refuse_masked_softmax(result: Inference, info: NodeInfo) -> None:
    """Found by the soundness property: Keras's Softmax layer adds the incoming (batch, steps) mask to its
    (batch, steps, features) input, which fails, or with sizes that happen to broadcast masks the wrong axis."""
    if info.layer.fails_on_mask and any(_carries_mask(result, r) for r in info.inputs):
        raise ShapeError(
            "Layer 'Softmax' on a masked sequence (kspec policy: Keras adds the (batch, steps) mask to the "
            "(batch, steps, features) input, which fails or masks the wrong axis). Use `activation: softmax` on the "
            f"layer before, or put the Softmax before the Embedding's mask. Received: inputs={list(info.inputs)}",
            policy="masked-softmax",
        )
