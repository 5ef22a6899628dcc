"""Normalization layers: BatchNormalization, LayerNormalization, GroupNormalization, UnitNormalization,
RMSNormalization, and the wrapper SpectralNormalization.

Each keeps its input's shape and returns float32 (the layer's compute dtype);
SpectralNormalization returns what the layer it wraps returns. The weights
(gamma, beta, moving statistics, RMSNormalization's scale) have one entry per
element of the normalized axis or axes, so those axes must have a known size;
the batch axis (axis 0) never has one.

Dtypes: BatchNormalization takes any input. LayerNormalization and
GroupNormalization cast their result back to the input's dtype, so with
weights they need a floating-point input (on integers gamma and beta never
get a gradient); RMSNormalization and SpectralNormalization cast it back too,
and always have weights. UnitNormalization's square root needs a
floating-point input.

SpectralNormalization wraps a layer with a kernel (Dense, EinsumDense, a
convolution) and divides that kernel by its largest singular value at each
training step; it adds one non-trainable vector.
"""

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from ..base import Axes, ExactInt, KspecModel, PositiveFloat, PositiveInt
from ..objects import Constraint, Initializer, Regularizer
from ._base import FLOAT_DTYPES, Inferred, Layer, ShapeError, Tensor, Weights, shape_str
from ._cost import elements
from .conv import Conv1D, Conv1DTranspose, Conv2D, Conv2DTranspose, Conv3D, DepthwiseConv1D, DepthwiseConv2D
from .core import Dense, EinsumDense
from .recurrent import _UNNAMED, _refuse_wrapped_name, _wrapped_infer

Momentum = Annotated[float, Field(ge=0, le=1)]


def _known_dims(layer: Layer, x: Tensor, axes: list[int], shown: Any, field: str = "axis") -> list[int]:
    """The sizes of the normalized axes, which size the weights; ShapeError if one is unknown."""
    dims = [x.shape[a] for a in axes]
    for a, d in zip(axes, dims):
        if d is None:
            what = "the batch axis, which has no fixed size" if a == 0 else "an axis of unknown size"
            raise ShapeError(
                f"Layer '{layer.layer_type}' needs a defined dimension on each normalized axis, "
                f"but axis {a} is {what}. Received: {field}={shown}, input_shape={shape_str(x.shape)}",
                field=field,
            )
    return dims  # type: ignore[return-value]


class _Affine(Layer):
    """The learned offset (beta) and scale (gamma) shared by the normalization layers."""

    epsilon: PositiveFloat = Field(1e-3, description="Small float added to the variance to avoid dividing by zero.")
    center: bool = Field(True, description="If true, add a learned offset `beta` to the normalized tensor.")
    scale: bool = Field(True, description="If true, multiply the normalized tensor by a learned `gamma`.")
    beta_initializer: Initializer = Field("zeros", description="Initializer for the beta weight.")
    gamma_initializer: Initializer = Field("ones", description="Initializer for the gamma weight.")
    beta_regularizer: Regularizer = Field(None, description="Optional regularizer for the beta weight.")
    gamma_regularizer: Regularizer = Field(None, description="Optional regularizer for the gamma weight.")
    beta_constraint: Constraint = Field(None, description="Optional constraint for the beta weight.")
    gamma_constraint: Constraint = Field(None, description="Optional constraint for the gamma weight.")

    def _affine_weights(self, shape: tuple[int, ...]) -> Weights:
        """gamma (with `scale`) and beta (with `center`), each of this shape."""
        return ((("gamma", shape),) if self.scale else ()) + ((("beta", shape),) if self.center else ())

    def _need_float_for_weights(self, x: Tensor) -> None:
        """LayerNormalization and GroupNormalization cast their result back to the input's dtype.

        On an integer (or bool) input that rounds the output and cuts the gradient of gamma and
        beta: they never train, and a model whose only weights they are fails its training step.
        """
        if (self.center or self.scale) and x.dtype not in FLOAT_DTYPES:
            raise ShapeError(
                f"Layer '{self.layer_type}' casts its output back to the input's dtype, so on dtype "
                f"{x.dtype} gamma and beta get no gradient: expected a floating-point input, or "
                f"center=false and scale=false. Received: dtype={x.dtype}",
                policy="frozen-weights",  # Keras runs it on JAX and PyTorch too, but gamma and beta never train
            )


