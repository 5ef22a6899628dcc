"""Audio layers against Keras: MelSpectrogram and STFTSpectrogram examples, refusals, a training step and a
property test."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import scipy.signal
from hypothesis import given, settings, strategies as st
from pydantic import ValidationError

from kspec.compile import build_layer
from kspec.spec.layers import ShapeError, parse_layer
from kspec.spec.layers.audio import Window

from .harness import (
    check_agrees,
    check_layer,
    check_refused_when_run,
    check_rejected,
    check_runtime_agreement,
    check_trains,
    kspec_infer,
    kspec_refusal,
    random_batch,
)

MEL = {"type": "MelSpectrogram", "fft_length": 64, "sequence_stride": 16, "num_mel_bins": 8}


def _keras_frames(spec, samples) -> tuple[int, int]:
    """(declared, computed) frames of Keras's MelSpectrogram on `samples` samples."""
    layer = build_layer(parse_layer(spec))
    declared = layer(keras.Input((samples,))).shape[-1]
    return declared, layer(random_batch((samples,))[0]).shape[-1]


# ---- MelSpectrogram --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, shape, dtype",
    [
        (MEL, (100,), "float32"),
        (MEL, (None,), "float32"),
        ({**MEL, "fft_length": 63, "power_to_db": False, "mag_exp": 1.0}, (100,), "float64"),
        ({**MEL, "sequence_length": 40, "window": "hamming"}, (100,), "int16"),
        ({**MEL, "window": None, "min_freq": 0, "max_freq": 3000, "sampling_rate": 8000}, (33,), "bool"),
        ({"type": "MelSpectrogram"}, (16000,), "float32"),  # Keras's defaults: one second at 16 kHz
    ],
)
def test_mel_spectrogram_matches_keras(spec, shape, dtype):
    """(batch, num_mel_bins, frames), float32, no weights; when run, the frames kspec infers."""
    inferred = check_layer(spec, shape, [dtype], eager=None not in shape)
    assert inferred.output.dtype == "float32" and inferred.output.shape[1] == spec.get("num_mel_bins", 128)
    check_runtime_agreement(spec, shape, [dtype], fills=(100,))


@pytest.mark.parametrize("samples, fft", [(95, 64), (111, 64), (32, 63), (112, 63)])
def test_mel_spectrogram_frames_keras_declares_wrongly_are_refused(samples, fft):
    """Keras declares (samples + stride + 1) // stride frames, but computes 1 + (samples + 2 * (fft // 2) - fft) //
    stride: the model would get another shape than it declares."""
    spec = {**MEL, "fft_length": fft}
    with pytest.raises(ShapeError, match="another shape than it declares"):
        kspec_infer(spec, (samples,))
    declared, computed = _keras_frames(spec, samples)
    assert declared != computed


def test_mel_spectrogram_shorter_than_half_an_fft_is_refused():
    """The centred padding reflects fft_length // 2 samples: TensorFlow and PyTorch fail on shorter waveforms."""
    refusal = kspec_refusal(MEL, (30,))
    assert refusal.policy == "portability" and refusal.backends == ("tensorflow", "torch")
    if keras.backend.backend() in refusal.backends:
        check_refused_when_run(MEL, (30,))
    assert check_layer(MEL, (33,)) is not None


@pytest.mark.parametrize("shape", [(100, 1), (100, 2)])
def test_mel_spectrogram_needs_rank_2(shape):
    with pytest.raises(ShapeError, match="expected ndim=2"):
        kspec_infer(MEL, shape)
    check_refused_when_run(MEL, shape)


def test_mel_spectrogram_of_a_rank_1_tensor_is_refused():
    """Keras reads it as one waveform, its samples the batch: a batch of 2 is too short."""
    with pytest.raises(ShapeError, match="batch axis as its samples"):
        kspec_infer(MEL, ())
    check_refused_when_run(MEL, ())


