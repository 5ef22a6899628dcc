"""Keras 3's backends and the ways of spreading training, as plain data (no TensorFlow, JAX or PyTorch here).

kspec's verdicts do not depend on the backend: a spec that validates builds and trains on each of
them. Where Keras fails on only some backends, the checker refuses the spec on all of them and says
on which it fails (`Diagnostic.backends`, the `portability` policy).
"""

from __future__ import annotations

#: Keras 3 backends kspec trains on; the first is the default.
BACKENDS: tuple[str, ...] = ("tensorflow", "jax", "torch")
#: The package each backend needs, and kspec's extra that installs it.
BACKEND_PACKAGES: dict[str, tuple[str, str]] = {
    "tensorflow": ("tensorflow", "train"),
    "jax": ("jax", "jax"),
    "torch": ("torch", "torch"),
}
DISPLAY: dict[str, str] = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}

#: How training is spread, and the backends that can do it.
#: - none: one process, one device (Keras's default placement);
#: - mirrored: one machine, every local device (GPUs, or logical CPU devices): TensorFlow's
#:   MirroredStrategy, or on JAX keras.distribution.DataParallel over the local devices;
#: - multi-worker: several processes (one per machine), data parallel: JAX only, with
#:   jax.distributed and keras.distribution.DataParallel (Keras 3's fit fails under TensorFlow's
#:   MultiWorkerMirroredStrategy: keras-team/keras#20585).
DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "none": BACKENDS,
    "mirrored": ("tensorflow", "jax"),
    "multi-worker": ("jax",),
}


def names(backends: tuple[str, ...] | list[str]) -> str:
    """'TensorFlow', 'TensorFlow and PyTorch', ..."""
    shown = [DISPLAY[b] for b in BACKENDS if b in backends]
    return shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]


def portability_note(backends: tuple[str, ...]) -> str:
    """The sentence a refusal ends with when Keras fails on only some backends."""
    others = [b for b in BACKENDS if b not in backends]
    plural = "backend" if len(backends) == 1 else "backends"
    return (
        f"Keras fails on the {names(backends)} {plural} (it runs on {names(others)}); kspec refuses it on every "
        "backend, so that a spec that validates trains on each of them"
    )
