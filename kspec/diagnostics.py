"""Diagnostics are values: every stage returns them, only reporters render them.

A `Diagnostic` says what is wrong (`message`, in the Keras grammar: what is
wrong, what was expected, `Received: name=value`), where (`file`, `span`, and
`path` inside the spec), how sure we are (`severity`), and which rule fired
(`code`, stable across releases; the table is `CODES`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Literal

Severity = Literal["error", "warning"]
PathItem = str | int
Path = tuple[PathItem, ...]

# Stable diagnostic codes. The keys are part of the JSON output contract.
CODES: dict[str, str] = {
    # load
    "io-error": "The file could not be read.",
    "yaml-syntax": "The text is not valid YAML 1.2 / JSON.",
    "duplicate-key": "A mapping has the same key twice.",
    "forbidden-tag": "A YAML tag other than the core schema's (str, int, float, bool, null, seq, map).",
    "too-large": "The document is too large or nests too deep (alias bombs included).",
    "not-a-mapping": "The document (or a key) is not what the spec's structure needs at the top.",
    "override": "A `--set KEY=VALUE` override that cannot be applied (bad form, or a KEY through a non-mapping).",
    # structure (pydantic)
    "unknown-key": "A key that the spec language does not have at that place.",
    "missing-key": "A required key is absent.",
    "type": "A value of the wrong type (no silent coercion: '64' is not 64, true is not 1).",
    "value": "A value of the right type outside its allowed range or set.",
    "unknown-layer": "A layer `type` that is not one of the first-class layers.",
    # blocks
    "unknown-block": "A block use names a block that is not defined under `blocks`.",
    "expression": "A `${...}` expression in a block that cannot be evaluated (syntax, unknown name, arithmetic).",
    # graph
    "duplicate-name": "Two layers or inputs have the same name.",
    "undefined-node": "An `inputs`, `shares` or `outputs` entry names nothing defined.",
    "unused-node": "A node whose output reaches no model output.",
    "cycle": "The graph has a cycle.",
    "arity": "A layer is given the wrong number of input tensors.",
    "form": "A field that belongs to the other model form.",
    # semantics
    "shape": "A layer cannot accept the shape (or dtype) of its input.",
    "shared-layer": "A shared layer is called on inputs its weights do not fit.",
    "loss": "The loss does not fit the model's output or the training section.",
    "data": "The data section does not fit the model.",
    "param-budget": "The model has more parameters than the budget allows.",
    "memory-budget": "A training step needs more memory than `--memory-budget` allows (the estimate of kspec.cost).",
    "adapt": "A layer with `adapt: true` that cannot be adapted to the training data before training.",
    "callback": "A callback that cannot work with the rest of the training section.",
    "metric": "A metric that does not fit its output's labels or predictions.",
    "precision": "`training.precision` does not fit the model or the optimizer: a layer Keras cannot run in that dtype, or a loss-scaling argument it would ignore.",
    # search spaces (`tuning`, kspec.tune.space)
    "tuning": "A search-space parameter that cannot work: an empty range, log scale over zero, a path that names nothing, a value the field refuses, a `when` that names nothing.",
    "tuning-region": "Part of the search space gives an invalid model (kspec tune skips those points; --strict makes this an error).",
    "tuning-empty": "No point of the search space that kspec checked is a valid spec.",
    # lints (warnings)
    "lint-softmax-from-logits": "A loss with from_logits=true after a softmax/sigmoid output.",
    "lint-dropout-last": "Dropout as the model's last layer.",
    "lint-bias-before-batchnorm": "A bias right before BatchNormalization, which cancels it.",
    "lint-sigmoid-categorical": "A sigmoid output with a categorical cross-entropy.",
    "lint-no-activation-stack": "Two linear layers in a row collapse into one.",
    "lint-large-dense": "A Dense layer on a large flattened input holds most of the model's weights.",
    "lint-metric-regression": "Accuracy as the metric of a regression loss.",
    "lint-monitor-without-validation": "A callback monitors a val_ quantity, but there is no validation data.",
    "lint-inert-normalization": "A Normalization with neither statistics nor `adapt: true`: it divides by one.",
    "lint-precision": "Half precision or XLA settings that Keras runs, but not as asked: values float16 or bfloat16 cannot hold (infinity, NaN, rounding), or `jit_compile: true` on a layer Keras cannot compile with XLA.",
}


# Documented kspec policies: where kspec refuses what Keras would build (and perhaps run), because
# it would fail later, silently mean something else, or make no sense. A diagnostic that applies one
# names it in `policy`; docs/policies.md lists them all. Ids are stable.
POLICIES: dict[str, str] = {
    "no-coercion": "No silent type coercion: '64' is not 64, true is not 1; NaN and infinity are refused.",
    "rate-below-one": "Dropout rates must be below 1 (a rate of 1 zeroes everything and divides by zero).",
    "noise-shape": "A Dropout's noise_shape must broadcast to its input even at rate 0 (Keras ignores it then, and fails once the rate is raised).",
    "embedding-integer-input": "Embedding needs integer input; Keras would truncate floats to ids.",
    "float-activation": "Activation, Dropout and the noise layers need floating-point input (on integers Keras declares float32 but fails or keeps the integers).",
    "frozen-weights": "LayerNormalization and GroupNormalization with center or scale on an integer input: their gamma and beta never get a gradient.",
    "timedistributed-float32": "TimeDistributed's wrapped layer must compute float32, the dtype the wrapper declares.",
    "attention-same-rank": "Attention layers need query, value and key of the same rank (Keras may broadcast one over another).",
    "attention-batch-mixing": "Attention on rank-2 inputs (batch, dim): Keras attends across the examples of the batch, so each example's output depends on the others.",
    "mha-sliding-window": "MultiHeadAttention's sliding_window needs attention over axis 1 (Keras builds the window from axis 1).",
    "mha-score-rank": "Attention over one axis of a query of rank >= 5 (scores of rank >= 6, which TensorFlow's CPU softmax refuses).",
    "image-batch-axis": "Image preprocessing layers need (batch, height, width, channels); Keras reads a rank-3 tensor as one unbatched image.",
    "loss-per-output": "A multi-output model gives one loss per output, as a mapping.",
    "categorical-classes": "Categorical losses need at least two classes in the output's last axis, known before training (Keras would find the number when the first batch runs).",
    "loss-output-range": "poisson and msle need an output activation that is never negative (they take the logarithm of the prediction); Circle needs unit-norm embeddings (a UnitNormalization output).",
    "lookup-ids": "An Embedding fed by a lookup, hashing or discretization layer takes every id that layer can produce (input_dim at least its vocabulary or bin count).",
    "probability-output": "A loss that reads probabilities (from_logits false) needs an output activation in [0, 1] (softmax, sigmoid).",
    "constant-layer": "A layer whose output cannot depend on its input (a normalisation or softmax over one value, x - x): nothing before it could train.",
    "masked-softmax": "The Softmax layer on a masked sequence: Keras adds the (batch, steps) mask to a (batch, steps, features) input.",
    "metric-labels": "A metric must fit the labels of its output's loss (sparse metrics need class ids, categorical ones one-hot labels).",
    "zero-loss-weights": "Loss weights that are all 0: the total loss is always 0 and nothing can train.",
    "unused-node": "In the graph form, every node and input must lead to an output.",
    "param-budget": "A parameter budget refuses absurd models before anything allocates.",
    "ignored-argument": "An argument that Keras would silently ignore is refused (renorm_clipping without renorm), so that a spec means what it says.",
    "orthogonal-penalty": "OrthogonalRegularizer must see at least two rows (or columns) known before training: with one its penalty is NaN, and an activity regularizer's rows are the examples of a batch.",
    "ordered-bounds": "Bounds that only make sense in order must be in order: a PiecewiseConstantDecay's boundaries increase, an image layer's value_range is [low, high] with low < high, a MelSpectrogram's min_freq is below its max_freq (Keras trains otherwise, wrongly).",
    "optimizer-range": "An optimizer's numbers stay where they mean what Keras documents (learning rates, epsilons and clip norms above 0; weight decays, momenta and decay rates at or above 0, decay rates below 1): Keras takes other values and trains wrongly or not at all.",
    "masked-loss": "A loss on an output that carries a (batch, steps) mask must give values that the mask broadcasts to (CTC gives one per sequence): Keras multiplies them.",
    "loss-range": "A loss's numbers stay where they mean what Keras documents (smoothing and weights in [0, 1], focusing and scale factors above 0; Tversky's alpha and beta not both 0): Keras takes other values and trains wrongly or not at all.",
    "optimizer-layer-names": "A layer an optimizer names (MultiOptimizer's optimizer_map, Muon's exclude_layers) must be a layer of the model with trainable weights: Keras matches names as patterns and silently ignores one that matches nothing.",
    "inert-optimizer": "An optimizer whose first step cannot change any weight: Lion with beta_1 = 1 updates by the sign of a momentum that starts at 0.",
    "transposed-1x1-strides": "A transposed convolution with a 1x1 kernel and strides above 1: TensorFlow's CPU kernel crashes the process (a segmentation fault) when it trains on larger inputs.",
    "adaptive-pooling-sizes": "Adaptive pooling needs every spatial size known, and none of them nor of output_size 1: TensorFlow traces it with static sizes only, and where a size is 1 it pools windows larger than the input, which crashes the process (max pooling) or fails a training step (average pooling).",
    "adapt-before-training": "A layer with `adapt: true` is adapted once, before training, to what the training split gives at its input: nothing between the model inputs and it may have trainable weights (training would change what it sees), and it is called once, outside any wrapper.",
    "keras-sparsemax": "The sparsemax activation is refused while Keras computes it wrongly (keras-team/keras#23425, fixed by #23469 after Keras 3.15): its output need not sum to 1 and is often all zeros, so nothing before it trains.",
    "batch-mixing-labels": "CutMix and MixUp as layers of a model mix each image with another of its batch but leave the labels as they are, so the model learns one image's label from a blend of two; mix images and labels together in the input pipeline.",
    "batch-axis": "Every tensor keeps its batch axis first: an operation (ops.*) may not reduce, index, move, insert or resize axis 0, nor broadcast a constant or another tensor against it.",
    "string-tensors": "String tensors (model inputs of dtype string) are read by the text layers only (TextVectorization, StringLookup, Hashing, HashedCrossing); every other layer refuses them. Keras has string tensors on the TensorFlow backend only, and JAX cannot trace the TensorFlow ops of the lookup and hashing layers: training refuses those backends for such a model before anything runs.",
    "einsum-equation": "An EinsumDense equation and output_shape must describe the output the layer computes: Keras reads only the start of an equation, declares its output from output_shape alone (and lists the axes of a leading ellipsis after the batch axis in reverse order), so later layers would be built for a shape the layer does not compute; the batch axis stays the output's first axis.",
    "rms-axes": "RMSNormalization normalizes the last axes only: Keras multiplies by its scale broadcast against the input's last axes whatever `axis` names, and where the sizes happen to broadcast it runs with another meaning.",
    "portability": "What Keras runs on some backends but fails on another (the diagnostic's `backends`): a spec that validates trains on TensorFlow, JAX and PyTorch alike.",
}


class PolicyError(ValueError):
    """A refusal by a documented kspec policy (a key of POLICIES), raised where pydantic validates a field: the
    diagnostic made of it names the policy."""

    def __init__(self, message: str, policy: str):
        if policy not in POLICIES:  # a kspec bug, not a user error
            raise ValueError(f"Unknown policy {policy!r}.")
        super().__init__(message)
        self.policy = policy


@dataclass(frozen=True)
class Span:
    """A 1-based line and column in the source text."""

    line: int
    column: int


@dataclass(frozen=True)
class Note:
    """A secondary location, e.g. the use site of a block or the first definition of a name."""

    message: str
    span: Span | None = None
    path: Path = ()


@dataclass(frozen=True)
class Diagnostic:
    code: str
    message: str
    path: Path = ()
    severity: Severity = "error"
    span: Span | None = None
    file: str | None = None
    hint: str | None = None
    notes: tuple[Note, ...] = field(default_factory=tuple)
    #: The documented kspec policy this refusal applies (a key of POLICIES), where Keras itself might accept it.
    policy: str | None = None
    #: The Keras backends on which what this refuses fails, where the others run it (`portability` policy).
    backends: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.code not in CODES:  # a kspec bug, not a user error
            raise ValueError(f"Unknown diagnostic code {self.code!r}.")
        if self.policy is not None and self.policy not in POLICIES:
            raise ValueError(f"Unknown policy {self.policy!r}.")

    @property
    def location(self) -> str:
        return format_path(self.path)

    def with_source(self, file: str | None, span: Span | None) -> Diagnostic:
        return replace(self, file=file, span=span if self.span is None else self.span)

    def to_json(self) -> dict:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "file": self.file,
            "line": self.span.line if self.span else None,
            "column": self.span.column if self.span else None,
            "path": format_path(self.path),
            "hint": self.hint,
            "policy": self.policy,
            "backends": list(self.backends),
            "notes": [
                {
                    "message": n.message,
                    "line": n.span.line if n.span else None,
                    "column": n.span.column if n.span else None,
                    "path": format_path(n.path),
                }
                for n in self.notes
            ],
        }


def format_path(path: Iterable[PathItem]) -> str:
    """`('model', 'layers', 2, 'kernel_size')` -> `model.layers[2].kernel_size`."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else str(item)
    return out


