"""Stage: semantics, `training.precision` and `training.jit_compile` against the model.

Under a mixed precision every layer computes in float16 or bfloat16 (weights stay float32), except the layers
and operations that make the model's outputs, which `kspec.compile` builds in float32. What Keras 3.15 does
with each layer type in half precision was measured (forward pass and a training step, float32 against each
mixed policy, on TensorFlow, JAX and PyTorch, on CPU); tests/test_precision.py pins each finding:

- errors, where Keras fails (`FAILS_IN_HALF`): TensorFlow has no float16 CPU kernel for 3-D max and average
  pooling (adaptive too) nor for the Range that RandomGaussianBlur and RandomErasing run, PyTorch none in float16
  or bfloat16 for 3-D average pooling, and Keras's STFTSpectrogram refuses bfloat16 input; a `loss_scale_factor` that the
  LossScaleOptimizer of mixed_float16 would clear (the `ignored-argument` policy);
- warnings, where Keras runs but the values are wrong or not finite: numbers float16 cannot hold (its largest
  is 65504, its smallest normal 2**-14), and integers it cannot hold exactly (float16 above 2048, bfloat16
  above 256) reaching a layer that computes in half precision; UnitNormalization, whose epsilon underflows in
  float16 (an all-zero vector becomes NaN); and `jit_compile: true` on a model with a layer Keras cannot
  compile with XLA (Keras warns and trains without it).

The normalisation layers (BatchNormalization, LayerNormalization, GroupNormalization, RMSNormalization) compute
in float32 inside (Keras upcasts), so their epsilons are safe in half precision; so are the optimizers' (their
variables stay float32). The facts about layer types are the tables below.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .diagnostics import Diagnostic, Note, Path
from .graph import Inference, NodeInfo
from .spec import Spec
from .spec.layers import Layer
from .spec.layers._base import FLOAT_DTYPES
from .spec.layers.ops import Op

#: The compute dtype of each precision that is not float32.
HALF: dict[str, str] = {"mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
#: float16's largest finite value and its smallest normal one (below it, values lose precision, then become 0).
FLOAT16_MAX = 65504.0
FLOAT16_TINY = 2.0**-14
#: The largest integer up to which every integer is exact in each half type (11 and 8 significant bits).
EXACT_INTEGERS: dict[str, int] = {"float16": 2**11, "bfloat16": 2**8}
#: The largest value of each integer dtype.
INTEGER_MAX: dict[str, int] = {
    "bool": 1,
    "int8": 2**7 - 1,
    "uint8": 2**8 - 1,
    "int16": 2**15 - 1,
    "uint16": 2**16 - 1,
    "int32": 2**31 - 1,
    "uint32": 2**32 - 1,
    "int64": 2**63 - 1,
    "uint64": 2**64 - 1,
}

_TF_CPU_FLOAT16 = "TensorFlow has no float16 CPU kernel for an operation it runs"
#: What fails in half precision, by (layer type, half type): the backends on which the first training step fails
#: (empty: every backend, Keras itself refuses it), and why.
FAILS_IN_HALF: dict[tuple[str, str], tuple[tuple[str, ...], str]] = {
    ("MaxPooling3D", "float16"): (("tensorflow",), _TF_CPU_FLOAT16 + " (MaxPool3D)"),
    ("AveragePooling3D", "float16"): (
        ("tensorflow", "torch"),
        "TensorFlow and PyTorch have no float16 CPU kernel for 3-D average pooling",
    ),
    ("AdaptiveMaxPooling3D", "float16"): (("tensorflow",), _TF_CPU_FLOAT16 + " (MaxPool3D)"),
    ("AdaptiveAveragePooling3D", "float16"): (("tensorflow",), _TF_CPU_FLOAT16 + " (AvgPool3D)"),
    ("RandomGaussianBlur", "float16"): (("tensorflow",), "TensorFlow has no float16 kernel for the Range it runs"),
    ("RandomErasing", "float16"): (("tensorflow",), "TensorFlow has no float16 kernel for the Range it runs"),
    ("AveragePooling3D", "bfloat16"): (("torch",), "PyTorch has no bfloat16 CPU kernel for avg_pool3d"),
    ("STFTSpectrogram", "bfloat16"): ((), "Keras refuses bfloat16 input to it (it takes float16, float32 or float64)"),
}
#: Layer types whose float16 result is NaN for an all-zero input vector (an epsilon below float16's range).
ZERO_NAN_FLOAT16 = frozenset({"UnitNormalization"})
#: Layer types that read integers as ids or categories (exactly, whatever the precision), not as numbers, besides
#: those whose `reads_ids_below` says so (Embedding).
READS_IDS = frozenset(
    {"Embedding", "ReversibleEmbedding", "CategoryEncoding", "IntegerLookup", "Hashing", "HashedCrossing"}
)
#: Layer types that Keras cannot compile with XLA (`supports_jit = False`): with `jit_compile: true` Keras warns
#: "Model doesn't support `jit_compile=True`" and trains without it. (LSTM and GRU also, where they run on cuDNN.)
NO_JIT = frozenset(
    {
        "TextVectorization",
        "StringLookup",
        "IntegerLookup",
        "Hashing",
        "HashedCrossing",
        "RandomZoom",
        "RandomPerspective",
        "RandomCrop",
        "RandomTranslation",
        "RandomRotation",
        "RandomShear",
    }
)


def _has(layer: Any, table: frozenset[str]) -> bool:
    """Whether a layer's type is in a table of facts (by its canonical name: MaxPool3D is MaxPooling3D)."""
    return type(layer).type_name() in table


