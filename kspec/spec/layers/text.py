"""Text and structured-data preprocessing: TextVectorization, StringLookup, IntegerLookup, Hashing,
HashedCrossing, CategoryEncoding, Discretization.

None of these layers has weights (Keras counts none: TF-IDF weights and bin boundaries are state, not
parameters). Their state (a vocabulary, bin boundaries) is given in the spec or, with `adapt: true`, computed
from the training split before training (Keras's `adapt()`, `kspec.train.adapt`) and saved with the model. A
layer that needs a state and has neither fails in Keras when run (its lookup table is empty): refused.

String tensors come from model inputs of dtype `string`; TextVectorization, StringLookup, Hashing and
HashedCrossing read them (`Layer.accepts_strings`), every other layer refuses them (the `string-tensors`
policy). Keras has string tensors on the TensorFlow backend only, and the lookups and hashing layers run TensorFlow
ops that JAX cannot trace: `keras_backends` names the backends each layer runs on, and training refuses the others
before anything runs (`kspec.train.data`). Discretization and CategoryEncoding run on every backend.

Where Keras declares one output and returns another when run, kspec refuses:
- the lookups' (and TextVectorization's) one_hot, multi_hot and count outputs: declared float32, returned int64
  (a Dropout, convolution or Softmax after them fails); use `output_mode: int` then CategoryEncoding, or tf_idf;
- multi_hot, count and tf_idf on a rank-1 input `(batch,)`: the counts run over the batch, and the output has no
  batch axis; on a rank >= 3 input Keras declares the counts over the last axis but takes them over axis 1,
  accepted only where the two shapes agree whatever the unknown sizes;
- one_hot on an input whose last axis is unknown: declared with an axis of one-hot vectors per element, but an
  axis of size 1 is squeezed when run;
- TextVectorization's splitting needs one string per example ((batch,) or (batch, 1)).
Ragged and sparse outputs are not expressible: kspec tensors are dense.
"""

from collections import Counter
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, model_validator

from ...diagnostics import PolicyError
from ..base import FLOAT_MAX, ExactInt, NonNegativeInt, PositiveInt, list_to_tuple
from ._base import FLOAT_DTYPES, INT_DTYPES, Inferred, Layer, ShapeError, Tensor, shape_str

STRING = "string"
#: The Keras backends a layer runs on (`keras_backends`): the lookups and hashing layers run TensorFlow ops, which
#: JAX cannot trace (Keras fails to build the training step); strings exist on TensorFlow alone.
TENSORFLOW_ONLY = ("tensorflow",)
NOT_JAX = ("tensorflow", "torch")
NUMERIC = FLOAT_DTYPES + INT_DTYPES + ("bool",)
#: At most this many tokens in a vocabulary, and this many bin boundaries, written in a spec.
VOCABULARY_LIMIT = 100_000
BOUNDARIES_LIMIT = 10_000
Token = Annotated[str, Field(max_length=1000)]

OutputMode = Literal["int", "one_hot", "multi_hot", "count", "tf_idf"]
_HOT_MODES = ("one_hot", "multi_hot", "count")


def _tuple_of(item: Any, limit: int) -> Any:
    return Annotated[tuple[item, ...], BeforeValidator(list_to_tuple), Field(min_length=1, max_length=limit)]


def _increasing(value: tuple[float, ...]) -> tuple[float, ...]:
    if any(b <= a for a, b in zip(value, value[1:])):
        raise PolicyError(
            "`bin_boundaries` must increase (kspec policy: Keras buckets unsorted boundaries wrongly). "
            f"Received: bin_boundaries={list(value)}",
            "ordered-bounds",
        )
    return value


# built at run time: to a type checker, any value
_Strings: Any = _tuple_of(Token, VOCABULARY_LIMIT)
_Ints: Any = _tuple_of(Annotated[int, ExactInt], VOCABULARY_LIMIT)
_Weights: Any = _tuple_of(Annotated[float, Field(ge=0, le=FLOAT_MAX)], VOCABULARY_LIMIT)
_Boundaries: Any = Annotated[
    _tuple_of(Annotated[float, Field(ge=-FLOAT_MAX, le=FLOAT_MAX)], BOUNDARIES_LIMIT), AfterValidator(_increasing)
]
_NGrams: Any = _tuple_of(PositiveInt, 16)