def did_you_mean(word: str, candidates: Iterable[str]) -> str | None:
    """A hint naming the closest candidate, or None when nothing is close."""
    candidates = list(candidates)
    if len(word) > 3 * max((len(c) for c in candidates), default=0):
        # Close to none: difflib's ratio is at most 2c / (len(word) + c) < 0.6 for a candidate of c
        # characters. And difflib indexes every character of the word: 5M of them took 5 s and 700 MB.
        return None
    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    if not matches:
        lowered = {c.lower(): c for c in candidates}
        if word.lower() in lowered:
            matches = [lowered[word.lower()]]
    return f"Did you mean '{matches[0]}'?" if matches else None


def suggestion(hint: str | None) -> str | None:
    """The name a `did_you_mean` hint suggests ("Did you mean 'X'?" -> X), or None for any other hint."""
    if hint and hint.startswith("Did you mean '"):
        return hint.split("'")[1]
    return None


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.severity == "error" for d in diagnostics)


class SpecError(Exception):
    """Raised by `kspec.load_spec` when a spec is invalid; carries every diagnostic."""

    def __init__(self, diagnostics: list[Diagnostic]):
        self.diagnostics = list(diagnostics)
        errors = [d for d in self.diagnostics if d.severity == "error"]
        first = errors[0] if errors else (self.diagnostics[0] if self.diagnostics else None)
        summary = f"{len(errors)} error(s)"
        if first is not None:
            where = f"{first.file or '<spec>'}"
            if first.span:
                where += f":{first.span.line}:{first.span.column}"
            summary += f"; first: {where}: {first.message}"
        super().__init__(summary)
