"""Where training runs: the Keras backend, and how training is spread over devices and machines.

`select_backend` must run before Keras is imported (Keras reads KERAS_BACKEND once, when it loads);
`start` after TensorFlow is imported (for tf.data) and before anything runs on a device. Both are
called by `build_and_train`; nothing here is imported by `import kspec`.

Distributions (see `kspec.backends.DISTRIBUTIONS`):

- none: Keras's default placement, one device.
- mirrored: every device of this machine. On TensorFlow, `tf.distribute.MirroredStrategy` over the
  GPUs (or, without GPUs, over the logical CPU devices, `--cpu-devices N`); on JAX,
  `keras.distribution.DataParallel` over `jax.devices()`.
- multi-worker: one process per machine, data parallel, on JAX: `jax.distributed.initialize`
  (coordinator address, number of processes, process id), then `DataParallel` over every device of
  every process. Keras shards the tf.data pipeline so that each process reads its own part of each
  global batch. Only process 0 (the chief) writes the run directory.

The global batch size is the spec's; each of the replicas computes on its share of it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
from dataclasses import dataclass, field
from typing import Any

from ..backends import BACKEND_PACKAGES, BACKENDS, DISPLAY, DISTRIBUTIONS


class RuntimeSetupError(Exception):
    """A backend or distribution that cannot be set up here: one paragraph for the user."""


@dataclass(frozen=True)
class Cluster:
    """How a multi-worker process finds the others (CLI options or KSPEC_* environment variables).
    Left unset, `jax.distributed.initialize` detects them itself where it can (SLURM, Open MPI, Cloud TPU)."""

    coordinator: str | None = None  # host:port of process 0, reachable from every process
    num_processes: int | None = None
    process_id: int | None = None
    timeout_s: int = 300  # how long to wait for every process to join


@dataclass
class Runtime:
    backend: str
    distribution: str
    replicas: int = 1
    process_index: int = 0
    process_count: int = 1
    devices: list[str] = field(default_factory=list)
    strategy: Any = None  # the tf.distribute strategy (mirrored on TensorFlow)

    @property
    def chief(self) -> bool:
        """Only the chief (process 0) writes the run directory."""
        return self.process_index == 0

    def scope(self) -> Any:
        """Build and compile the model inside this (the tf.distribute strategy's scope, where there is one)."""
        return self.strategy.scope() if self.strategy is not None else contextlib.nullcontext()

    @property
    def whole_batches(self) -> bool:
        """JAX splits each global batch evenly over the replicas, so a distributed pipeline gives whole batches only."""
        return self.backend == "jax" and self.distribution != "none"

    def describe(self) -> str:
        where = f"{self.replicas} replica(s) on {', '.join(self.devices) if len(self.devices) <= 4 else f'{len(self.devices)} devices'}"
        if self.distribution == "none":
            return f"Backend: {DISPLAY[self.backend]}; one device."
        if self.distribution == "multi-worker":
            return (
                f"Backend: {DISPLAY[self.backend]}; multi-worker, process {self.process_index} of "
                f"{self.process_count}, {where}."
            )
        return f"Backend: {DISPLAY[self.backend]}; mirrored, {where}."


def default_backend(distribution: str) -> str:
    """KERAS_BACKEND if set, else JAX for multi-worker training (the only backend that does it), else TensorFlow."""
    env = os.environ.get("KERAS_BACKEND")
    if env:
        return env
    return "jax" if distribution == "multi-worker" else "tensorflow"


def select_backend(backend: str) -> None:
    """Make `backend` Keras's backend for this process. Must run before Keras is imported."""
    if backend not in BACKENDS:
        raise RuntimeSetupError(f"Unknown backend '{backend}'. Expected one of: {', '.join(BACKENDS)}.")
    package, extra = BACKEND_PACKAGES[backend]
    if importlib.util.find_spec(package) is None:
        raise RuntimeSetupError(
            f"The {DISPLAY[backend]} backend needs the `{package}` package, which is not installed. "
            f"Install it with `pip install 'kspec[{extra}]'`"
            + (" (the CPU build of PyTorch: `pip install torch==2.13.0`)." if backend == "torch" else ".")
        )
    if "keras" in sys.modules:
        import keras

        loaded = keras.backend.backend()
        if loaded != backend:
            raise RuntimeSetupError(
                f"Keras is already loaded in this process with the {DISPLAY.get(loaded, loaded)} backend; the backend "
                f"is chosen before Keras loads. Train with the {DISPLAY[backend]} backend in a new process "
                f"(`kspec build-and-train --backend {backend}`, or KERAS_BACKEND={backend})."
            )
    os.environ["KERAS_BACKEND"] = backend


def check_combination(backend: str, distribution: str) -> None:
    """Refuse a distribution the backend cannot do, saying which can."""
    if distribution not in DISTRIBUTIONS:
        raise RuntimeSetupError(f"Unknown distribution '{distribution}'. Expected one of: {', '.join(DISTRIBUTIONS)}.")
    able = DISTRIBUTIONS[distribution]
    if backend in able:
        return
    why = {
        ("multi-worker", "tensorflow"): " (Keras 3's fit fails under TensorFlow's MultiWorkerMirroredStrategy: "
        "keras-team/keras#20585)",
        ("multi-worker", "torch"): " (Keras 3 has no distribution API for PyTorch)",
        ("mirrored", "torch"): " (Keras 3 has no distribution API for PyTorch)",
    }.get((distribution, backend), "")
    raise RuntimeSetupError(
        f"Distribution '{distribution}' is not available on the {DISPLAY[backend]} backend{why}. "
        f"Use --backend {' or --backend '.join(able)}."
    )


def prepare_devices(backend: str, cpu_devices: int | None) -> None:
    """Before the backend starts: split the CPU into `cpu_devices` logical devices (to try distribution
    without GPUs), and keep TensorFlow (there only for tf.data) off the GPUs of another backend."""
    if cpu_devices and cpu_devices > 1 and backend == "jax":
        import jax

        try:
            jax.config.update("jax_num_cpu_devices", cpu_devices)
        except RuntimeError as exc:  # JAX has already started its devices in this process
            if len(jax.devices("cpu")) != cpu_devices:
                raise RuntimeSetupError(
                    f"Cannot split the CPU into {cpu_devices} devices: JAX has already started in this process ({exc}). "
                    "Run kspec in a new process."
                ) from None
    import tensorflow as tf

    try:
        if backend != "tensorflow":
            tf.config.set_visible_devices([], "GPU")
        elif cpu_devices and cpu_devices > 1:
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
    except RuntimeError as exc:  # TensorFlow has already started its devices in this process
        if cpu_devices and cpu_devices > 1 and len(tf.config.list_logical_devices("CPU")) != cpu_devices:
            raise RuntimeSetupError(
                f"Cannot split the CPU into {cpu_devices} devices: TensorFlow has already started in this process ({exc}). "
                "Run kspec in a new process."
            ) from None


def start(backend: str, distribution: str, cluster: Cluster | None = None) -> Runtime:
    """Set up the distribution (after `select_backend`, `check_combination` and `prepare_devices`); returns the Runtime."""
    if backend == "tensorflow":
        return _start_tensorflow(distribution)
    if backend == "jax":
        return _start_jax(distribution, cluster or Cluster())
    return Runtime(backend, distribution, devices=["cpu"])


def _start_tensorflow(distribution: str) -> Runtime:
    import tensorflow as tf

    if distribution == "none":
        return Runtime(
            "tensorflow", distribution, devices=[_short(d.name) for d in tf.config.list_logical_devices()[:1]]
        )
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    devices = gpus or [d.name for d in tf.config.list_logical_devices("CPU")]
    # Without GPUs there is no NCCL: gather on one device to reduce.
    ops = None if gpus else tf.distribute.ReductionToOneDevice()
    strategy = tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=ops)
    return Runtime(
        "tensorflow",
        distribution,
        replicas=strategy.num_replicas_in_sync,
        devices=[_short(d) for d in devices],
        strategy=strategy,
    )