def _layers(layer: Any) -> Iterator[Any]:
    """The layer and the layers it wraps (TimeDistributed, Bidirectional, ...)."""
    while layer is not None:
        yield layer
        wrapped = getattr(layer, "layer", None)
        layer = wrapped if isinstance(wrapped, Layer) else None


def float32_nodes(inference: Inference) -> set[str]:
    """The nodes that compute in float32 under a mixed precision: those that make a model output (built under
    float32 by `kspec.compile`), and the other calls of an output's layer."""
    outputs = set(inference.outputs)
    out: set[str] = set()
    for node in inference.nodes:
        if isinstance(node.layer, Op):
            if node.name in outputs:
                out.add(node.name)
        elif (node.shares or node.name) in outputs:
            out.add(node.name)
    return out


def check_precision(spec: Spec, inference: Inference) -> list[Diagnostic]:
    """The precision and jit_compile diagnostics of a spec whose model was inferred."""
    training = spec.training
    out = _jit(training.jit_compile, inference)
    half = HALF.get(training.precision)
    if half is None:
        return out
    out.extend(_loss_scale_factor(spec))
    largest = _largest_integers(inference)
    in_float32 = float32_nodes(inference)
    for node in inference.nodes:
        if node.name in in_float32 or node.layer is None:
            continue
        if isinstance(node.layer, Op):
            out.extend(_constants(node, half))
            continue
        out.extend(_layer(node, half, training.precision))
        out.extend(_integers(node, half, largest))
    return out


# ---- layers that fail or compute wrongly in half precision ------------------------------------------------


def _layer(node: NodeInfo, half: str, precision: str) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    path = ("training", "precision")
    for layer in _layers(node.layer):
        kind = type(layer).type_name()
        where = f"'{node.name}' ({kind})"
        failure = FAILS_IN_HALF.get((kind, half))
        if failure is not None:
            out.append(_fails(node, kind, precision, half, *failure))
        if half == "float16" and _has(layer, ZERO_NAN_FLOAT16):
            out.append(
                _warning(
                    f"{where} computes in float16 under {precision}, where its epsilon (1e-12) is 0: an all-zero "
                    "input vector (after a ReLU, say) becomes NaN, and so does the loss.",
                    path,
                    "Use mixed_bfloat16, or make the layer a model output (outputs compute in float32).",
                    node,
                )
            )
        if half == "float16" and kind == "Normalization":
            out.extend(_statistics(node, layer, precision))
    return out


