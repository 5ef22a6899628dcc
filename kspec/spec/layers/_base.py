"""The base of every layer type: its fields, its shape rule and its Keras class, in one place.

A layer definition is a pydantic model with a `type: Literal["KerasClassName"]`
discriminator, Keras's own argument names and defaults (each with a
description), and an `infer` method: a pure function from input tensors
(shape tuples including the batch axis, `None` for unknown) to the output
tensor and the parameter counts, with the same arithmetic as Keras.
`infer` raises `ShapeError` (message in the Keras grammar) when Keras would
refuse the input.
"""

from dataclasses import dataclass
from math import prod
from typing import Annotated, Any, ClassVar

from pydantic import BeforeValidator, Field, WithJsonSchema, field_validator
from typing_extensions import TypeAliasType

from ...naming import base_name
from ...text import shape_str
from ..base import REF_PATTERN, KspecModel, Name, Ref, to_keras_value
from ..objects import fit_problem
from ._cost import elements

Shape = tuple[int | None, ...]

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
INT_DTYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")


@dataclass(frozen=True)
class Tensor:
    """A symbolic tensor: shape with the batch axis first, and dtype."""

    shape: Shape
    dtype: str = "float32"

    @property
    def rank(self) -> int:
        return len(self.shape)

    def __str__(self) -> str:
        return shape_str(self.shape)


#: A layer's weights as (role, shape) pairs. The role names the arguments that set the weight up: `kernel` is set up
#: by `kernel_initializer`, `kernel_regularizer` and `kernel_constraint`; a role without such arguments (`count`,
#: `lora_a`) is set up by the layer alone.
Weights = tuple[tuple[str, tuple[int, ...]], ...]


@dataclass(frozen=True)
class Inferred:
    """What a layer does to its inputs: the output tensor and its weights (their shapes, and how many values)."""

    output: Tensor
    params: int = 0
    non_trainable: int = 0
    weights: Weights = ()

    @classmethod
    def with_weights(cls, output: Tensor, weights: Weights, non_trainable: int = 0) -> "Inferred":
        """The output with these weights, whose sizes add up to the parameter count."""
        return cls(output, sum(prod(shape) for _, shape in weights), non_trainable, weights)

    @property
    def trainable(self) -> int:
        return self.params - self.non_trainable


class ShapeError(ValueError):
    """Keras would refuse this input. `field` names the argument at fault, if one is.

    `policy` names a documented kspec policy (a key of `kspec.diagnostics.POLICIES`) rather than a
    Keras failure: Keras may run the configuration, but with a meaning kspec refuses to guess, or
    fail later (tests count these apart). `backends` names the Keras backends that fail, where the
    others run it (the `portability` policy).
    """

    def __init__(
        self,
        message: str,
        field: str | None = None,
        code: str = "shape",
        policy: str | None = None,
        backends: tuple[str, ...] = (),
    ):
        if backends:  # Keras fails on these backends only: refused on every one (the portability policy)
            from ...backends import portability_note

            message = f"{message}. {portability_note(backends)}"
            policy = policy or "portability"
        super().__init__(message)
        self.field = field
        self.code = code
        self.policy = policy
        #: The Keras backends on which Keras fails, when it runs on the others (empty: it fails on every backend).
        self.backends = backends


def autocast(dtype: str) -> str:
    """The dtype a layer sees: Keras casts floating-point inputs to the compute dtype (float32)
    and leaves integer and bool inputs alone."""
    return "float32" if dtype in FLOAT_DTYPES else dtype


