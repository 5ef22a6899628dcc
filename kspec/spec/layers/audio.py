"""Audio layers: MelSpectrogram and STFTSpectrogram, from waveforms to spectrograms.

MelSpectrogram takes a batch of mono waveforms `(batch, samples)` and computes without weights;
STFTSpectrogram takes `(batch, samples, channels)` and computes its Fourier transform as a strided 1-D
convolution with trainable kernels (set up as the transform by Keras). Neither acts differently in training.

What Keras 3.15 needs, and kspec checks:
- MelSpectrogram declares `(samples + sequence_stride + 1) // sequence_stride` frames, but computes
  `1 + (samples + 2 * (fft_length // 2) - fft_length) // sequence_stride`; where the two differ (one sample in
  `sequence_stride` sizes, two for an odd `fft_length`) the model gets another shape than it declared, and kspec
  refuses the size. Its centred padding reflects `fft_length // 2` samples, which TensorFlow and PyTorch need the
  waveform to be longer than (portability). It scales decibels against the loudest value of the whole batch
  (`top_db`), so an example's output depends on the other examples of its batch at the quietest values.
- STFTSpectrogram needs a known number of channels, floating-point waveforms, an FFT of 2 samples or more and a
  window that is not all zeros (the symmetric Hann window of 2 samples is): Keras's kernels are NaN otherwise.
"""

import math
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ...diagnostics import PolicyError
from ...shapes import conv_output_length
from ..base import FLOAT_MAX, PositiveInt
from ._base import FLOAT_DTYPES, INT_DTYPES, Inferred, Layer, ShapeError, Tensor, shape_str

_NonNegative = Annotated[float, Field(ge=0, le=FLOAT_MAX)]
_Positive = Annotated[float, Field(gt=0, le=FLOAT_MAX)]