Salt = Annotated[
    int | Annotated[tuple[int, int], BeforeValidator(list_to_tuple)],
    Field(description="Salt (key) of a keyed SipHash: one integer, or a pair of integers."),
]
IdfWeights = Annotated[
    _Weights | None,
    Field(
        description="One inverse document frequency per vocabulary entry (tf_idf only; required with "
        "`vocabulary` there). Null: computed by `adapt: true`."
    ),
]
AdaptField = Annotated[
    bool,
    Field(
        description="Compute the layer's state from the training split before training (Keras's `adapt()`; never "
        "the validation or test examples); it is saved with the model. Not together with a state given in the "
        "spec. Everything between the model inputs and this layer must be free of trainable weights."
    ),
]
SparseField = Annotated[
    Literal[False],
    Field(description="Sparse output: not expressible in kspec (every tensor is dense); false only."),
]


# JSON Schema for the rules that tie one argument to another (the model validators say the same in Keras's words).
def _given(name: str) -> Any:
    return {"required": [name], "properties": {name: {"not": {"type": "null"}}}}


def _is(name: str, value: Any) -> Any:
    return {"required": [name], "properties": {name: {"const": value}}}


def _both(*conditions: Any) -> Any:
    return {"allOf": list(conditions)}


def _absent_or(name: str, value: Any) -> Any:
    return {"properties": {name: {"const": value}}}


NULL_OR_ABSENT: Any = {"type": "null"}
NEVER: dict[str, Any] = {"not": {}}
_LOOKUP_RULES: Any = [
    {"if": _is("pad_to_max_tokens", True), "then": _given("max_tokens")},
    {"if": _given("idf_weights"), "then": _both(_is("output_mode", "tf_idf"), _given("vocabulary"))},
    {"if": _is("adapt", True), "then": {"properties": {"vocabulary": NULL_OR_ABSENT}}},
    {"if": _both(_is("output_mode", "tf_idf"), _given("vocabulary")), "then": _given("idf_weights")},
    {"if": _both(_is("adapt", True), _is("output_mode", "tf_idf"), _is("pad_to_max_tokens", True)), "then": NEVER},
]
_INDEX_RULES: Any = [*_LOOKUP_RULES, {"if": _is("invert", True), "then": _absent_or("output_mode", "int")}]


def _need_dtypes(layer: Layer, x: Tensor, accepted: tuple[str, ...], what: str, index: int = 0) -> None:
    if x.dtype not in accepted:
        raise ShapeError(
            f"Input {index} of layer '{layer.layer_type}' must be {what} (Keras fails on dtype {x.dtype} when run). "
            f"Received: dtype={x.dtype}"
        )


def _int_output_dtype_error(layer: Layer, mode: str) -> ShapeError:
    return ShapeError(
        f"Layer '{layer.layer_type}' with output_mode='{mode}' declares a float32 output but returns int64 when run "
        "(a Dropout, convolution or Softmax after it then fails). Use output_mode='int' followed by a "
        f"CategoryEncoding layer, or output_mode='tf_idf'. Received: output_mode={mode}",
        field="output_mode",
    )


def _counted_shape(layer: Layer, x: Tensor, depth: int | None, mode: str) -> tuple[int | None, ...]:
    """The output of multi_hot, count or tf_idf (counts over the last axis), as Keras declares it, where what
    Keras returns when run fits it; ShapeError elsewhere."""
    shape = x.shape
    if x.rank < 2:
        raise ShapeError(
            f"Layer '{layer.layer_type}' with output_mode='{mode}' on a rank-1 input {shape_str(shape)} counts over "
            f"the batch axis (kspec policy: Keras returns one row, {shape_str((depth,))}, for the whole batch). "
            f"Expected an input of shape (batch, n). Received: input_shape={shape_str(shape)}",
            field="output_mode",
            policy="batch-axis",
        )
    for i in range(1, x.rank - 1):
        if shape[i] is not None and shape[i] != shape[i + 1]:
            raise ShapeError(
                f"Layer '{layer.layer_type}' with output_mode='{mode}' on a rank-{x.rank} input declares the counts "
                f"over the last axis, {shape_str(shape[:-1] + (depth,))}, but takes them over axis 1 when run, "
                f"returning {shape_str((shape[0],) + shape[2:] + (depth,))}. Expected an input of shape (batch, n). "
                f"Received: input_shape={shape_str(shape)}",
                field="output_mode",
            )
    return shape[:-1] + (depth,)


def _one_hot_shape(layer: Layer, x: Tensor, depth: int | None) -> tuple[int | None, ...]:
    """one_hot: a vector per element, the last axis squeezed first when it is 1 (rank >= 2)."""
    if x.rank >= 2 and x.shape[-1] is None:
        raise ShapeError(
            f"Layer '{layer.layer_type}' with output_mode='one_hot' needs a known last axis: Keras declares a "
            f"one-hot vector for each element, {shape_str(x.shape + (depth,))}, but squeezes a last axis of size 1 "
            f"when run. Received: input_shape={shape_str(x.shape)}",
            field="output_mode",
        )
    if x.rank >= 2 and x.shape[-1] == 1:
        return x.shape[:-1] + (depth,)
    return x.shape + (depth,)