# ---- STFTSpectrogram ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "STFTSpectrogram", "frame_length": 16}, (100, 1)),
        ({"type": "STFTSpectrogram", "frame_length": 16, "frame_step": 5, "padding": "same"}, (None, 2)),
        ({"type": "STFTSpectrogram", "frame_length": 15, "fft_length": 32, "mode": "stft", "expand_dims": True}, (100, 2)),
        ({"type": "STFTSpectrogram", "frame_length": 16, "mode": "real", "window": "blackman"}, (16, 1)),
        ({"type": "STFTSpectrogram", "frame_length": 8, "mode": "imag", "expand_dims": True, "scaling": None}, (20, 3)),
        ({"type": "STFTSpectrogram", "frame_length": 8, "mode": "psd", "window": None, "periodic": True}, (20, 1)),
        ({"type": "STFTSpectrogram", "frame_length": 8, "mode": "angle", "scaling": "spectrum"}, (None, 1)),
    ],
)
def test_stft_spectrogram_matches_keras(spec, shape):
    """Trainable real and imaginary kernels (one of them in modes 'real' and 'imag'), frames as a convolution's."""
    inferred = check_layer(spec, shape, eager=None not in shape)
    kernel = spec["frame_length"] * (spec.get("fft_length", 2 ** (spec["frame_length"] - 1).bit_length()) // 2 + 1)
    assert inferred.params == kernel * (1 if spec.get("mode") in ("real", "imag") else 2)
    assert inferred.non_trainable == 0
    check_runtime_agreement(spec, shape, fills=(40,))


@pytest.mark.parametrize(
    "spec, shape",
    [
        ({"type": "STFTSpectrogram", "frame_length": 16}, (15, 1)),  # shorter than a frame
        ({"type": "STFTSpectrogram", "frame_length": 16}, (100, None)),  # channels unknown
        ({"type": "STFTSpectrogram", "frame_length": 16}, (100,)),
        ({"type": "STFTSpectrogram", "frame_length": 16}, (4, 100, 1)),
    ],
)
def test_stft_spectrogram_refusals_match_keras(spec, shape):
    check_rejected(spec, shape)


@pytest.mark.parametrize("dtype", ["int32", "uint8"])
def test_stft_spectrogram_of_integers_is_refused(dtype):
    check_refused_when_run({"type": "STFTSpectrogram", "frame_length": 16}, (100, 1), [dtype])


def test_stft_spectrogram_default_step_of_a_one_sample_frame_is_refused():
    spec = {"type": "STFTSpectrogram", "frame_length": 1}
    with pytest.raises(ShapeError, match="Give frame_step"):
        kspec_infer(spec, (10, 1))
    check_rejected(spec, (10, 1))
    assert check_layer({**spec, "frame_step": 1, "fft_length": 2}, (10, 1)) is not None


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "STFTSpectrogram", "frame_length": 1, "frame_step": 1},  # an FFT of 1: one frequency bin
        {"type": "STFTSpectrogram", "frame_length": 2, "window": "bartlett"},  # all zeros, divided by its norm
    ],
)
def test_stft_spectrogram_with_nan_kernels_is_refused(spec):
    """Keras sets the kernels up as NaN: every output and loss is NaN."""
    with pytest.raises(ShapeError, match="NaN"):
        kspec_infer(spec, (10, 1))
    layer = build_layer(parse_layer(spec))
    layer.build((None, 10, 1))
    assert all(np.isnan(keras.ops.convert_to_numpy(w)).all() for w in layer.weights)
    assert check_layer({**spec, "fft_length": 4, "periodic": True}, (10, 1)) is not None


def test_stft_windows_are_scipy_windows():
    for window in Window.__args__:
        assert scipy.signal.get_window(window, 8).shape == (8,)


# ---- arguments --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec",
    [
        {"type": "MelSpectrogram", "fft_length": 16, "sequence_length": 32},  # Keras refuses it too
        {"type": "MelSpectrogram", "window": "blackman"},  # not a window of keras.ops.stft
        {"type": "MelSpectrogram", "min_freq": 9000},  # above sampling_rate / 2 (policy: ordered bounds)
        {"type": "MelSpectrogram", "min_freq": 100, "max_freq": 100},  # NaN in Keras
        {"type": "MelSpectrogram", "sequence_stride": 0},
        {"type": "MelSpectrogram", "min_power": 0},
        {"type": "STFTSpectrogram", "frame_length": 8, "frame_step": 9},  # Keras refuses it too
        {"type": "STFTSpectrogram", "frame_length": 8, "fft_length": 4},  # Keras refuses it too
        {"type": "STFTSpectrogram", "mode": "phase"},
        {"type": "STFTSpectrogram", "window": "kaiser"},  # needs a parameter
        {"type": "STFTSpectrogram", "padding": "causal"},
    ],
)
def test_invalid_arguments_are_refused(spec):
    with pytest.raises(ValidationError):
        parse_layer(spec)