class RenormClipping(KspecModel):
    """Bounds on Batch Renormalization's correction `(r, d)`: r is clipped to [rmin, rmax], d to [-dmax, dmax]."""

    rmax: PositiveFloat | None = Field(None, description="Upper bound of r; null means no bound (inf).")
    rmin: Annotated[float, Field(ge=0)] | None = Field(None, description="Lower bound of r; null means 0.")
    dmax: Annotated[float, Field(ge=0)] | None = Field(None, description="Bound of |d|; null means no bound (inf).")

    @model_validator(mode="after")
    def _ordered(self) -> "RenormClipping":
        if self.rmax is not None and self.rmin is not None and self.rmax < self.rmin:
            raise ValueError(
                f"rmax should be greater than rmin in the `renorm_clipping` argument. "
                f"Received: rmax={self.rmax}, rmin={self.rmin}"
            )
        return self

    def to_keras(self) -> Any:
        return {k: v for k, v in self if v is not None}


class BatchNormalization(_Affine):
    """Normalizes each feature with the batch's mean and variance in training, moving averages in inference.

    Output: `gamma * (x - mean) / sqrt(var + epsilon) + beta` per entry of `axis`.

    Input shape: any rank, with a known size on `axis`. Output shape: same as input.
    Weights: gamma and beta (trainable, when `scale` / `center`), moving mean and
    variance (non-trainable); with `renorm`, three more non-trainable vectors.
    """

    type: Literal["BatchNormalization"]
    axis: int = Field(
        -1,
        description="The features axis, normalized per entry; negative values count from the end. Not the batch axis.",
    )
    momentum: Momentum = Field(0.99, description="Momentum of the moving averages of mean and variance, in [0, 1].")
    moving_mean_initializer: Initializer = Field("zeros", description="Initializer for the moving mean.")
    moving_variance_initializer: Initializer = Field("ones", description="Initializer for the moving variance.")
    renorm: bool = Field(
        False, description="Whether to use Batch Renormalization (adds three non-trainable weight vectors)."
    )
    renorm_clipping: RenormClipping | None = Field(
        None, description="Renorm only: bounds `rmax`, `rmin`, `dmax` of the renorm correction."
    )
    renorm_momentum: Momentum = Field(
        0.99, description="Renorm only: momentum of the renorm moving mean and stddev, in [0, 1]."
    )

    def subtracts_mean(self) -> bool:
        return self.center

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """At inference, a multiply and an add per value (the statistics and the affine weights fold into one
        scale and offset per channel, once per batch)."""
        return 2 * elements(output.shape)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        if self.renorm_clipping is not None and not self.renorm:
            raise ShapeError(
                "`renorm_clipping` is used only with renorm=true (kspec policy: Keras would ignore it). "
                "Received: renorm=False",
                field="renorm_clipping",
                policy="ignored-argument",
            )
        (axis,) = self.normalize_axes((self.axis,), x)
        (size,) = _known_dims(self, x, [axis], self.axis)
        statistics = ("moving_mean", "moving_variance") + (
            ("moving_stddev", "renorm_mean", "renorm_stddev") if self.renorm else ()
        )
        weights = self._affine_weights((size,)) + tuple((name, (size,)) for name in statistics)
        return Inferred.with_weights(Tensor(x.shape, "float32"), weights, size * len(statistics))


class LayerNormalization(_Affine):
    """Normalizes each example over `axis` (not across the batch), then scales by gamma and offsets by beta.

    Input shape: any rank, with known sizes on `axis` (unless neither `center` nor `scale`).
    Output shape: same as input. Weights: gamma and beta, each shaped like the normalized axes.
    """

    type: Literal["LayerNormalization"]
    axis: Axes = Field(
        -1,
        validate_default=True,
        description="The axis or axes to normalize over, typically the features axis; negative values count from the end.",
    )

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """Per value: its share of the mean and variance (add, subtract, square, add), the normalization and the
        scale and offset, with the per-row terms: about 9 (as XLA counts them)."""
        return 9 * elements(output.shape)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        axes = self.normalize_axes(self.axis, x)
        self._need_float_for_weights(x)
        self.refuse_constant(x, axes, "beta (0 at first)")
        shown = self.axis[0] if len(self.axis) == 1 else list(self.axis)
        # without weights, no sizes are needed
        shape = tuple(_known_dims(self, x, axes, shown)) if self.center or self.scale else ()
        if x.rank - 1 not in axes:  # PyTorch's layer_norm normalizes trailing axes only (found by the properties)
            raise ShapeError(
                f"Layer 'LayerNormalization' normalizes over axes that leave out the last one. Received: "
                f"axis={shown}, input_shape={shape_str(x.shape)}",
                field="axis",
                backends=("torch",),
            )
        return Inferred.with_weights(Tensor(x.shape, "float32"), self._affine_weights(shape))