# ---- lookups -------------------------------------------------------------------------------------------------


class _Lookup(Layer):
    """What StringLookup and IntegerLookup share (Keras's IndexLookup): a vocabulary of tokens, each mapped to
    an index after the mask and OOV indices."""

    _non_keras_fields: ClassVar[frozenset[str]] = Layer._non_keras_fields | {"adapt"}
    # `vocabulary`, `mask_token`, `oov_token`, `num_oov_indices` and `invert`: fields of StringLookup and
    # IntegerLookup, fixed by TextVectorization.

    max_tokens: Annotated[int, Field(ge=2)] | None = Field(
        None,
        description="Largest vocabulary size, mask and OOV indices included (at least 2); null: no limit. "
        "`adapt: true` keeps the most frequent tokens.",
    )
    output_mode: OutputMode = Field(
        "int",
        description="'int': an index per token; 'tf_idf': TF-IDF weighted counts over the last axis. "
        "'one_hot', 'multi_hot' and 'count' are refused: Keras returns them as int64 while declaring float32 "
        "(use 'int', then CategoryEncoding).",
    )
    pad_to_max_tokens: bool = Field(
        False, description="Make the encoded axis `max_tokens` long whatever the vocabulary (needs max_tokens)."
    )
    sparse: SparseField = False
    idf_weights: IdfWeights = None
    adapt: AdaptField = False

    @model_validator(mode="after")
    def _keras_arguments(self) -> "_Lookup":
        if self.pad_to_max_tokens and self.max_tokens is None:
            raise ValueError(f"If pad_to_max_tokens is True, must set `max_tokens`. Received: max_tokens={None}")
        if self.invert and self.output_mode != "int":
            raise ValueError(
                f"`output_mode` must be `'int'` when `invert` is true. Received: output_mode={self.output_mode}"
            )
        if self.idf_weights is not None and self.output_mode != "tf_idf":
            raise ValueError(
                "`idf_weights` should only be set if `output_mode` is `'tf_idf'`. "
                f"Received: output_mode={self.output_mode}"
            )
        vocabulary = self.vocabulary
        if self.adapt and vocabulary is not None:
            raise ValueError(
                "`adapt: true` computes the vocabulary from the training data, so `vocabulary` cannot also be given."
            )
        if self.adapt and self.output_mode == "tf_idf" and self.pad_to_max_tokens:
            raise ValueError(
                "`adapt: true` with output_mode='tf_idf' and `pad_to_max_tokens: true` saves TF-IDF weights longer than "
                "the adapted vocabulary, and Keras then fails to load the model it saved. Adapt the vocabulary with "
                "output_mode='int' and encode the ids with a CategoryEncoding layer (num_tokens: max_tokens), or "
                "give `vocabulary` and `idf_weights`."
            )
        if self.output_mode == "tf_idf" and vocabulary is not None and self.idf_weights is None:
            raise ValueError(
                "When specifying the `vocabulary` argument, in TF-IDF output mode, the `idf_weights` argument "
                "must also be provided."
            )
        if self.idf_weights is not None and vocabulary is None:
            raise ValueError("`idf_weights` go with a `vocabulary`: give both, or neither with `adapt: true`.")
        if vocabulary is not None:
            self._check_vocabulary(vocabulary)
        return self

    # ---- what Keras's IndexLookup computes from the arguments

    def _oov_start(self) -> int:
        return 1 if self.mask_token is not None and self.output_mode == "int" else 0

    def _token_start(self) -> int:
        return self._oov_start() + self.num_oov_indices

    def _special_tokens(self) -> list[Any]:
        return [self.mask_token] * self._oov_start() + [self.oov_token] * self.num_oov_indices

    def _tokens(self, vocabulary: tuple) -> tuple:
        """The vocabulary without its special tokens, when it starts with exactly them (Keras strips them)."""
        if self._token_start() > len(vocabulary):  # it cannot start with them (and num_oov_indices may be huge)
            return vocabulary
        special = tuple(self._special_tokens())
        return vocabulary[len(special) :] if vocabulary[: len(special)] == special else vocabulary

    def _check_vocabulary(self, vocabulary: tuple) -> None:
        tokens = self._tokens(vocabulary)
        repeated = [t for t, n in Counter(tokens).items() if n > 1]
        if repeated:
            raise ValueError(
                "The passed vocabulary has at least one repeated term. Please uniquify your dataset. "
                f"The repeated terms are: {repeated[:10]}"
            )
        for token, name, applies in ((self.mask_token, "mask_token", True), (self.oov_token, "oov_token", self.invert)):
            if token is not None and applies and token in tokens:
                special = (  # Keras lists them all; a huge num_oov_indices is said, not listed
                    self._special_tokens()
                    if self._token_start() <= 20
                    else f"{[self.mask_token] * self._oov_start()} then {self.num_oov_indices:,} x {self.oov_token!r}"
                )
                raise ValueError(
                    f"Found reserved {name} {token!r} at an unexpected location in `vocabulary`: include it only at "
                    f"the start of the vocabulary, in precisely this order: {special}, or not at all."
                )
        size = self._token_start() + len(tokens)
        if self.max_tokens is not None and size > self.max_tokens:
            raise ValueError(
                "Attempted to set a vocabulary larger than the maximum vocab size. "
                f"Received vocabulary size is {size}; `max_tokens` is {self.max_tokens}."
            )
        if self.idf_weights is not None and len(self.idf_weights) != len(vocabulary):
            raise ValueError(
                "`idf_weights` must be the same length as vocabulary. "
                f"len(idf_weights) is {len(self.idf_weights)}; len(vocabulary) is {len(vocabulary)}"
            )

    def _depth(self) -> int | None:
        """The length of the encoded axis: max_tokens when padded to it, else the vocabulary's size (mask and
        OOV indices included); None until adapted."""
        if self.pad_to_max_tokens:
            return self.max_tokens
        if self.vocabulary is None:
            return None
        return self._token_start() + len(self._tokens(self.vocabulary))

    def adapts(self) -> bool:
        return self.adapt

    def ids_below(self) -> int | None:
        if self.output_mode != "int" or getattr(self, "invert", False):
            return None
        depth = self._depth()
        return self.max_tokens if depth is None and self.adapt else depth

    def _need_state(self) -> None:
        if self.vocabulary is None and not self.adapt:
            raise ShapeError(
                f"Layer '{self.layer_type}' has no vocabulary: Keras fails when it is called (its lookup table is "
                "empty). Give `vocabulary`, or add `adapt: true` to compute it from the training data.",
                field="vocabulary",
                code="value",
            )

    def _encode(self, x: Tensor, int_dtype: str) -> Inferred:
        """The output for this (token) input: indices, or TF-IDF counts."""
        self._need_state()
        mode = self.output_mode
        if mode == "int":
            return Inferred(Tensor(x.shape, int_dtype))
        if mode in _HOT_MODES:
            raise _int_output_dtype_error(self, mode)
        return Inferred(Tensor(_counted_shape(self, x, self._depth(), mode), "float32"))

    def keras_kwargs(self) -> dict[str, Any]:
        # Lists, as Keras's own configuration has them.
        return {k: list(v) if isinstance(v, tuple) else v for k, v in super().keras_kwargs().items()}