class MelSpectrogram(Layer):
    """The mel-scaled power spectrogram of each waveform (in decibels with `power_to_db`).

    Input shape: `(batch, samples)`, any dtype (cast to float32). Output shape: `(batch, num_mel_bins, frames)`, float32, with
    `frames = 1 + (samples + 2 * (fft_length // 2) - fft_length) // sequence_stride`.
    """

    type: Literal["MelSpectrogram"]
    fft_length: PositiveInt = Field(2048, description="Size of each FFT (the frequency resolution).")
    sequence_stride: PositiveInt = Field(512, description="Samples between the starts of successive frames.")
    sequence_length: PositiveInt | None = Field(
        None, description="Samples per frame (the window's length), at most fft_length; null: fft_length."
    )
    window: Literal["hann", "hamming"] | None = Field("hann", description="Window applied to each frame; null: none.")
    sampling_rate: PositiveInt = Field(16000, description="Samples per second of the waveforms.")
    num_mel_bins: PositiveInt = Field(128, description="Number of mel bands.")
    min_freq: _NonNegative = Field(20.0, description="Lowest frequency of the mel bands, in Hz.")
    max_freq: _Positive | None = Field(
        None, description="Highest frequency of the mel bands, in Hz, above min_freq; null: sampling_rate / 2."
    )
    power_to_db: bool = Field(True, description="Convert the power to decibels (against ref_power).")
    top_db: _NonNegative = Field(
        80.0, description="With power_to_db: the output's floor, in dB below the loudest value of the batch."
    )
    mag_exp: _Positive = Field(2.0, description="Exponent of the magnitude: 1 for magnitude, 2 for power.")
    min_power: _Positive = Field(1e-10, description="Smallest power, before the conversion to decibels.")
    ref_power: _Positive = Field(1.0, description="The power that is 0 dB.")

    @model_validator(mode="after")
    def _check_lengths(self) -> "MelSpectrogram":
        if self.sequence_length is not None and self.fft_length < self.sequence_length:
            raise ValueError(
                "`fft_length` must be greater than or equal to `sequence_length`. Received: "
                f"`sequence_length`={self.sequence_length}, `fft_length`={self.fft_length}."
            )
        max_freq = self.max_freq if self.max_freq is not None else self.sampling_rate // 2
        if self.min_freq >= max_freq:
            raise PolicyError(
                "`min_freq` must be below `max_freq` (kspec policy: Keras builds reversed mel bands from them, or NaN "
                f"where they are equal). Received: min_freq={self.min_freq}, max_freq={max_freq}",
                "ordered-bounds",
            )
        return self

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        if x.dtype not in FLOAT_DTYPES + INT_DTYPES + ("bool",):
            raise ShapeError(f"Layer 'MelSpectrogram' expects a real-valued waveform. Received: dtype={x.dtype}")
        if x.rank != 2:
            found = "reads it as one waveform, the batch axis as its samples" if x.rank == 1 else "fails on it"
            raise ShapeError(
                "Input 0 of layer 'MelSpectrogram' is incompatible with the layer: expected ndim=2 (batch, samples), "
                f"found ndim={x.rank} (Keras {found}). Received: input_shape={shape_str(x.shape)}"
            )
        samples = x.shape[1]
        frames = None
        if samples is not None:
            stride, fft = self.sequence_stride, self.fft_length
            frames = 1 + (samples + 2 * (fft // 2) - fft) // stride
            declared = (samples + stride + 1) // stride
            if frames != declared:
                raise ShapeError(
                    f"Layer 'MelSpectrogram' computes {frames} frames of {samples} samples but Keras declares "
                    f"{declared}, so the model gets another shape than it declares. Use another number of samples or "
                    f"another sequence_stride. Received: sequence_stride={stride}, fft_length={fft}, "
                    f"input_shape={shape_str(x.shape)}",
                    field="sequence_stride",
                )
            if samples <= fft // 2:
                raise ShapeError(
                    f"Layer 'MelSpectrogram' pads each waveform by reflecting fft_length // 2 = {fft // 2} samples, "
                    f"more than the waveform has. Received: fft_length={fft}, input_shape={shape_str(x.shape)}",
                    field="fft_length",
                    backends=("tensorflow", "torch"),
                )
        return Inferred(Tensor((x.shape[0], self.num_mel_bins, frames), "float32"))


#: scipy.signal's windows that take no parameter of their own.
Window = Literal[
    "hann", "hamming", "blackman", "bartlett", "boxcar", "triang", "flattop", "parzen", "bohman", "blackmanharris",
    "nuttall", "barthann", "cosine", "tukey", "lanczos",
]  # fmt: skip


#: The windows that are all zeros in their symmetric form (periodic false) of length 2: Keras then divides the
#: kernels by a window norm of 0.
_ZERO_AT_LENGTH_2 = frozenset({"hann", "bartlett", "bohman", "barthann", "tukey"})


class STFTSpectrogram(Layer):
    """The short-time Fourier transform of each channel of each waveform, as a strided 1-D convolution whose kernels
    (the transform's real and imaginary parts, `frame_length x 1 x (fft_length // 2 + 1)` each) are trainable.

    Input shape: `(batch, samples, channels)`, floating-point, with a known number of channels.
    Output shape: `(batch, frames, freqs * channels)`, or `(batch, frames, freqs, channels)` with `expand_dims`;
    `freqs = fft_length // 2 + 1` (twice that in mode 'stft'), frames as a convolution of `frame_length` with
    strides `frame_step` and `padding`. Output float32.
    """

    type: Literal["STFTSpectrogram"]
    mode: Literal["log", "magnitude", "psd", "real", "imag", "angle", "stft"] = Field(
        "log",
        description="What to compute: 'log' (log magnitude), 'magnitude', 'psd' (power spectral density), 'real' or "
        "'imag' (one part of the transform), 'angle' (its phase), 'stft' (real and imaginary parts, side by side).",
    )
    frame_length: PositiveInt = Field(256, description="Samples per frame (the window's length).")
    frame_step: PositiveInt | None = Field(
        None, description="Samples between the starts of successive frames, at most frame_length; null: half of it."
    )
    fft_length: PositiveInt | None = Field(
        None, description="Size of each FFT, at least frame_length; null: the next power of two."
    )
    window: Window | None = Field("hann", description="scipy.signal window applied to each frame; null: none.")
    periodic: bool = Field(False, description="Use the periodic form of the window (else the symmetric one).")
    scaling: Literal["density", "spectrum"] | None = Field(
        "density", description="How the window is normalised: 'density', 'spectrum', or null (not at all)."
    )
    padding: Literal["valid", "same"] = Field("valid", description="Padding of the waveform, as in a convolution.")
    expand_dims: bool = Field(False, description="Keep the frequencies and the channels as two axes.")

    @model_validator(mode="after")
    def _check_lengths(self) -> "STFTSpectrogram":
        if self.frame_step is not None and self.frame_step > self.frame_length:
            raise ValueError(
                "`frame_step` should be a positive integer not greater than `frame_length`. "
                f"Received frame_step={self.frame_step}, frame_length={self.frame_length}"
            )
        if self.fft_length is not None and self.fft_length < self.frame_length:
            raise ValueError(
                "`fft_length` should be not less than `frame_length`. "
                f"Received fft_length={self.fft_length}, frame_length={self.frame_length}"
            )
        return self

    def _fft(self) -> int:
        return self.fft_length or 2 ** math.ceil(math.log2(self.frame_length))

    def infer(self, inputs: list[Tensor]) -> Inferred:
        (x,) = inputs
        self.need_rank(x, 3, what=" (batch, samples, channels)")
        channels = self.need_known(x, 2, "number of channels")
        self.need_float(x, " (Keras fails on any other when run)")
        step = self.frame_step or self.frame_length // 2
        if step == 0:
            raise ShapeError(
                "Layer 'STFTSpectrogram' steps frame_length // 2 = 0 samples between frames by default: Keras fails "
                "when run. Give frame_step. Received: frame_length=1, frame_step=None",
                field="frame_step",
            )
        if self._fft() < 2:
            raise ShapeError(
                f"Layer 'STFTSpectrogram' with an FFT of {self._fft()} sample has one frequency bin, whose kernels Keras "
                "sets up as 0 / 0 (NaN). Give fft_length of 2 or more. "
                f"Received: frame_length={self.frame_length}, fft_length={self.fft_length}",
                field="fft_length",
            )
        if self.frame_length == 2 and not self.periodic and self.window in _ZERO_AT_LENGTH_2 and self.scaling:
            raise ShapeError(
                f"Layer 'STFTSpectrogram' with the symmetric '{self.window}' window of 2 samples (all zeros) divides "
                "its kernels by a window norm of 0 (NaN). Use periodic: true, another window or another frame_length. "
                f"Received: window={self.window}, frame_length=2, periodic=False, scaling={self.scaling}",
                field="window",
            )
        frames = conv_output_length(x.shape[1], self.frame_length, step, self.padding)
        if frames is not None and frames <= 0:
            raise ShapeError(
                f"Layer 'STFTSpectrogram' needs at least frame_length={self.frame_length} samples with padding "
                f"'valid': its output would have {frames} frames. Received: input_shape={shape_str(x.shape)}",
                field="frame_length",
            )
        kernel = (self.frame_length, 1, self._fft() // 2 + 1)
        freqs = kernel[2] * (2 if self.mode == "stft" else 1)
        shape = (x.shape[0], frames, freqs, channels) if self.expand_dims else (x.shape[0], frames, freqs * channels)
        weights = tuple(
            (role, kernel) for role, skip in (("real_kernel", "imag"), ("imag_kernel", "real")) if self.mode != skip
        )
        return Inferred.with_weights(Tensor(shape, "float32"), weights)


LAYERS = (MelSpectrogram, STFTSpectrogram)
