"""Core layers: Dense, EinsumDense, Activation, Dropout, Flatten, Identity."""

import re
from math import prod
from typing import Annotated, ClassVar, Literal

from pydantic import BeforeValidator, Field, WithJsonSchema

from ...shapes import known_prod
from ..base import PositiveFloat, PositiveInt, Rate, Seed, _int_or_list
from ..objects import ACTIVATIONS, Constraint, Initializer, Regularizer, fit_problem
from ..objects import Activation as ActivationField
from ._base import FLOAT_DTYPES, Inferred, Layer, Shape, ShapeError, Tensor, Weights, autocast, shape_str
from ._cost import activation_flops, elements


class Dense(Layer):
    """Just your regular densely-connected NN layer: `activation(dot(input, kernel) + bias)`.

    Input shape: N-D tensor `(batch, ..., input_dim)`. Output shape: `(batch, ..., units)`.
    """

    type: Literal["Dense"]
    affine: ClassVar[bool] = True
    units: PositiveInt = Field(description="Dimensionality of the output space.")
    activation: ActivationField = None
    use_bias: bool = Field(True, description="Whether the layer uses a bias vector.")
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Regularizer = None
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    kernel_constraint: Constraint = None
    bias_constraint: Constraint = None

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_min_rank(x, 2)
        input_dim = self.need_known(x, -1, "last dimension")
        weights = (("kernel", (input_dim, self.units)),) + ((("bias", (self.units,)),) if self.use_bias else ())
        return Inferred.with_weights(Tensor(x.shape[:-1] + (self.units,), "float32"), weights)

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """A multiply-add per kernel value and output row, the bias, the activation."""
        out = elements(output.shape)
        return 2 * out * (inputs[0].shape[-1] or 1) + out * self.use_bias + activation_flops(self.activation, out)


#: `output_shape`: one size or a list of them (null: unknown, or taken from the input), normalised to a tuple.
_EinsumOutputShape = Annotated[
    tuple[PositiveInt | None, ...],
    BeforeValidator(_int_or_list),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 1},
                {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]}},
            ]
        }
    ),
]

#: Keras's three forms of an EinsumDense equation, read with `...` replaced by "0" (keras/src/layers/core/einsum_dense.py,
#: `_analyze_einsum_string`): no ellipsis, an ellipsis on the left, an ellipsis on the right.
_EQUATION_FORMS = (
    (re.compile(r"([a-zA-Z]+),([a-zA-Z]+)->([a-zA-Z]+)"), ""),
    (re.compile(r"0([a-zA-Z]+),([a-zA-Z]+)->0([a-zA-Z]+)"), "left"),
    (re.compile(r"([a-zA-Z]{2,})0,([a-zA-Z]+)->([a-zA-Z]+)0"), "right"),
)