class GroupNormalization(_Affine):
    """Splits the channels of `axis` into `groups` and normalizes each example within each group.

    `groups=1` is Layer Normalization over all axes; `groups=-1` (one channel per group) is Instance Normalization.

    Input shape: any rank, with a known size on `axis` that `groups` divides. Output shape: same as input.
    Weights: gamma and beta, one entry per channel.
    """

    type: Literal["GroupNormalization"]
    groups: PositiveInt | Annotated[Literal[-1], ExactInt] = Field(
        32, description="Number of groups; must divide the number of channels. -1 means one group per channel."
    )
    axis: int = Field(-1, description="The channels axis; negative values count from the end. Not the batch axis.")

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """As LayerNormalization, over each group, with fewer per-row terms: about 7 per value."""
        return 7 * elements(output.shape)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        (axis,) = self.normalize_axes((self.axis,), x)
        self._need_float_for_weights(x)
        (dim,) = _known_dims(self, x, [axis], self.axis)
        groups = dim if self.groups == -1 else self.groups
        if dim < groups:
            raise ShapeError(
                f"Number of groups ({groups}) cannot be more than the number of channels ({dim}). "
                f"Received: groups={self.groups}, input_shape={shape_str(x.shape)}",
                field="groups",
            )
        if dim % groups:
            raise ShapeError(
                f"Number of groups ({groups}) must divide the number of channels ({dim}). "
                f"Received: groups={self.groups}, input_shape={shape_str(x.shape)}",
                field="groups",
            )
        if dim // groups == 1:  # each group: one channel, normalized over the other non-batch axes
            self.refuse_constant(x, [a for a in range(1, x.rank) if a != axis], "beta (0 at first)", field="groups")
        return Inferred.with_weights(Tensor(x.shape, "float32"), self._affine_weights((dim,)))


class UnitNormalization(Layer):
    """Scales each example to unit L2 norm over `axis`: `x / sqrt(sum(x**2, axis))`. No weights.

    Input shape: any rank, floating point. Output shape: same as input.
    """

    type: Literal["UnitNormalization"]
    axis: Axes = Field(
        -1,
        validate_default=True,
        description="The axis or axes along which to normalize; negative values count from the end.",
    )

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """A square, a sum and a multiply per value."""
        return 3 * elements(output.shape)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        # its square root fails on integers on TensorFlow and JAX; PyTorch promotes them (not uint64)
        self.refuse_on(x, "TJP" if x.dtype == "uint64" else "TJ", ": its square root fails on integers")
        self.refuse_constant(x, self.normalize_axes(self.axis, x), "the sign of the input (a zero gradient)")
        return Inferred(Tensor(x.shape, "float32"))


class RMSNormalization(Layer):
    """Root mean square normalization (Zhang and Sennrich 2019): `x * rsqrt(mean(x**2, axis) + epsilon) * scale`.

    Input shape: any rank, floating point, with known sizes on `axis`, which must be the last axes (Keras
    multiplies by the scale broadcast against the last axes). Output shape: same as input.
    Weights: `scale`, shaped like the normalized axes.
    """

    type: Literal["RMSNormalization"]
    axis: Axes = Field(
        -1,
        validate_default=True,
        description="The axis or axes to normalize over: the last axis, or the last few; negative values count from "
        "the end.",
    )
    epsilon: PositiveFloat = Field(1e-6, description="Small float added to the mean square to avoid dividing by zero.")

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """A square, a sum, the normalization and the scale per value."""
        return 4 * elements(output.shape)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        if x.dtype not in FLOAT_DTYPES:  # Keras declares float32, but the result comes back in the input's dtype
            raise ShapeError(
                "Layer 'RMSNormalization' casts its output back to the input's dtype, so on dtype "
                f"{x.dtype} its scale gets no gradient and the output is not the float32 Keras declares: expected "
                f"a floating-point input. Received: dtype={x.dtype}"
            )
        axes = sorted(self.normalize_axes(self.axis, x))
        shown = self.axis[0] if len(self.axis) == 1 else list(self.axis)
        sizes = tuple(_known_dims(self, x, axes, shown))
        if axes != list(range(x.rank - len(axes), x.rank)):
            # the scale, shaped like the axes, is broadcast against the last axes (and PyTorch's rms_norm
            # normalizes the last ones): it fails unless the sizes happen to broadcast, and then means another thing
            last = x.shape[x.rank - len(sizes) :]
            fails = any(s != d and 1 not in (s, d) and d is not None for s, d in zip(sizes, last))
            raise ShapeError(
                "Layer 'RMSNormalization' normalizes over the last axes only: Keras multiplies its output by the "
                "scale, shaped like the axes of `axis`, broadcast against the input's last axes"
                + ("" if fails else " (kspec policy: with these sizes Keras runs it, with another meaning)")
                + f". Received: axis={shown}, input_shape={shape_str(x.shape)}",
                field="axis",
                policy=None if fails else "rms-axes",
            )
        self.refuse_constant(x, axes, "the sign of the input (a zero gradient)")
        return Inferred.with_weights(Tensor(x.shape, "float32"), (("scale", sizes),))