class _IndexLookup(_Lookup):
    """StringLookup and IntegerLookup: the OOV indices and the inverse lookup are arguments."""

    model_config = ConfigDict(json_schema_extra={"allOf": _INDEX_RULES})

    num_oov_indices: NonNegativeInt = Field(
        1,
        description="Number of indices for out-of-vocabulary tokens (hashed among them); 0 makes an "
        "out-of-vocabulary token an error when run.",
    )
    invert: bool = Field(False, description="Map indices back to tokens (output_mode 'int' only).")


class StringLookup(_IndexLookup):
    """Maps strings to integer indices from a vocabulary.

    Index 0 is the mask token's (when `mask_token` is set), then `num_oov_indices` indices for
    out-of-vocabulary strings, then the vocabulary in order.

    Input shape: any, of strings. Output shape: the same, int64 indices; tf_idf: `(batch, depth)` from `(batch, n)`, float32, depth being the vocabulary size
    (mask and OOV indices included), or `max_tokens` with `pad_to_max_tokens`; unknown until adapted otherwise.
    `invert: true` is refused: Keras declares int64 indices but returns strings.
    """

    accepts_strings: ClassVar[bool] = True
    keras_backends: ClassVar[tuple[str, ...]] = TENSORFLOW_ONLY

    type: Literal["StringLookup"]
    mask_token: Token | None = Field(
        None, description="A string that maps to index 0 (output_mode 'int'), masked out; null: no mask."
    )
    oov_token: Token = Field("[UNK]", description="The token returned for an out-of-vocabulary index by `invert`.")
    vocabulary: _Strings | None = Field(
        None,
        description=f"The vocabulary, in index order (at most {VOCABULARY_LIMIT:,} strings; it may start with the "
        "mask and OOV tokens). Null: computed by `adapt: true`.",
    )
    encoding: Literal["utf-8"] = Field("utf-8", description="The text encoding of the strings.")
    salt: Salt | None = Field(None, description="Salt (key) of a keyed SipHash: one integer, or a pair of integers.")

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        if self.invert:
            raise ShapeError(
                "Layer 'StringLookup' with invert=True declares an int64 output but returns strings when run. "
                "Received: invert=True",
                field="invert",
            )
        _need_dtypes(self, x, (STRING,), "strings (a model input of dtype string)")
        return self._encode(x, "int64")