def _fails(node: NodeInfo, kind: str, precision: str, half: str, backends: tuple[str, ...], why: str) -> Diagnostic:
    other = "mixed_bfloat16" if half == "float16" else "mixed_float16"
    message = f"'{node.name}' ({kind}) computes in {half} under {precision}, but {why}: the first training step fails"
    if backends:
        from .backends import portability_note

        message += f". {portability_note(backends)}"
    return Diagnostic(
        "precision",
        f"{message}. Received: precision={precision}",
        ("training", "precision"),
        hint=f"Use {other} or float32, or make the layer a model output (outputs compute in float32).",
        notes=_at(node),
        policy="portability" if backends else None,
        backends=backends,
    )


def _statistics(node: NodeInfo, layer: Any, precision: str) -> list[Diagnostic]:
    """A Normalization's given mean and variance in float16: beyond 65504 they are infinite (NaN outputs, or
    outputs of 0), and a variance below 2**-14 loses its precision (wrong outputs)."""
    out: list[Diagnostic] = []
    for field in ("mean", "variance"):
        values = list(_numbers(getattr(layer, field, None)))
        big = [v for v in values if abs(v) > FLOAT16_MAX]
        tiny = [v for v in values if field == "variance" and 0 < v < FLOAT16_TINY]
        if not big and not tiny:
            continue
        what = (
            f"{big[0]:g} is beyond float16's largest value (65504), so it becomes infinite and the outputs "
            f"{'NaN' if field == 'mean' else '0'}"
            if big
            else f"{tiny[0]:g} is below float16's smallest normal value (2**-14 = 6.1e-05), so it is rounded and the "
            "outputs are scaled wrongly"
        )
        out.append(
            _warning(
                f"'{node.name}' (Normalization) computes in float16 under {precision}: its {field} {what}. "
                f"Received: {field}={_short(values)}",
                node.path + (field,),
                "Use mixed_bfloat16 (float32's range), or scale the data before the model.",
                None,
            )
        )
    return out


def _largest_integers(inference: Inference) -> dict[str, tuple[str, int]]:
    """Each integer tensor's dtype and largest value: its dtype's, or below the bound of the ids a layer makes
    (a lookup's indices, hash bins: `ids_below`)."""
    out = {name: (t.dtype, INTEGER_MAX[t.dtype]) for name, t in inference.inputs.items() if t.dtype in INTEGER_MAX}
    for node in inference.nodes:
        if node.output is None or node.output.dtype not in INTEGER_MAX or node.layer is None:
            continue
        bound = node.layer.ids_below()
        top = INTEGER_MAX[node.output.dtype]
        out[node.name] = (node.output.dtype, min(top, bound - 1) if bound is not None else top)
    return out


def _integers(node: NodeInfo, half: str, largest: dict[str, tuple[str, int]]) -> list[Diagnostic]:
    """An integer tensor that a layer computing in half precision reads as numbers (not as ids: an Embedding's
    rows, categories): its values are converted to the half type, which holds integers exactly up to 2048
    (float16) or 256 (bfloat16), and float16 none above 65504 (they become infinite)."""
    layer = node.layer
    if node.output is None or node.output.dtype not in FLOAT_DTYPES:
        return []
    if layer.reads_ids_below() is not None or _has(layer, READS_IDS):
        return []
    out: list[Diagnostic] = []
    for ref in dict.fromkeys(node.inputs):
        if ref not in largest:
            continue
        dtype, top = largest[ref]
        if top <= EXACT_INTEGERS[half]:
            continue
        overflow = half == "float16" and top > FLOAT16_MAX
        out.append(
            _warning(
                f"'{node.name}' ({layer.layer_type}) reads the {dtype} tensor '{ref}' as numbers in {half}, which "
                f"holds integers exactly only up to {EXACT_INTEGERS[half]}"
                + (" and none above 65504 (they become infinite, then NaN)" if overflow else "")
                + f": larger values are rounded. Received: dtype={dtype}",
                node.path,
                f"Keep the values within {EXACT_INTEGERS[half]} (a smaller dtype), scale them before the model, or "
                "read them as ids (Embedding, CategoryEncoding).",
                None,
            )
        )
    return out


