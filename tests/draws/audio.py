"""Drawers for the audio layers (kspec/spec/layers/audio.py): MelSpectrogram on waveforms (samples,), and
STFTSpectrogram on (samples, channels).

Valid by construction for the tracked shape: MelSpectrogram with an fft_length below twice the known number of
samples (TensorFlow and PyTorch reflect fft_length // 2 samples, which the waveform must exceed) and a
sequence_stride with which Keras declares the frames it computes; STFTSpectrogram with a frame no longer than known samples (with 'valid' padding). The input's dtype is
not tracked: STFTSpectrogram on integers is refused, as Keras fails when run; so is an unknown number of channels.
"""

from __future__ import annotations

from hypothesis import strategies as st

from tests.draws import Drawer


def _mel(draw, shape: tuple) -> tuple[list[dict], tuple]:
    (n,) = shape
    fft = draw(st.sampled_from([4, 8, 16, 32]))
    if n is not None:
        fft = min(fft, 2 * ((n - 1) // 2)) or 1  # even and n > fft // 2; one sample: 1 (odd)
    # Keras declares (n + stride + 1) // stride frames, right where no multiple of the stride lies in (n, n + 1] (in
    # [n, n + 1] for an odd fft_length)
    strides = [s for s in range(2, 9) if n is None or ((n + 1) % s and (fft % 2 == 0 or n % s))]
    stride = draw(st.sampled_from(strides))
    layer: dict = {"type": "MelSpectrogram", "fft_length": fft, "sequence_stride": stride}
    layer["num_mel_bins"] = draw(st.integers(1, 8))
    layer["sampling_rate"] = draw(st.sampled_from([8000, 16000]))
    if draw(st.booleans()):
        layer["sequence_length"] = draw(st.integers(1, fft))
    if draw(st.booleans()):
        layer["window"] = draw(st.sampled_from(["hamming", None]))
    if draw(st.booleans()):
        layer["power_to_db"] = False
    if draw(st.booleans()):
        layer.update(min_freq=0.0, max_freq=2000.0)
    frames = None if n is None else 1 + (n + 2 * (fft // 2) - fft) // stride
    return [layer], (layer["num_mel_bins"], frames)


def _stft(draw, shape: tuple) -> tuple[list[dict], tuple]:
    n, c = shape
    padding = draw(st.sampled_from(["valid", "same"]))
    longest = 8 if n is None or padding == "same" else min(8, n)
    frame = draw(st.integers(1, longest))
    layer: dict = {"type": "STFTSpectrogram", "frame_length": frame, "padding": padding}
    step = draw(st.none() | st.integers(1, frame)) if frame > 1 else 1  # Keras's default step is frame // 2
    if step is not None:
        layer["frame_step"] = step
    fft = draw(st.none() | st.integers(max(frame, 2), 16)) if frame > 1 else 2  # Keras's kernels: NaN for an FFT of 1
    if fft is not None:
        layer["fft_length"] = fft
    if frame == 2:  # the symmetric Hann window of 2 samples is all zeros (NaN kernels)
        layer["periodic"] = True
    mode = draw(st.sampled_from(["log", "magnitude", "psd", "real", "imag", "angle", "stft"]))
    layer["mode"] = mode
    if draw(st.booleans()):
        layer["window"] = draw(st.sampled_from(["hamming", "boxcar", None]))
    if draw(st.booleans()):
        layer["scaling"] = draw(st.sampled_from(["spectrum", None]))
    expand = draw(st.booleans())
    layer["expand_dims"] = expand
    stride = step or frame // 2
    if n is None:
        frames = None
    else:
        frames = (n - frame) // stride + 1 if padding == "valid" else (n - 1) // stride + 1
    fft_length = fft or 2 ** (frame - 1).bit_length()
    freqs = (fft_length // 2 + 1) * (2 if mode == "stft" else 1)
    # an unknown number of channels is refused (Keras refuses it too)
    return [layer], ((frames, freqs, c) if expand else (frames, None if c is None else freqs * c))


DRAWERS = (
    Drawer(types=("MelSpectrogram",), ranks=frozenset({1}), fn=_mel),
    Drawer(types=("STFTSpectrogram",), ranks=frozenset({2}), fn=_stft, known=False),
)