class IntegerLookup(_IndexLookup):
    """Maps integers (category ids of any range) to contiguous indices from a vocabulary (`invert`: back).

    Index 0 is the mask token's (when `mask_token` is set), then `num_oov_indices` indices for
    out-of-vocabulary values, then the vocabulary in order. Floating-point inputs are truncated to integers,
    as Keras does.

    Input shape: any, numeric. Output shape: the same, int64 indices (`invert`: int64 values); tf_idf:
    `(batch, depth)` from `(batch, n)`, float32 (see StringLookup).
    """

    model_config = ConfigDict(
        json_schema_extra={"allOf": [*_INDEX_RULES, {"if": _given("salt"), "then": _is("oov_method", "farmhash")}]}
    )
    keras_backends: ClassVar[tuple[str, ...]] = NOT_JAX

    type: Literal["IntegerLookup"]
    mask_token: Annotated[int, ExactInt] | None = Field(
        None, description="A value that maps to index 0 (output_mode 'int'), masked out; null: no mask."
    )
    oov_token: Annotated[int, ExactInt] = Field(
        -1, description="The value returned for an out-of-vocabulary index by `invert`."
    )
    vocabulary: _Ints | None = Field(
        None,
        description=f"The vocabulary, in index order (at most {VOCABULARY_LIMIT:,} integers; it may start with the "
        "mask and OOV tokens). Null: computed by `adapt: true`.",
    )
    vocabulary_dtype: Literal["int64"] = Field("int64", description="The dtype of the vocabulary (int64 only).")
    oov_method: Literal["floormod", "farmhash"] = Field(
        "floormod",
        description="How an out-of-vocabulary value picks one of several OOV indices: 'floormod' (value modulo "
        "num_oov_indices) or 'farmhash' (a hash of it).",
    )
    salt: Salt | None = Field(None, description="Salt (key) of a keyed SipHash: one integer, or a pair of integers.")

    @model_validator(mode="after")
    def _salted_hash(self) -> "IntegerLookup":
        if self.salt is not None and self.oov_method != "farmhash":
            raise ValueError(
                f"`salt` can only be used when `oov_method='farmhash'`. Received: oov_method={self.oov_method}"
            )
        return self

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        _need_dtypes(self, x, NUMERIC, "numeric")
        if self.invert:
            self._need_state()
            return Inferred(Tensor(x.shape, "int64"))
        return self._encode(x, "int64")