def _constants(node: NodeInfo, half: str) -> list[Diagnostic]:
    """An operation on half-precision tensors takes its constant operands in that precision: in float16 one
    beyond 65504 is infinite."""
    if half != "float16":
        return []
    out: list[Diagnostic] = []
    layer = node.layer
    for field in getattr(type(layer), "operand_fields", ()):
        values = list(_numbers(getattr(layer, field, None)))
        big = [v for v in values if abs(v) > FLOAT16_MAX]
        if big:
            out.append(
                _warning(
                    f"'{node.name}' ({layer.layer_type}) computes in float16, where its constant {big[0]:g} is beyond "
                    f"the largest value (65504): it becomes infinite. Received: {field}={_short(values)}",
                    node.path + (field,),
                    "Use mixed_bfloat16, or a smaller constant.",
                    None,
                )
            )
    return out


# ---- loss scaling and XLA --------------------------------------------------------------------------------


def _loss_scale_factor(spec: Spec) -> list[Diagnostic]:
    """Under mixed_float16 Keras wraps the optimizer in a LossScaleOptimizer (unless it is one), which clears the
    optimizer's `loss_scale_factor` (it scales the loss itself)."""
    optimizer = spec.training.optimizer
    factor = getattr(optimizer, "loss_scale_factor", None)
    if spec.training.precision != "mixed_float16" or factor is None or optimizer.type == "LossScaleOptimizer":
        return []
    return [
        Diagnostic(
            "precision",
            "Under mixed_float16 Keras wraps the optimizer in a LossScaleOptimizer, which scales the loss itself "
            f"and clears the optimizer's loss_scale_factor: it would be ignored (kspec policy). "
            f"Received: loss_scale_factor={factor}",
            ("training", "optimizer", "loss_scale_factor"),
            hint="Leave loss_scale_factor out (dynamic loss scaling), or train in mixed_bfloat16 or float32.",
            policy="ignored-argument",
        )
    ]


def _jit(jit_compile: Any, inference: Inference) -> list[Diagnostic]:
    if jit_compile is not True:
        return []
    for node in inference.nodes:
        if node.layer is None or isinstance(node.layer, Op) or node.shares is not None:
            continue
        for layer in _layers(node.layer):
            if _has(layer, NO_JIT):
                kind = type(layer).type_name()
                return [
                    _warning(
                        f"jit_compile is true, but Keras cannot compile '{node.name}' ({kind}) with XLA: it warns "
                        "and trains the whole model without XLA. Received: jit_compile=true",
                        ("training", "jit_compile"),
                        f"Use jit_compile: auto, or move {kind} into the input pipeline.",
                        node,
                    )
                ]
    return []


# ---- helpers -------------------------------------------------------------------------------------------------


def _warning(message: str, path: Path, hint: str, node: NodeInfo | None) -> Diagnostic:
    return Diagnostic("lint-precision", message, path, severity="warning", hint=hint, notes=_at(node))


def _at(node: NodeInfo | None) -> tuple[Note, ...]:
    return () if node is None else (Note(f"the layer '{node.name}'", path=node.path),)


def _numbers(value: Any) -> Iterator[float]:
    """The numbers of a constant (a number, or nested lists of them)."""
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        yield float(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _numbers(item)


def _short(values: list[float]) -> str:
    shown = ", ".join(f"{v:g}" for v in values[:4])
    return f"[{shown}{', ...' if len(values) > 4 else ''}]" if len(values) != 1 else shown