def _start_jax(distribution: str, cluster: Cluster) -> Runtime:
    import jax

    if distribution == "multi-worker":
        if cluster.coordinator and cluster.process_id not in (None, 0):
            _wait_for_coordinator(cluster)
        # On CPU, JAX's collectives across processes need an implementation (gloo ships with jaxlib);
        # GPU and TPU processes use their own (NCCL, ICI) and ignore this.
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        try:
            jax.distributed.initialize(
                coordinator_address=cluster.coordinator,
                num_processes=cluster.num_processes,
                process_id=cluster.process_id,
                initialization_timeout=cluster.timeout_s,
            )
        except Exception as exc:  # noqa: BLE001 - any failure to join is the user's to fix
            where = cluster.coordinator or "the address JAX detects"
            raise RuntimeSetupError(
                f"Cannot join the multi-worker cluster at {where} as process {cluster.process_id} of "
                f"{cluster.num_processes}: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}. "
                "Start one process per worker with the same --coordinator HOST:PORT (process 0's address) and "
                "--num-processes N, and --process-id 0..N-1."
            ) from None
    import keras

    devices = jax.devices()
    if distribution != "none":
        keras.distribution.set_distribution(keras.distribution.DataParallel(devices=devices))
    return Runtime(
        "jax",
        distribution,
        replicas=len(devices) if distribution != "none" else 1,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
        devices=[f"{d.platform}:{d.id}" for d in devices] if distribution != "none" else [f"{devices[0].platform}:0"],
    )


def _wait_for_coordinator(cluster: Cluster) -> None:
    """A worker other than process 0 first waits for the coordinator's port to open: JAX ends the whole
    process (no exception to catch) when it cannot register in time, so say it clearly here instead."""
    import socket
    import time

    coordinator = cluster.coordinator
    if coordinator is None:  # JAX finds the coordinator itself: no address to wait for
        return
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit():
        raise RuntimeSetupError(f"--coordinator must be HOST:PORT (process 0's address). Received: {coordinator!r}.")
    deadline = time.monotonic() + cluster.timeout_s
    while True:
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=5):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise RuntimeSetupError(
                    f"Cannot join the multi-worker cluster at {cluster.coordinator} as process {cluster.process_id} of "
                    f"{cluster.num_processes}: nothing answered there within {cluster.timeout_s} s ({exc.strerror or exc}). "
                    "Start process 0 (--process-id 0) on that machine with the same --coordinator HOST:PORT and "
                    "--num-processes N, and each other worker with its own --process-id 1..N-1 (--join-timeout to wait longer)."
                ) from None
            time.sleep(0.5)


def _short(name: str) -> str:
    """'/job:localhost/replica:0/task:0/device:CPU:1' -> 'CPU:1'."""
    return name.rsplit("device:", 1)[-1]