class TextVectorization(_Lookup):
    """Turns each string into a sequence of token indices (or TF-IDF counts): standardize (lowercase, strip
    punctuation), split into tokens (words or characters), form n-grams, look each up in the vocabulary.

    Index 0 is padding, 1 out-of-vocabulary, then the vocabulary. Input shape: `(batch,)` or `(batch, 1)`,
    strings (one string per example; with `split: null` any `(batch, n)`, each string one token).
    Output shape: 'int': `(batch, output_sequence_length)` int64 (each sequence padded or truncated to it; null:
    as long as the longest in the batch); 'tf_idf' (from `(batch,)`, or `(batch, n)` with `split: null`):
    `(batch, depth)` float32, depth = the vocabulary size + 1 (the OOV index), or `max_tokens` with
    `pad_to_max_tokens` (unknown until adapted otherwise). `ragged` is not expressible (refused).
    """

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                *_LOOKUP_RULES,
                {"if": _given("output_sequence_length"), "then": _absent_or("output_mode", "int")},
            ]
        }
    )
    accepts_strings: ClassVar[bool] = True
    keras_backends: ClassVar[tuple[str, ...]] = TENSORFLOW_ONLY

    type: Literal["TextVectorization"]
    standardize: Literal["lower_and_strip_punctuation", "lower", "strip_punctuation"] | None = Field(
        "lower_and_strip_punctuation", description="How each string is standardized before splitting; null: as is."
    )
    split: Literal["whitespace", "character"] | None = Field(
        "whitespace", description="How each string is split into tokens; null: each string is one token."
    )
    ngrams: PositiveInt | _NGrams | None = Field(
        None,
        description="Form n-grams of the tokens: n means all n-grams from 1 to n, a list the n-grams of those "
        "sizes; null: the tokens alone.",
    )
    output_mode: OutputMode = Field(
        "int",
        description="'int': a sequence of token indices; 'tf_idf': TF-IDF weighted token counts. 'one_hot', "
        "'multi_hot' and 'count' are refused: Keras returns them as int64 while declaring float32 (use 'int', then "
        "CategoryEncoding).",
    )
    output_sequence_length: PositiveInt | None = Field(
        None, description="'int' only: pad or truncate every sequence to this length; null: the longest in the batch."
    )
    ragged: Literal[False] = Field(
        False, description="Ragged output: not expressible in kspec (every tensor is dense); false only."
    )
    vocabulary: _Strings | None = Field(
        None,
        description=f"The vocabulary, in index order (at most {VOCABULARY_LIMIT:,} tokens; it may start with '' and "
        "'[UNK]'). Null: computed by `adapt: true`.",
    )
    encoding: Literal["utf-8"] = Field("utf-8", description="The text encoding of the strings.")
    # Fixed in Keras's TextVectorization: padding '' at index 0, then one OOV index for '[UNK]'.
    mask_token: ClassVar[str] = ""
    oov_token: ClassVar[str] = "[UNK]"
    num_oov_indices: ClassVar[int] = 1
    invert: ClassVar[bool] = False

    @model_validator(mode="after")
    def _text_arguments(self) -> "TextVectorization":
        if self.output_mode != "int" and self.output_sequence_length is not None:
            raise ValueError(
                "`output_sequence_length` must not be set if `output_mode` is not 'int'. "
                f"Received output_sequence_length={self.output_sequence_length}."
            )
        return self

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        _need_dtypes(self, x, (STRING,), "strings (a model input of dtype string)")
        self._need_state()
        mode = self.output_mode
        if mode in _HOT_MODES:
            raise _int_output_dtype_error(self, mode)
        if self.split is None:
            if x.rank != 2:
                raise ShapeError(
                    f"Layer 'TextVectorization' with split=None reads each string as one token and needs an input of "
                    f"shape (batch, n): Keras declares another shape than it returns on a rank-{x.rank} input. "
                    f"Received: input_shape={shape_str(x.shape)}",
                    field="split",
                )
            if mode == "int":
                return Inferred(Tensor((x.shape[0], self.output_sequence_length), "int64"))
            return Inferred(Tensor((x.shape[0], self._depth()), "float32"))
        if not (x.rank == 1 or (x.rank == 2 and x.shape[1] == 1)):
            raise ShapeError(
                "When using `TextVectorization` to tokenize strings, the input rank must be 1 or the last shape "
                f"dimension must be 1, with one string per example: expected (batch,) or (batch, 1). "
                f"Received: input_shape={shape_str(x.shape)}"
            )
        if mode == "int":
            return Inferred(Tensor((x.shape[0], self.output_sequence_length), "int64"))
        if x.rank == 2:
            raise ShapeError(
                "Layer 'TextVectorization' with output_mode='tf_idf' on a (batch, 1) input declares "
                f"{shape_str((x.shape[0], 1, self._depth()))} but returns {shape_str((x.shape[0], self._depth()))} "
                "when run. Give the model input `shape: []` (one string per example). "
                f"Received: input_shape={shape_str(x.shape)}",
                field="output_mode",
            )
        return Inferred(Tensor((x.shape[0], self._depth()), "float32"))

    def keras_kwargs(self) -> dict[str, Any]:
        kwargs = super().keras_kwargs()
        if isinstance(self.ngrams, tuple):
            kwargs["ngrams"] = self.ngrams  # Keras takes an int or a tuple, not a list
        return kwargs


# ---- hashing -------------------------------------------------------------------------------------------------