class EinsumDense(Layer):
    """A dense layer of any dimensionality, computed as `einsum(equation, input, kernel) + bias`.

    The equation has one of three forms: `ab,bc->ac` (the input's subscripts, the kernel's, the output's; the first
    input subscript is the batch axis), `...b,bc->...c` (the ellipsis stands for the leading axes, the batch axis
    included) or `ab...,bc->ac...` (for the trailing axes). `output_shape` gives the output's sizes without the batch
    axis and the axes of the ellipsis (null where the input gives it). The kernel's sizes come from the input for the
    subscripts it shares with the input, from `output_shape` for the others; the bias covers the output's axes from
    the first one in `bias_axes` on, with size 1 on the axes not in `bias_axes`.

    Input shape: the rank the equation's input names (more with an ellipsis). Output shape: `(batch, ...)` as Keras
    declares it from `output_shape`. Parameters: the kernel, the bias with `bias_axes`; with LoRA the kernel is frozen
    and two low-rank factors train: `kernel.shape[:-1] + (lora_rank,)` and `(lora_rank, kernel.shape[-1])`.

    kspec refuses what Keras does not check and gets wrong: an equation that Keras reads only the start of, an
    `output_shape` that does not describe what the equation computes (Keras declares its output from `output_shape`
    alone; it also lists the axes of a leading ellipsis beyond the batch axis in reverse order), and an equation that
    moves the batch axis from the front (kspec policy `einsum-equation`). `gptq_unpacked_column_size` and
    `quantization_config` are omitted.
    """

    type: Literal["EinsumDense"]
    affine: ClassVar[bool] = True
    equation: str = Field(
        description="The einsum equation: `[X],[Y]->[Z]`, `...[X],[Y]->...[Z]` or `[X]...,[Y]->[Z]...`, where X, Y "
        "and Z are the subscripts (letters) of the input, the kernel and the output, e.g. `ab,bc->ac`.",
    )
    output_shape: _EinsumOutputShape = Field(
        description="The output's sizes, without the batch axis and the axes of the ellipsis: an int or a list "
        "(null for a size that the input gives).",
    )
    activation: ActivationField = None
    bias_axes: Annotated[str, Field(pattern=r"^[a-zA-Z]+(?![\s\S])")] | None = Field(
        None,
        description="The output subscripts (letters of the equation's output) that get a bias; null means no bias.",
    )
    kernel_initializer: Initializer = "glorot_uniform"
    bias_initializer: Initializer = "zeros"
    kernel_regularizer: Regularizer = None
    bias_regularizer: Regularizer = None
    activity_regularizer: Regularizer = None
    kernel_constraint: Constraint = None
    bias_constraint: Constraint = None
    lora_rank: PositiveInt | None = Field(
        None,
        description="If set, enable LoRA: the kernel is frozen and a trainable low-rank update of this rank is learned "
        "(factored on the kernel's last axis). Incompatible with `kernel_constraint`.",
    )
    lora_alpha: PositiveFloat | None = Field(
        None,
        description="Scale of the LoRA update (`lora_alpha / lora_rank`); null means `lora_rank`. Only with `lora_rank`.",
    )

    def _invalid(self) -> ShapeError:
        return ShapeError(
            f"Invalid einsum equation '{self.equation}'. Equations must be in the form [X],[Y]->[Z], "
            "...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....",
            field="equation",
        )

    def subscripts(self) -> tuple[str, str, str, str]:
        """The equation's subscripts of the input, the kernel and the output, and where its ellipsis is ("left",
        "right" or ""). ShapeError where Keras refuses the equation, or reads only its start (a policy)."""
        if "0" in self.equation:  # Keras reads "..." as "0": a 0 of the user's passes its reading, and fails in einsum
            raise self._invalid()
        read = self.equation.replace("...", "0")
        found = next(((m, side) for pattern, side in _EQUATION_FORMS if (m := pattern.match(read))), None)
        if found is None:
            raise self._invalid()
        match, ellipsis = found
        if match.end() != len(read):
            raise ShapeError(
                f"Invalid einsum equation '{self.equation}': it continues after its output subscripts "
                f"'{match.group(3)}' (kspec policy: Keras reads only the start of the equation, and einsum the "
                "whole of it). Equations must be in the form [X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....",
                field="equation",
                policy="einsum-equation",
            )
        inputs, kernel, output = match.groups()
        return inputs, kernel, output, ellipsis

    def _check_subscripts(self, inputs: str, kernel: str, output: str) -> None:
        """Keras's checks of the subscripts against each other (before it looks at sizes), and einsum's own."""
        for dim in output:
            if dim not in inputs and dim not in kernel:
                raise ShapeError(
                    f"Dimension '{dim}' was specified in the output '{output}' but has no corresponding dim in the "
                    f"input spec '{inputs}' or weight spec '{kernel}'. Received: equation='{self.equation}'",
                    field="equation",
                )
        for dim in kernel:
            if dim not in inputs and dim not in output:
                raise ShapeError(
                    f"Weight dimension '{dim}' did not have a match in either the input spec '{inputs}' or the "
                    f"output spec '{output}'. For this layer, the weight must be fully specified. "
                    f"Received: equation='{self.equation}'",
                    field="equation",
                )
        for char in self.bias_axes or "":
            if char not in output:
                raise ShapeError(
                    f"Bias dimension '{char}' was requested, but is not part of the output spec '{output}'. "
                    f"Received: bias_axes='{self.bias_axes}'",
                    field="bias_axes",
                )
        repeated = sorted({d for d in output if output.count(d) > 1})
        if repeated:
            raise ShapeError(
                f"Output subscripts contain a label appearing more than once: '{repeated[0]}' in '{output}' "
                f"(einsum refuses it when the layer runs). Received: equation='{self.equation}'",
                field="equation",
            )

    def _output_sizes(self, x: Tensor, inputs: str, output: str, ellipsis: str) -> list[int | None]:
        """The output shape Keras declares (batch axis first), as `_analyze_split_string` builds it."""
        rank, elided = x.rank, x.rank - len(inputs)
        if elided < 0 or (elided > 0 and not ellipsis):
            raise ShapeError(
                f"Input 0 of layer 'EinsumDense' is incompatible with the layer: its equation's input '{inputs}' "
                f"names {len(inputs)} axes (the batch axis included){' and an ellipsis' if ellipsis else ''}, "
                f"found ndim={rank}. Received: equation='{self.equation}', input_shape={shape_str(x.shape)}"
            )
        partial = list(self.output_shape)
        # with a leading ellipsis over the batch axis and more, output_shape gives the output subscripts' sizes;
        # otherwise the first output subscript is the batch axis, which output_shape leaves out
        expected = len(output) if ellipsis == "left" and elided > 0 else len(output) - 1
        shift = elided if ellipsis == "left" else 0  # where the output subscripts start in Keras's reading
        extra = max(elided - 1, 0) if ellipsis == "left" else elided  # the ellipsis axes Keras adds to output_shape
        if len(partial) != expected:
            raise ShapeError(
                f"Argument `output_shape` of layer 'EinsumDense' must give {expected} sizes for the output "
                f"subscripts '{output}' of equation '{self.equation}' on an input of rank {rank}"
                + (" (the first is the batch axis)" if expected < len(output) else "")
                + f", without the axes of the ellipsis. Received: output_shape={partial}",
                field="output_shape",
                # too few to reach every output subscript: Keras fails (an index error); otherwise it declares
                # another shape than the layer computes
                policy=None if 1 + len(partial) + extra < len(output) + shift else "einsum-equation",
            )
        out = [x.shape[0], *partial]
        if ellipsis == "left":
            for i in range(1, elided):
                out.insert(1, x.shape[i])  # sic: Keras inserts each axis at 1, listing them in reverse order
        elif elided > 0:
            out.extend(x.shape[rank - elided :])
        return out

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        ins, ker, outs, ellipsis = self.subscripts()
        self._check_subscripts(ins, ker, outs)
        declared = self._output_sizes(x, ins, outs, ellipsis)
        elided = x.rank - len(ins)
        shift = elided if ellipsis == "left" else 0
        in_axis = {d: i + shift for i, d in enumerate(ins)}  # Keras's maps keep a repeated subscript's last axis
        out_axis = {d: i + shift for i, d in enumerate(outs)}
        for dim in ins:
            if (
                dim in out_axis
                and declared[out_axis[dim]] is not None
                and declared[out_axis[dim]] != x.shape[in_axis[dim]]
            ):
                raise ShapeError(
                    f"Input shape and output shape do not match at shared dimension '{dim}'. Input shape is "
                    f"{x.shape[in_axis[dim]]}, and output shape is {declared[out_axis[dim]]}. Received: "
                    f"equation='{self.equation}', output_shape={list(self.output_shape)}, input_shape={shape_str(x.shape)}",
                    field="output_shape",
                )
        kernel = self._sized(
            "kernel", tuple(declared[out_axis[d]] if d in out_axis else x.shape[in_axis[d]] for d in ker), x
        )
        weights: Weights = (("kernel", kernel),)
        if self.bias_axes is not None:  # the output's axes from the first one with a bias on, 1 where it has none
            first = min(outs.find(c) for c in self.bias_axes)
            bias = tuple(declared[out_axis[c]] if c in self.bias_axes else 1 for c in outs[first:])
            weights += (("bias", self._sized("bias", bias + (1,) * (elided if ellipsis == "right" else 0), x)),)
        self._check_computed(x, ins, ker, outs, ellipsis, kernel, declared)
        self._refuse_integer_contraction(x, ins, ker, outs, ellipsis)
        lora, frozen = lora_weights(self, "kernel", kernel)
        return Inferred.with_weights(Tensor(tuple(declared), "float32"), weights + lora, frozen)

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """A multiply-add per output value and value of the contracted subscripts (the kernel's subscripts that
        are not in the output), the bias, the activation."""
        _, ker, outs, _ = self.subscripts()
        kernel = dict(self.infer(inputs).weights)["kernel"]
        contracted = prod(size for d, size in zip(ker, kernel) if d not in outs)
        out = elements(output.shape)
        return 2 * out * contracted + out * (self.bias_axes is not None) + activation_flops(self.activation, out)

    def _sized(self, role: str, shape: Shape, x: Tensor) -> tuple[int, ...]:
        """A weight's shape, which Keras needs known (it fails to create the weight otherwise)."""
        sizes = tuple(d for d in shape if d is not None)
        if len(sizes) < len(shape):
            raise ShapeError(
                f"Layer 'EinsumDense' needs a known size for every axis of its {role}, but its shape would be "
                f"{shape_str(shape)}: give `output_shape` a size for each output subscript that the input does "
                f"not fix. Received: equation='{self.equation}', output_shape={list(self.output_shape)}, "
                f"input_shape={shape_str(x.shape)}",
                field="output_shape",
            )
        return sizes

    def _check_computed(
        self, x: Tensor, ins: str, ker: str, outs: str, ellipsis: str, kernel: tuple[int, ...], declared: list
    ) -> None:
        """The output the equation computes must be the one Keras declares: the batch axis first, and each size
        Keras declares the one computed (Keras declares None where it does not know). Each subscript's sizes must
        agree (a subscript repeated in the input takes a diagonal)."""
        rank, elided = x.rank, x.rank - len(ins)
        shift = elided if ellipsis == "left" else 0
        sizes: dict[str, list[int | None]] = {}
        for i, d in enumerate(ins):
            sizes.setdefault(d, []).append(x.shape[i + shift])
        for d, size in zip(ker, kernel):
            sizes.setdefault(d, []).append(size)
        for d, values in sizes.items():
            if len(set(values)) > 1:
                known = None not in values
                raise ShapeError(
                    f"Layer 'EinsumDense' gives the subscript '{d}' of its equation different sizes: "
                    f"{', '.join(str(v) for v in values)}"
                    + ("" if known else " (kspec policy: an unknown size agrees only with another unknown one)")
                    + f". Received: equation='{self.equation}', output_shape={list(self.output_shape)}, "
                    f"input_shape={shape_str(x.shape)}",
                    field="equation",
                    policy=None if known else "einsum-equation",
                )
        batch_in_ellipsis = ellipsis == "left" and elided > 0
        if not batch_in_ellipsis and (ins.count(ins[0]) > 1 or outs[0] != ins[0]):
            raise ShapeError(
                f"The equation of layer 'EinsumDense' must keep the batch axis (the input subscript '{ins[0]}') as "
                "the first axis of its output, and not repeat it (kspec policy: Keras declares the output's first "
                f"axis the batch axis). Received: equation='{self.equation}'",
                field="equation",
                policy="einsum-equation",
            )
        letters = [next((v for v in sizes[d] if v is not None), None) for d in outs]
        if ellipsis == "left":
            computed = list(x.shape[:elided]) + letters
        else:
            computed = letters + list(x.shape[rank - elided :] if elided > 0 else ())
        for axis, (said, got) in enumerate(zip(declared, computed)):
            if said is not None and said != got:
                raise ShapeError(
                    f"Layer 'EinsumDense' would declare an output of shape {shape_str(tuple(declared))} but compute "
                    f"one of shape {shape_str(tuple(computed))} (axis {axis}; kspec policy: later layers would be "
                    "built for the declared shape)"
                    + (
                        ": Keras lists the axes of a leading ellipsis after the batch axis in reverse order"
                        if ellipsis == "left" and 1 <= axis < elided
                        else ""
                    )
                    + f". Received: equation='{self.equation}', output_shape={list(self.output_shape)}, "
                    f"input_shape={shape_str(x.shape)}",
                    field="output_shape",
                    policy="einsum-equation",
                )

    def _refuse_integer_contraction(self, x: Tensor, ins: str, ker: str, outs: str, ellipsis: str) -> None:
        """PyTorch's einsum of an integer or boolean input with the float kernel fails where it contracts an axis
        of size above 1 (a batched matrix product); TensorFlow and JAX promote the input."""
        shift = x.rank - len(ins) if ellipsis == "left" else 0
        contracted = [d for i, d in enumerate(ins) if d in ker and d not in outs and x.shape[i + shift] != 1]
        if contracted:
            self.refuse_on(
                x,
                "P",
                f" where its equation contracts the input's axis '{contracted[0]}' with the kernel (einsum of "
                "integers or booleans with a float kernel fails on PyTorch unless the contracted axes have size 1)",
            )