def _str_or_list(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


_NAME_SCHEMA = {"type": "string", "pattern": REF_PATTERN, "maxLength": 257}
NodeInputs = Annotated[
    list[Ref],
    BeforeValidator(_str_or_list),
    Field(min_length=1),
    WithJsonSchema({"anyOf": [_NAME_SCHEMA, {"type": "array", "items": _NAME_SCHEMA, "minItems": 1}]}),
]


# `name` and `inputs` are written once in the JSON Schema's `$defs` and referenced by every layer type.
LayerName = TypeAliasType(
    "LayerName",
    Annotated[
        Name | None,
        Field(
            description="The layer's name in Keras. Required in the graph form; generated in the sequential form when absent."
        ),
    ],
)
LayerInputs = TypeAliasType(
    "LayerInputs",
    Annotated[
        NodeInputs | None,
        Field(
            description="Graph form only: the input or node names this layer is applied to, in order (one name or a list)."
        ),
    ],
)


class Layer(KspecModel):
    """Fields every layer has. `type` (the discriminator) is declared by each layer class."""

    name: LayerName = None
    inputs: LayerInputs = None

    # Class-level facts about the layer type.
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 1
    #: How Keras calls the layer on several inputs: "list" (`layer([a, b])`, merge layers,
    #: Attention) or "positional" (`layer(a, b, c)`, MultiHeadAttention). One input is always `layer(a)`.
    call_style: ClassVar[str] = "list"
    #: Keras class name in `keras.layers`; defaults to `type`.
    keras_class: ClassVar[str | None] = None
    #: What the layer does to the values it passes on, for the checks that ask which activation made an output's
    #: values: "keeps" (each output value is an input value, a zero, or an average of input values: reshaping,
    #: cropping, padding, pooling, upsampling), "scales" (input values times factors >= 0, some above 1: dropout),
    #: "noise" (input values moved either way, by noise or an overshooting interpolation), or None (the layer
    #: computes new values).
    passes_values: ClassVar[str | None] = None
    #: The layer acts in training only (augmentation, dropout, noise): at inference it passes its input on
    #: unchanged, so a model for inference only (an export) leaves it out.
    training_only: ClassVar[bool] = False
    #: The layer reads string tensors (the text layers); every other layer refuses them (the `string-tensors` policy).
    accepts_strings: ClassVar[bool] = False
    #: The dtype policy Keras gives the layer when it is built without one (as kspec builds every layer).
    keras_dtype_policy: ClassVar[str] = "float32"
    #: Fields that are not Keras constructor arguments.
    _non_keras_fields: ClassVar[frozenset[str]] = frozenset({"type", "name", "inputs"})

    @property
    def layer_type(self) -> str:
        return self.type

    def __getattr__(self, name: str) -> Any:
        # The rules ask layers for fields they may not have (`getattr(layer, "activation", None)`, hundreds of
        # times per check of a large model); pydantic's own fallback costs ~10x a plain AttributeError.
        if name.startswith("_"):
            return super().__getattr__(name)  # type: ignore[misc]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def base_name(self) -> str:
        """The base of the name Keras gives an unnamed layer of this type (`max_pooling2d`), numbered `_1`, `_2`
        ... after the first; kspec names unnamed layers the same way."""
        return base_name(self.layer_type)

    @classmethod
    def type_name(cls) -> str:
        """The layer type, the `type` value that names this class in a spec."""
        return cls.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]

    @classmethod
    def type_names(cls) -> tuple[str, ...]:
        """Every `type` value that names this class: its type, then the aliases Keras knows it by
        (`type: Literal["MaxPooling2D", "MaxPool2D"]`); an alias is read as the type itself."""
        return cls.model_fields["type"].annotation.__args__  # type: ignore[union-attr]

    @field_validator("type", check_fields=False)
    @classmethod
    def _canonical_type(cls, value: str) -> str:
        # A Keras alias (`MaxPool2D`, `Convolution2D`) is normalised to the type once, here.
        return cls.type_name()

    @classmethod
    def keras_layer_class(cls) -> Any:
        """The Keras layer class this type builds: `keras.layers.<keras_class or type>` for the
        built-in types. Plugin layer types (`kspec.spec.plugins`) override this to return their own."""
        import keras

        return getattr(keras.layers, cls.keras_class or cls.type_name())

    def keras_kwargs(self) -> dict[str, Any]:
        """Constructor arguments for the Keras class (nested layers are left to the compiler)."""
        return {k: to_keras_value(v) for k, v in self if k not in self._non_keras_fields and not isinstance(v, Layer)}

    def infer(self, inputs: list[Tensor]) -> Inferred:
        """Output tensor and parameter counts for these inputs; raises ShapeError."""
        raise NotImplementedError(f"{type(self).__name__}.infer")

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """Floating-point operations of a forward pass (inference) per example, as XLA's cost analysis counts
        them (`kspec.spec.layers._cost`: a multiply-add is 2). The generic rule: 0 for a layer that only moves
        values (`passes_values == "keeps"`: reshaping, cropping, padding) or acts in training only (dropout,
        noise, augmentation); one per output value otherwise. The layer families with their own arithmetic
        (Dense, convolutions, pooling, normalizations, attention, recurrent layers, merges, ops) override it."""
        if self.training_only or self.passes_values == "keeps":
            return 0
        return elements(output.shape)

    def saved_values(self, inputs: list[Tensor], output: Tensor) -> int:
        """Values per example the layer keeps for the backward pass besides its output: a layer that applies a
        non-linear activation of its own (`activation` field) keeps the values before it too. Recurrent layers
        override it (their gates at every timestep)."""
        activation = getattr(self, "activation", None) if "activation" in type(self).model_fields else None
        return elements(output.shape) if activation not in (None, "linear") else 0

    def ids_below(self) -> int | None:
        """Where this layer's output is integer ids (a lookup's indices, hash bins), the bound they stay under:
        ids in [0, n). None where it is not ids, or the bound is not known before the data is seen."""
        return None

    def reads_ids_below(self) -> int | None:
        """Where this layer reads its input as ids (an embedding's rows), how many it takes: ids in [0, n)."""
        return None

    def value_passing(self) -> str | None:
        """What this layer does to the values it passes on (`passes_values`); a layer whose arguments decide it
        overrides this."""
        return self.passes_values

    def recurrent(self) -> bool:
        """The layer runs a recurrent loop over the timesteps (itself or the layer it wraps)."""
        wrapped = getattr(self, "layer", None)
        return isinstance(wrapped, Layer) and wrapped.recurrent()

    def loops_over_tensor_lists(self) -> bool:
        """In a TensorFlow graph, the layer runs a loop that collects its steps in TensorList ops (a recurrent
        layer that is not unrolled), which LiteRT's builtin kernels and OpenVINO's TensorFlow front end lack."""
        wrapped = getattr(self, "layer", None)
        return isinstance(wrapped, Layer) and wrapped.loops_over_tensor_lists()

    #: What the layer does to a Keras mask that comes with its input (from `Embedding(mask_zero=True)` or
    #: `Masking`): "passes" it on, or "ends" it (consumes or drops it: pooling over the steps, Flatten, Reshape,
    #: Concatenate, Dot). A layer whose arguments decide it overrides `ends_mask`.
    mask_passing: ClassVar[str] = "passes"
    #: Keras fails (or masks the wrong axis) when the layer gets a masked input: Softmax adds the (batch, steps)
    #: mask to its (batch, steps, features) input (the `masked-softmax` policy).
    fails_on_mask: ClassVar[bool] = False
    #: The layer zeroes or rescales random values in training (dropout): a model output behind it would be
    #: dropped at random (`lint-dropout-last`).
    drops_values: ClassVar[bool] = False
    #: The layer computes an affine map of its input, then its activation (Dense, EinsumDense): two in a row
    #: without an activation between them are one affine map (`lint-no-activation-stack`), and one that holds most
    #: of a large model's parameters is worth a look (`lint-large-dense`).
    affine: ClassVar[bool] = False

    def makes_mask(self) -> bool:
        """The layer makes a Keras mask that the layers after it get (Embedding with `mask_zero`, Masking)."""
        return False

    def ends_mask(self) -> bool:
        """No mask is left after this layer (`mask_passing`; a recurrent layer returning its last step only, or a
        wrapper of one)."""
        if self.mask_passing == "ends":
            return True
        wrapped = getattr(self, "layer", None)
        return isinstance(wrapped, Layer) and wrapped.recurrent() and wrapped.ends_mask()

    def subtracts_mean(self) -> bool:
        """The layer subtracts its input's mean per channel (BatchNormalization with `center`): a bias added just
        before it is wasted (`lint-bias-before-batchnorm`)."""
        return False

    def constant_on_equal_inputs(self) -> str | None:
        """What the layer always outputs when all its inputs are one tensor (Subtract: "0"), or None: the
        constant-layer policy refuses such a call."""
        return None

    def inert_until_loaded(self) -> bool:
        """The layer does nothing until weights are loaded into it (a Normalization with neither statistics nor
        `adapt: true` divides by one): the lint `lint-inert-normalization` says so."""
        return False

    def adapts(self) -> bool:
        """The layer computes its state from the training data before training (`adapt: true`; `kspec.train.adapt`)."""
        return False

    def final_activation(self) -> str | None:
        """The activation the layer applies last, by Keras name ('linear' for none); None where the layer has no
        such notion (a merge, a normalization): the checks of an output's range then cannot tell it."""
        if "activation" in type(self).model_fields:
            return self.activation or "linear"
        return None

    def apply(self, inputs: list[Tensor]) -> Inferred:
        """`infer`, then what every layer shares: each initializer, regularizer and constraint must fit the weight
        it lands on, and the activity regularizer the output. Raises ShapeError."""
        if not self.accepts_strings and any(t.dtype == "string" for t in inputs):
            raise ShapeError(
                f"Layer '{self.layer_type}' does not take strings (kspec policy: only the text layers TextVectorization, "
                "StringLookup, Hashing and HashedCrossing read string tensors; turn the strings into numbers with one "
                f"of them first). Received: dtypes={[t.dtype for t in inputs]}",
                policy="string-tensors",
            )
        inferred = self.infer(inputs)
        check_arguments(self, inferred)
        return inferred

    # ---- helpers for rules --------------------------------------------------------------

    def need_rank(self, tensor: Tensor, *ranks: int, what: str = "") -> None:
        if tensor.rank not in ranks:
            expected = " or ".join(str(r) for r in ranks)
            raise ShapeError(
                f"Input 0 of layer '{self.layer_type}' is incompatible with the layer: "
                f"expected ndim={expected}{what}, found ndim={tensor.rank}. "
                f"Received: input_shape={shape_str(tensor.shape)}"
            )

    def need_min_rank(self, tensor: Tensor, rank: int) -> None:
        if tensor.rank < rank:
            raise ShapeError(
                f"Input 0 of layer '{self.layer_type}' is incompatible with the layer: "
                f"expected min_ndim={rank}, found ndim={tensor.rank}. "
                f"Received: input_shape={shape_str(tensor.shape)}"
            )

    def need_known(self, tensor: Tensor, axis: int, what: str = "axis") -> int:
        dim = tensor.shape[axis]
        if dim is None:
            raise ShapeError(
                f"Layer '{self.layer_type}' needs a defined {what} (axis {axis}) in its input. "
                f"Received: input_shape={shape_str(tensor.shape)}"
            )
        return dim

    def need_float(
        self, tensor: Tensor, why: str = "", field: str | None = None, backends: tuple[str, ...] = ()
    ) -> None:
        """Refuse a non-floating-point input; `why` goes into the message after "expects a floating-point input"
        (`backends`: the Keras backends that fail, where the others run it)."""
        if tensor.dtype not in FLOAT_DTYPES:
            raise ShapeError(
                f"Layer '{self.layer_type}' expects a floating-point input{why}. Received: dtype={tensor.dtype}",
                field=field,
                backends=backends,
            )

    def refuse_on(self, tensor: Tensor, failing: str, why: str = "", field: str | None = None) -> None:
        """Refuse a non-floating-point input on which Keras fails on the backends `failing` names by their
        letters (T: TensorFlow, J: JAX, P: PyTorch; "TJP": every backend, a plain refusal; "": none, accepted).
        Where the others run it, the refusal is a `portability` one that names the failing backends."""
        failing_backends = tuple(
            b for letter, b in (("T", "tensorflow"), ("J", "jax"), ("P", "torch")) if letter in failing
        )
        if failing_backends:
            self.need_float(tensor, why, field=field, backends=() if len(failing_backends) == 3 else failing_backends)

    def refuse_constant(self, tensor: Tensor, axes: list[int], result: str, field: str = "axis") -> None:
        """ShapeError (the constant-layer policy) when the layer normalizes over a single value: its output is
        then `result`, whatever the input, and nothing before the layer can ever train."""
        if all(tensor.shape[a] == 1 for a in axes):
            raise ShapeError(
                f"Layer '{self.layer_type}' normalizes over a single value, so its output is always {result} "
                f"(kspec policy: nothing before it could train). Received: {field}={getattr(self, field)!r}, "
                f"input_shape={shape_str(tensor.shape)}",
                field=field,
                policy="constant-layer",
            )

    def normalize_axes(self, axes: tuple[int, ...], tensor: Tensor, field: str = "axis") -> list[int]:
        """The axes as non-negative indices; ShapeError if one is out of range or repeated."""
        rank = tensor.rank
        out = []
        for axis in axes:
            if not -rank <= axis < rank:
                shown = axes[0] if len(axes) == 1 else list(axes)
                raise ShapeError(
                    f"Axis {axis} is out of bounds for input shape {shape_str(tensor.shape)}: "
                    f"expected an axis in [{-rank}, {rank}). Received: {field}={shown}",
                    field=field,
                )
            out.append(axis % rank)
        if len(set(out)) != len(out):
            raise ShapeError(
                f"Argument `{field}` of layer '{self.layer_type}' names the same axis twice for input shape "
                f"{shape_str(tensor.shape)}: expected distinct axes. Received: {field}={list(axes)}",
                field=field,
            )
        return out