class Hashing(Layer):
    """Hashes each value (string, integer, or float truncated to an integer, as Keras does) into one of
    `num_bins` bins (FarmHash64, or SipHash64 with a `salt`).

    Input shape: any. Output shape: 'int': the same, int64 bin indices; 'one_hot': each element of a last axis of
    size 1 as a `num_bins` vector, float32; 'multi_hot', 'count': `(batch, num_bins)` from `(batch, n)`, float32.
    """

    keras_dtype_policy: ClassVar[str] = "int64"  # its output: hashed bin ids

    accepts_strings: ClassVar[bool] = True
    keras_backends: ClassVar[tuple[str, ...]] = NOT_JAX

    type: Literal["Hashing"]
    num_bins: PositiveInt = Field(description="Number of hash bins (with `mask_value`, one of them is the mask's, 0).")
    mask_value: Token | Annotated[int, ExactInt] | None = Field(
        None, description="A value (of the input's kind: a string or an integer) hashed to bin 0; null: none."
    )
    salt: Salt | None = Field(None, description="Salt (key) of a keyed SipHash: one integer, or a pair of integers.")
    output_mode: Literal["int", "one_hot", "multi_hot", "count"] = Field(
        "int", description="'int': a bin index per value; 'one_hot', 'multi_hot', 'count': encoded bins."
    )
    sparse: SparseField = False

    def ids_below(self) -> int | None:
        return self.num_bins if self.output_mode == "int" else None

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        _need_dtypes(self, x, NUMERIC + (STRING,), "numeric or strings")
        if self.mask_value is not None and isinstance(self.mask_value, str) != (x.dtype == STRING):
            raise ShapeError(
                f"Argument `mask_value` of layer 'Hashing' must be of the input's kind (a string for a string input, "
                f"an integer otherwise): Keras fails comparing them when run. Received: mask_value={self.mask_value!r}, "
                f"dtype={x.dtype}",
                field="mask_value",
            )
        mode = self.output_mode
        if mode == "int":
            return Inferred(Tensor(x.shape, "int64"))
        if mode == "one_hot":
            if x.rank < 2 or x.shape[-1] != 1:
                raise ShapeError(
                    "Layer 'Hashing' with output_mode='one_hot' needs a last axis of size 1: Keras declares "
                    f"{shape_str(x.shape[:-1] + (self.num_bins,))} but returns a one-hot vector for each element "
                    f"otherwise. Received: input_shape={shape_str(x.shape)}",
                    field="output_mode",
                )
            return Inferred(Tensor(x.shape[:-1] + (self.num_bins,), "float32"))
        return Inferred(Tensor(_counted_shape(self, x, self.num_bins, mode), "float32"))

    def keras_kwargs(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in super().keras_kwargs().items()}


class HashedCrossing(Layer):
    """Hashes the pair of values of two categorical inputs (strings or integers) into one of `num_bins` bins:
    a feature cross.

    Input shape: two tensors of the same shape, `(batch,)` or `(batch, 1)`, each of strings or integers.
    Output shape: 'int': the same, int64 bin indices; 'one_hot': `(batch, num_bins)`, float32.
    """

    keras_dtype_policy: ClassVar[str] = "int64"  # its output: hashed bin ids

    accepts_strings: ClassVar[bool] = True
    keras_backends: ClassVar[tuple[str, ...]] = NOT_JAX
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 2

    type: Literal["HashedCrossing"]
    num_bins: PositiveInt = Field(description="Number of hash bins.")
    output_mode: Literal["int", "one_hot"] = Field(
        "int", description="'int': a bin index per example; 'one_hot': a one-hot vector of the bin."
    )
    sparse: SparseField = False

    def ids_below(self) -> int | None:
        return self.num_bins if self.output_mode == "int" else None

    def infer(self, inputs: list[Tensor]) -> Inferred:
        first, second = inputs
        for i, x in enumerate(inputs):
            _need_dtypes(self, x, INT_DTYPES + (STRING,), "integers or strings", index=i)
        if first.shape[1:] != second.shape[1:]:
            raise ShapeError(
                "Expected the two input tensors to have identical shapes. "
                f"Received input_shape={[shape_str(first.shape), shape_str(second.shape)]}"
            )
        if not (first.rank == 1 or (first.rank == 2 and first.shape[1] == 1)):
            raise ShapeError(
                "All `HashedCrossing` inputs should have shape `()`, `(batch_size)` or `(batch_size, 1)`. "
                f"Received input_shape={shape_str(first.shape)}"
            )
        if self.output_mode == "int":
            return Inferred(Tensor(first.shape, "int64"))
        return Inferred(Tensor((first.shape[0], self.num_bins), "float32"))


# ---- category encoding and discretization -----------------------------------------------------------------


class CategoryEncoding(Layer):
    """Encodes integer category ids in `[0, num_tokens)` as one-hot, multi-hot or count vectors.

    Input shape: any, of integers (floating-point ids are truncated, as Keras does; multi_hot and count fail on
    them on TensorFlow). Output shape: 'one_hot': a `num_tokens` vector per element, a last axis of size 1
    replaced; 'multi_hot', 'count': `(batch, num_tokens)` from `(batch, n)`; float32.
    """

    type: Literal["CategoryEncoding"]
    num_tokens: PositiveInt = Field(description="Number of categories: the ids lie in [0, num_tokens).")
    output_mode: Literal["one_hot", "multi_hot", "count"] = Field(
        "multi_hot",
        description="'one_hot': a vector per id; 'multi_hot': which ids occur (over the last axis); 'count': how "
        "often each occurs.",
    )
    sparse: SparseField = False

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        _need_dtypes(self, x, NUMERIC, "numeric")
        if self.output_mode == "one_hot":
            return Inferred(Tensor(_one_hot_shape(self, x, self.num_tokens), "float32"))
        if x.dtype in FLOAT_DTYPES:
            raise ShapeError(
                f"Layer 'CategoryEncoding' with output_mode='{self.output_mode}' needs integer ids: TensorFlow's "
                f"bincount fails on floating-point ones. Received: dtype={x.dtype}",
                backends=("tensorflow",),
            )
        return Inferred(Tensor(_counted_shape(self, x, self.num_tokens, self.output_mode), "float32"))