def lora_weights(layer: Layer, role: str, kernel: tuple[int, ...]) -> tuple[Weights, int]:
    """LoRA's two trainable factors of a layer's frozen weight of this role (`kernel`, `embeddings`), where the
    layer has `lora_rank`, and the number of values frozen; the factors' regularizer is the weight's own.
    ShapeError where Keras refuses LoRA (a constraint on the weight), or the regularizer cannot apply to a factor;
    `lora_alpha` without `lora_rank` is refused (Keras ignores it)."""
    rank = layer.lora_rank
    if rank is None:
        if layer.lora_alpha is not None:
            raise ShapeError(
                "`lora_alpha` is used only with `lora_rank` (kspec policy: Keras would ignore it). "
                f"Received: lora_alpha={layer.lora_alpha}, lora_rank=None",
                field="lora_alpha",
                policy="ignored-argument",
            )
        return (), 0
    constraint = getattr(layer, f"{role}_constraint")
    if constraint is not None:
        raise ShapeError(
            f"Lora is incompatible with {role} constraints: remove the `{role}_constraint` argument or `lora_rank`. "
            f"Received: lora_rank={rank}, {role}_constraint={constraint!r}",
            field="lora_rank",
        )
    factors: Weights = (("lora_a", kernel[:-1] + (rank,)), ("lora_b", (rank, kernel[-1])))
    regularizer = getattr(layer, f"{role}_regularizer")
    for name, shape in factors:
        problem = None if regularizer is None else fit_problem(regularizer, shape)
        if problem is not None:
            raise ShapeError(
                f"Argument `{role}_regularizer` of layer '{layer.layer_type}' cannot apply to its LoRA factor "
                f"{name} of shape {shape_str(shape)} (Keras regularizes the factors with it too): {problem[0]}. "
                f"Received: lora_rank={rank}",
                field=f"{role}_regularizer",
                policy=problem[1],
            )
    return factors, prod(kernel)