#: The argument fields that set up a weight of each role: `kernel` -> kernel_initializer, kernel_regularizer, ...
_ARGUMENT_FIELDS: dict[str, tuple[str, str, str]] = {}


def _argument_fields(role: str) -> tuple[str, str, str]:
    fields = (f"{role}_initializer", f"{role}_regularizer", f"{role}_constraint")
    _ARGUMENT_FIELDS[role] = fields
    return fields


#: Activations that Keras computes wrongly, refused (by a documented policy) with the reason.
WRONG_IN_KERAS = {
    "sparsemax": "Keras 3.15 computes the sparsemax activation wrongly on every backend: its threshold adds up every "
    "cumulative sum in the support instead of taking the last one (keras-team/keras#23425, fixed after 3.15 by "
    "#23469), so whenever two or more values are in the support its output does not sum to 1 and is often all "
    "zeros, which nothing before it can train through.",
}


def check_arguments(layer: Layer, inferred: Inferred) -> None:
    """ShapeError when an argument object cannot apply to the tensor it lands on: each `<role>_initializer`,
    `<role>_regularizer` and `<role>_constraint` of the layer against every weight of that role, and the
    `activity_regularizer` against the output (batch axis first)."""
    fields = type(layer).model_fields
    for name in fields:
        value = getattr(layer, name) if name.endswith("activation") else None
        if isinstance(value, str) and value in WRONG_IN_KERAS:
            raise ShapeError(
                WRONG_IN_KERAS[value] + f" Received: {name}={value}",
                field=name,
                code="value",
                policy="keras-sparsemax",
            )
    for role, shape in inferred.weights:
        for field in _ARGUMENT_FIELDS.get(role) or _argument_fields(role):
            value = getattr(layer, field) if field in fields else None  # no exception for a field it lacks
            problem = None if value is None else fit_problem(value, shape)
            if problem is not None:
                message, policy = problem
                raise ShapeError(
                    f"Argument `{field}` of layer '{layer.layer_type}' cannot apply to its {role} weight of shape "
                    f"{shape_str(shape)}: {message}. Received: {field}={_shown(value)}",
                    field=field,
                    policy=policy,
                )
    activity = layer.activity_regularizer if "activity_regularizer" in fields else None
    problem = None if activity is None else fit_problem(activity, inferred.output.shape, activity=True)
    if problem is not None:
        message, policy = problem
        raise ShapeError(
            f"Argument `activity_regularizer` of layer '{layer.layer_type}' cannot apply to its output of shape "
            f"{shape_str(inferred.output.shape)}: {message}. Received: activity_regularizer={_shown(activity)}",
            field="activity_regularizer",
            policy=policy,
        )


def _shown(value: Any) -> str:
    """An argument object as written in a spec: its name, or `{type: ..., key: value}` without its defaults."""
    if isinstance(value, str):
        return value
    fields = value.model_dump(exclude_defaults=True)
    fields.pop("type", None)
    return "{" + ", ".join([f"type: {value.type}"] + [f"{k}: {v}" for k, v in fields.items()]) + "}"