class Discretization(Layer):
    """Buckets numbers into ranges: the index of the bin each value falls in, given `bin_boundaries`
    (`[0., 1.]`: bins (-inf, 0), [0, 1), [1, inf)), or `num_bins` bins of equal counts computed by `adapt: true`.

    Input shape: any, numeric. Output shape: 'int': the same, int32 bin indices; 'one_hot': a vector per element,
    a last axis of size 1 replaced; 'multi_hot', 'count': `(batch, ...)` with axis 1 counted over (Keras's
    own rule: `(batch, d1, d2)` -> `(batch, d2, bins)`); float32.
    """

    model_config = ConfigDict(
        json_schema_extra={
            "anyOf": [_given("bin_boundaries"), _given("num_bins")],
            "allOf": [
                {"if": _given("bin_boundaries"), "then": {"properties": {"num_bins": NULL_OR_ABSENT}}},
                {"if": _is("adapt", True), "then": _given("num_bins")},
            ],
        }
    )
    _non_keras_fields: ClassVar[frozenset[str]] = Layer._non_keras_fields | {"adapt"}

    type: Literal["Discretization"]
    bin_boundaries: _Boundaries | None = Field(
        None,
        description=f"The boundaries between bins, increasing (at most {BOUNDARIES_LIMIT:,}); not together with "
        "`num_bins`.",
    )
    num_bins: Annotated[int, Field(ge=2, le=BOUNDARIES_LIMIT + 1)] | None = Field(
        None, description="Number of bins, with `adapt: true` (which finds their boundaries); not with bin_boundaries."
    )
    epsilon: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.01, description="Error tolerance of the quantiles `adapt: true` computes (about 1/epsilon of them)."
    )
    output_mode: Literal["int", "one_hot", "multi_hot", "count"] = Field(
        "int", description="'int': a bin index per value; 'one_hot', 'multi_hot', 'count': encoded bins."
    )
    sparse: SparseField = False
    adapt: AdaptField = False

    def ids_below(self) -> int | None:
        if self.output_mode != "int":
            return None
        return len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins

    @model_validator(mode="after")
    def _bins(self) -> "Discretization":
        if self.bin_boundaries is not None and self.num_bins is not None:
            raise ValueError(
                "Both `num_bins` and `bin_boundaries` should not be set. "
                f"Received: `num_bins={self.num_bins}` and `bin_boundaries={list(self.bin_boundaries)}`"
            )
        if self.bin_boundaries is None and self.num_bins is None:
            raise ValueError("You need to set either `num_bins` or `bin_boundaries`.")
        if self.adapt and self.num_bins is None:
            raise ValueError(
                "Cannot adapt a Discretization layer that has been initialized with `bin_boundaries`, use "
                "`num_bins` instead."
            )
        return self

    def adapts(self) -> bool:
        return self.adapt

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        _need_dtypes(self, x, NUMERIC, "numeric")
        if self.bin_boundaries is None and not self.adapt:
            raise ShapeError(
                "Layer 'Discretization' with `num_bins` has no bin boundaries until it is adapted: Keras fails when "
                "it is called. Add `adapt: true`, or give `bin_boundaries`. "
                f"Received: num_bins={self.num_bins}",
                field="num_bins",
                code="value",
            )
        depth = len(self.bin_boundaries) + 1 if self.bin_boundaries is not None else self.num_bins
        mode = self.output_mode
        if mode == "int":
            return Inferred(Tensor(x.shape, "int32"))
        if mode == "one_hot":
            return Inferred(Tensor(_one_hot_shape(self, x, depth), "float32"))
        if x.rank < 2:
            _counted_shape(self, x, depth, mode)  # refuses
        return Inferred(Tensor((x.shape[0],) + x.shape[2:] + (depth,), "float32"))

    def keras_kwargs(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in super().keras_kwargs().items()}


LAYERS = (
    TextVectorization,
    StringLookup,
    IntegerLookup,
    Hashing,
    HashedCrossing,
    CategoryEncoding,
    Discretization,
)