class Activation(Layer):
    """Applies an activation function to an output. Output shape: same as input."""

    type: Literal["Activation"]
    activation: Literal[ACTIVATIONS] = Field(description="Activation function by Keras name.")  # type: ignore[valid-type]

    def saved_values(self, inputs: list[Tensor], output: Tensor) -> int:
        return 0  # the values before the activation are the previous layer's output, counted there

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        # kspec policy: Keras declares float32, but on integers most activations fail (softmax,
        # sigmoid, ...) or return integers (linear, relu, relu6); a few (tanh) happen to work.
        if x.dtype not in FLOAT_DTYPES:
            raise ShapeError(
                "Layer 'Activation' expects a floating-point input (kspec policy: on integers most "
                "activations fail or keep the integer dtype). Received: dtype=" + x.dtype,
                policy="float-activation",
            )
        return Inferred(Tensor(x.shape, "float32"))

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        return activation_flops(self.activation, elements(output.shape))


class Dropout(Layer):
    """Randomly sets input units to 0 with frequency `rate` during training; scales the rest by 1/(1 - rate)."""

    training_only: ClassVar[bool] = True
    passes_values: ClassVar[str | None] = "scales"

    type: Literal["Dropout"]
    drops_values: ClassVar[bool] = True
    rate: Rate = Field(
        description="Fraction of the input units to drop, in [0, 1) (1 is refused: it zeroes everything)."
    )
    noise_shape: list[PositiveInt | None] | None = Field(
        None, description="Shape of the binary dropout mask, broadcast against the input (batch axis included)."
    )
    seed: Seed | None = Field(None, description="Random seed for the dropout mask, for reproducible runs.")

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        # Keras declares float32, but returns the integer dtype unchanged (and cannot drop from it).
        self.need_float(x, ": dropout of integers keeps their dtype, unlike what Keras declares")
        if self.noise_shape is not None:
            _check_noise_shape(self, x)
        return Inferred(Tensor(x.shape, "float32"))


