"""Stage: cost. What a model costs, known from static inference before anything allocates: the floating-point
operations of a forward pass and the activation memory per example, per layer call and in total, and the
memory a training step needs at the batch size and precision of the spec (`training_memory`).

FLOPs are counted the way XLA's cost analysis counts them (a multiply-add is 2; `Layer.flops` on each layer
class, `kspec.spec.layers._cost`). docs/cost.md gives the rules and the error measured against JAX.
No TensorFlow or Keras here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from .graph import Inference, NodeInfo
from .spec.layers import Tensor
from .spec.layers._cost import elements
from .spec.optimizers import OPTIMIZER_ALIASES

#: Bytes per value of each dtype (a string counts as a pointer).
DTYPE_BYTES = {
    "bool": 1,
    "int8": 1,
    "uint8": 1,
    "int16": 2,
    "uint16": 2,
    "float16": 2,
    "bfloat16": 2,
    "int32": 4,
    "uint32": 4,
    "float32": 4,
    "int64": 8,
    "uint64": 8,
    "float64": 8,
    "string": 8,
}
_FLOATS = ("float16", "bfloat16", "float32", "float64")


@dataclass(frozen=True)
class NodeCost:
    """One layer call's forward FLOPs and output bytes per example; None where a size is unknown (a
    variable-length axis) or the layer was not inferred."""

    name: str
    flops: int | None
    activation_bytes: int | None
    #: Bytes kept for the backward pass: the output and what the layer saves besides (`Layer.saved_values`).
    kept_bytes: int | None = None


@dataclass(frozen=True)
class Cost:
    """Per-example cost of a forward pass: each node's, the inputs' bytes and the totals over the known ones."""

    nodes: tuple[NodeCost, ...]
    input_bytes: int
    precision: str = "float32"

    @property
    def flops(self) -> int:
        return sum(n.flops or 0 for n in self.nodes)

    @property
    def activation_bytes(self) -> int:
        return sum(n.activation_bytes or 0 for n in self.nodes)

    @property
    def kept_bytes(self) -> int:
        return sum(n.kept_bytes or 0 for n in self.nodes)

    @property
    def largest_bytes(self) -> int:
        """The largest output of one node."""
        return max((n.activation_bytes or 0 for n in self.nodes), default=0)

    @property
    def unknown(self) -> tuple[str, ...]:
        """The nodes whose cost is unknown (left out of the totals)."""
        return tuple(n.name for n in self.nodes if n.flops is None or n.activation_bytes is None)

    def node(self, name: str) -> NodeCost | None:
        return next((n for n in self.nodes if n.name == name), None)


def value_bytes(dtype: str, precision: str = "float32") -> int:
    """Bytes of one value of a tensor of `dtype`: under a mixed precision, floating-point activations are
    computed and kept in 16 bits."""
    if precision.startswith("mixed") and dtype in _FLOATS:
        return 2
    return DTYPE_BYTES.get(dtype, 4)


def tensor_bytes(t: Tensor, precision: str = "float32") -> int | None:
    """Bytes of one example of `t`, None if a size is unknown."""
    if any(d is None for d in t.shape[1:]):
        return None
    return elements(t.shape) * value_bytes(t.dtype, precision)


def cost(inference: Inference, precision: str = "float32") -> Cost:
    """The per-example cost of every node of an inference (see `Cost`)."""
    nodes = tuple(_node_cost(inference, n, precision) for n in inference.nodes)
    inputs = sum(tensor_bytes(t) or 0 for t in inference.inputs.values())  # fed in their own dtype
    return Cost(nodes, inputs, precision)


def _node_cost(inference: Inference, node: NodeInfo, precision: str) -> NodeCost:
    tensors = [inference.tensor(r) for r in node.inputs]
    if node.output is None or any(t is None for t in tensors):
        return NodeCost(node.name, None, None)
    inputs: list[Tensor] = [t for t in tensors if t is not None]
    known = all(d is not None for t in inputs + [node.output] for d in t.shape[1:])
    if not known:
        return NodeCost(node.name, None, tensor_bytes(node.output, precision))
    output = node.output
    flops = node.layer.flops(inputs, output)
    held = elements(output.shape) * value_bytes(output.dtype, precision)
    saved = node.layer.saved_values(inputs, output) * value_bytes("float32", precision)
    return NodeCost(node.name, flops, held, held + saved)


# ---- the memory of a training step ----------------------------------------------------------------------

#: Slots (one value per trainable weight value) of each optimizer with its defaults, as Keras's `build()` makes
#: them: Adam's two moments, RMSprop's mean square, Adagrad's accumulator, ... Adafactor keeps a full second
#: moment (its row and column factors, much smaller, are left out); Muon keeps a momentum for every weight and
#: a second moment for those it updates with AdamW (counted for all: an upper bound).
OPTIMIZER_SLOTS = {
    "SGD": 0,
    "Adam": 2,
    "AdamW": 2,
    "RMSprop": 1,
    "Adagrad": 1,
    "Adadelta": 2,
    "Adamax": 2,
    "Nadam": 2,
    "Ftrl": 2,
    "Lion": 1,
    "Lamb": 2,
    "Adafactor": 1,
    "ScheduleFreeAdamW": 2,
    "Muon": 2,
}


#: Keras's optimizer names (`adam`) to their types (`Adam`).
_TYPES = {name: kind for kind, name in OPTIMIZER_ALIASES.items()}


def optimizer_slots(optimizer: Any) -> int:
    """Values the optimizer keeps per trainable weight value: its slots (`OPTIMIZER_SLOTS`), plus one for SGD's
    or RMSprop's momentum, RMSprop's centered mean, AMSGrad's maximum, the EMA of the weights (`use_ema`) and the
    accumulated gradients (`gradient_accumulation_steps`). A wrapper counts the largest of its optimizers."""
    if isinstance(optimizer, str):
        return OPTIMIZER_SLOTS.get(_TYPES.get(optimizer, optimizer), 2)
    inner = getattr(optimizer, "optimizers", None)
    if inner is not None:  # LossScaleOptimizer, MultiOptimizer
        return max((optimizer_slots(o) for o, _ in inner()), default=0)
    kind = optimizer.type
    slots = OPTIMIZER_SLOTS.get(kind, 2)
    if kind in ("SGD", "RMSprop") and getattr(optimizer, "momentum", None):
        slots += 1
    slots += bool(getattr(optimizer, "centered", False)) + bool(getattr(optimizer, "amsgrad", False))
    slots += bool(getattr(optimizer, "use_ema", False)) + bool(getattr(optimizer, "gradient_accumulation_steps", None))
    return slots


@dataclass(frozen=True)
class MemoryEstimate:
    """The memory of one training step, in bytes, by part. Variables are float32 under every precision (a mixed
    precision computes in 16 bits but keeps float32 weights); activations are kept for the backward pass."""

    weights: int
    gradients: int
    optimizer: int
    #: What the forward pass keeps for the backward pass (`Cost.kept_bytes`), and the backward pass's working
    #: set: the gradients of the largest output, in and out (2 x `Cost.largest_bytes`), at the batch size.
    activations: int
    #: The batch of inputs and of labels (shaped as the outputs).
    inputs: int
    batch_size: int
    precision: str
    slots: int
    #: Nodes whose activation size is unknown (a variable-length axis), left out of `activations`.
    unknown: tuple[str, ...] = ()

    @property
    def total(self) -> int:
        return self.weights + self.gradients + self.optimizer + self.activations + self.inputs

    def parts(self) -> str:
        """The parts in words: `weights 1.2 MiB + gradients ... + activations at batch 32 ...`."""
        return (
            f"weights {format_bytes(self.weights)} + gradients {format_bytes(self.gradients)} + optimizer slots "
            f"{format_bytes(self.optimizer)} ({self.slots} per weight) + activations {format_bytes(self.activations)}"
            f" + inputs and labels {format_bytes(self.inputs)}, at batch size {self.batch_size} and precision {self.precision}"
        )


def training_memory(spec: Any, inference: Inference, batch_size: int | None = None) -> MemoryEstimate:
    """The memory a training step of `spec` needs (`MemoryEstimate`), at `batch_size` (default: the spec's)."""
    training = spec.training
    precision = getattr(training, "precision", None) or "float32"
    batch = batch_size or training.batch_size
    per_example = cost(inference, precision)
    slots = optimizer_slots(training.optimizer)
    trainable = inference.trainable_params
    labels = sum(tensor_bytes(t, "float32") or 0 for t in inference.output_tensors.values() if t is not None)
    return MemoryEstimate(
        weights=4 * inference.total_params,
        gradients=4 * trainable,
        optimizer=4 * trainable * slots,
        activations=batch * (per_example.kept_bytes + 2 * per_example.largest_bytes),
        inputs=batch * (per_example.input_bytes + labels),
        batch_size=batch,
        precision=precision,
        slots=slots,
        unknown=per_example.unknown,
    )


# ---- sizes ------------------------------------------------------------------------------------------

_UNITS = {
    "": 1,
    "b": 1,
    "kb": 10**3,
    "mb": 10**6,
    "gb": 10**9,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*")


def parse_size(text: str) -> int:
    """Bytes of a size as a user writes it: `16GiB`, `80GB`, `512MiB`, `1.5GB`, `1000000` (plain bytes).
    Raises ValueError (with what is accepted) otherwise.

    >>> parse_size("16GiB")
    17179869184
    """
    match = _SIZE.fullmatch(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _UNITS:
        raise ValueError(
            f"expected a size such as 16GiB, 80GB, 512MiB or a number of bytes (units: B, KB, MB, GB, TB, KiB, "
            f"MiB, GiB, TiB). Received: {text!r}"
        )
    size = float(match.group(1)) * _UNITS[unit]
    if size < 1:
        raise ValueError(f"expected a size of at least 1 byte. Received: {text!r}")
    return int(size)


def format_bytes(n: int) -> str:
    """`n` bytes in binary units: `512 B`, `1.5 KiB`, `3.2 GiB`.

    >>> format_bytes(1536)
    '1.5 KiB'
    """
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{n} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def format_flops(n: int) -> str:
    """FLOPs in SI units: `950`, `1.2K`, `3.4M`, `7.8G`, `1.1T`."""
    value = float(n)
    for unit in ("", "K", "M", "G", "T"):
        if value < 1000 or unit == "T":
            return f"{n}" if unit == "" else f"{value:.1f}{unit}"
        value /= 1000
    raise AssertionError("unreachable")