def test_keras_refuses_the_same_lengths():
    L = keras.layers
    for make in (lambda: L.MelSpectrogram(fft_length=16, sequence_length=32),
                 lambda: L.STFTSpectrogram(frame_length=8, frame_step=9),
                 lambda: L.STFTSpectrogram(frame_length=8, fft_length=4)):
        with pytest.raises(ValueError):
            make()


# ---- a training step --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, shape",
    [(MEL, (100,)), ({"type": "STFTSpectrogram", "frame_length": 16, "frame_step": 8, "mode": "magnitude"}, (100, 2))],
)
def test_trains_one_step(spec, shape):
    assert check_trains(spec, shape)


# ---- property test -----------------------------------------------------------------------------------


@st.composite
def _mel_case(draw):
    fft = draw(st.integers(2, 40))
    spec = {"type": "MelSpectrogram", "fft_length": fft, "sequence_stride": draw(st.integers(1, 20)),
            "num_mel_bins": draw(st.integers(1, 8)), "sampling_rate": 8000, "max_freq": 3000.0}
    if draw(st.booleans()):
        spec["sequence_length"] = draw(st.integers(1, fft))
    return spec, (draw(st.sampled_from([None, 1, 7, 20, 21, 40, 63])),)


@st.composite
def _stft_case(draw):
    frame = draw(st.integers(1, 20))
    spec = {"type": "STFTSpectrogram", "frame_length": frame, "padding": draw(st.sampled_from(["valid", "same"])),
            "mode": draw(st.sampled_from(["log", "stft", "real"])), "expand_dims": draw(st.booleans())}
    if draw(st.booleans()):
        spec["frame_step"] = draw(st.integers(1, frame))
    if draw(st.booleans()):
        spec["fft_length"] = draw(st.integers(frame, 40))
    return spec, (draw(st.sampled_from([None, 1, 8, 20])), draw(st.sampled_from([1, 2])))


def _mel_agrees(spec, samples: int) -> None:
    """On waveforms of `samples` samples: kspec accepts exactly where Keras runs with the frames it declares (a
    portability refusal for another backend is only counted)."""
    refusal = kspec_refusal(spec, (samples,))
    layer = build_layer(parse_layer(spec))
    declared = layer(keras.Input((samples,))).shape[-1]
    try:
        computed = layer(random_batch((samples,))[0]).shape[-1]
    except Exception:  # noqa: BLE001 - any Keras failure counts
        computed = None
    if refusal is None:
        assert computed == declared == kspec_infer(spec, (samples,)).output.shape[-1], (spec, samples)
    elif refusal.policy is None:
        assert computed != declared, (spec, samples, refusal)
    elif keras.backend.backend() in refusal.backends:
        assert computed is None, (spec, samples, refusal)


@settings(max_examples=15, deadline=None)
@given(case=_mel_case() | _stft_case())
def test_property_kspec_agrees_with_keras(case):
    """kspec accepts exactly what Keras builds and runs with the shape it declares (on sizes of unknown samples
    too), and with kernels that are not NaN; the other backends' failures (portability) are only counted here."""
    spec, shape = case
    if spec["type"] == "STFTSpectrogram" and "NaN" in str(kspec_refusal(spec, shape)):
        layer = build_layer(parse_layer(spec))
        layer.build((None, 40, 1))
        assert all(np.isnan(keras.ops.convert_to_numpy(w)).all() for w in layer.weights)
    elif spec["type"] == "STFTSpectrogram":
        # On samples shorter than a frame TensorFlow returns another shape than Keras declares (JAX and PyTorch
        # fail): the sizes are compared with the concrete shape, which Keras then refuses
        check_agrees(spec, shape, eager=False)
        for samples in (8, 21) if shape[0] is None else ():
            check_layer(spec, (samples, shape[1]))
    elif shape[0] is None:
        check_layer(spec, shape, eager=False)
        for samples in (8, 21):
            _mel_agrees(spec, samples)
    else:
        _mel_agrees(spec, shape[0])