#: The layers SpectralNormalization can wrap: those with a `kernel` in Keras. (Keras also wraps an Embedding, by its
#: `embeddings`, but casts the output to the input's dtype, the integer indices': it never trains.)
KernelLayer = Annotated[
    Dense
    | EinsumDense
    | Conv1D
    | Conv2D
    | Conv3D
    | Conv1DTranspose
    | Conv2DTranspose
    | DepthwiseConv1D
    | DepthwiseConv2D,
    Field(discriminator="type"),
]


class SpectralNormalization(Layer):
    """Divides the kernel of the wrapped layer by its spectral norm (its largest singular value, estimated by power
    iteration) at each training step, then applies the layer (Miyato et al. 2018).

    Input shape: the wrapped layer's, floating point. Output shape: the wrapped layer's.
    Parameters: the wrapped layer's, and a non-trainable `vector_u` of shape `(1, kernel.shape[-1])`.
    The wrapped layer must not use LoRA: its kernel is then computed, and the wrapper cannot update it.
    """

    type: Literal["SpectralNormalization"]
    layer: KernelLayer = Field(
        description="The layer whose kernel is normalized: Dense, EinsumDense or a convolution (Conv1D/2D/3D, "
        "Conv1D/2DTranspose, DepthwiseConv1D/2D), without `name` or `inputs`.",
        json_schema_extra=_UNNAMED,
    )
    power_iterations: PositiveInt = Field(1, description="Number of power iterations per training step.")

    @model_validator(mode="after")
    def _inner_layer_is_not_a_node(self) -> "SpectralNormalization":
        _refuse_wrapped_name("SpectralNormalization", "layer", self.layer)
        return self

    def final_activation(self) -> str | None:
        return self.layer.final_activation()

    def flops(self, inputs: list[Tensor], output: Tensor) -> int:
        """The wrapped layer's (at inference the normalized kernel is read as it is)."""
        return self.layer.flops(inputs, output)

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        if x.dtype not in FLOAT_DTYPES:  # Keras declares float32, but the result comes back in the input's dtype
            raise ShapeError(
                "Layer 'SpectralNormalization' casts the output of the layer it wraps to the input's dtype, so on "
                f"dtype {x.dtype} nothing trains and the output is not the float32 Keras declares: expected a "
                f"floating-point input. Received: dtype={x.dtype}"
            )
        if getattr(self.layer, "lora_rank", None) is not None:
            raise ShapeError(
                "Layer 'SpectralNormalization' cannot wrap a layer with LoRA: its kernel is then computed from the "
                f"frozen one and the low-rank factors, and the wrapper cannot update it in training. Received: "
                f"layer.lora_rank={self.layer.lora_rank}",
                field="layer",
            )
        inner = _wrapped_infer(self.layer, [x], "layer")
        kernel = inner.weights[0][1]  # the `kernel` of Keras's layer: each type that KernelLayer lists has it first
        vector_u = (1, kernel[-1])
        weights = tuple((f"layer.{role}", shape) for role, shape in inner.weights) + (("vector_u", vector_u),)
        return Inferred(inner.output, inner.params + kernel[-1], inner.non_trainable + kernel[-1], weights)


LAYERS = (
    BatchNormalization,
    LayerNormalization,
    GroupNormalization,
    UnitNormalization,
    RMSNormalization,
    SpectralNormalization,
)