def _check_noise_shape(layer: Dropout, x: Tensor) -> None:
    from ._base import ShapeError, shape_str

    ns = layer.noise_shape or []
    if len(ns) != x.rank or any(n is not None and n != 1 and d is not None and n != d for n, d in zip(ns, x.shape)):
        raise ShapeError(
            f"Argument `noise_shape` must broadcast to the input shape {shape_str(x.shape)}: "
            f"each entry 1, null or equal to the input's"
            + (
                " (kspec policy: at rate 0 Keras never builds the mask, but fails once the rate is raised)"
                if layer.rate == 0
                else ""
            )
            + f". Received: noise_shape={list(ns)}",
            field="noise_shape",
            policy="noise-shape" if layer.rate == 0 else None,
        )


class Flatten(Layer):
    """Flattens the input, not the batch axis. `(batch, d1, d2, ...)` -> `(batch, d1*d2*...)`."""

    passes_values: ClassVar[str | None] = "keeps"

    type: Literal["Flatten"]
    mask_passing: ClassVar[str] = "ends"

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_min_rank(x, 1)
        return Inferred(Tensor((x.shape[0], known_prod(x.shape[1:])), autocast(x.dtype)))


class Identity(Layer):
    """Returns its input unchanged; a placeholder."""

    passes_values: ClassVar[str | None] = "keeps"

    type: Literal["Identity"]

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        return Inferred(Tensor(x.shape, autocast(x.dtype)))


LAYERS = (Dense, EinsumDense, Activation, Dropout, Flatten, Identity)
