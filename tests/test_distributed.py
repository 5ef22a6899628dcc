"""Distributed training on one machine: MirroredStrategy over two logical CPU devices, and two JAX worker
processes on loopback (gloo collectives) training the same spec as one process would.

Each test runs kspec in fresh processes (a backend and its devices are fixed when they first load),
bounds its own time and kills what it started.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "digits_cnn.yaml"
KSPEC = [str(Path(sys.executable).parent / "kspec")]
WORKER = [sys.executable, str(ROOT / "tests" / "distributed_worker.py")]

pytest.importorskip("jax")

#: No dropout: TensorFlow draws each replica's dropout masks from its own stream, so only a model without
#: randomness in its step can follow the one-device run exactly.
MLP = """
kspec: 1
name: digits_mlp
model:
  input: {shape: [8, 8, 1]}
  layers:
    - {type: Rescaling, scale: 0.0625}
    - {type: Flatten}
    - {type: Dense, units: 32, activation: relu}
    - {type: Dense, units: 10, activation: softmax}
training:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  metrics: [accuracy]
  batch_size: 32
data:
  source: {type: embedded, name: digits}
  test_split: 0.2
"""


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "XLA_FLAGS")}
    env.update(TF_CPP_MIN_LOG_LEVEL="3", **extra)
    return env


def _run_all(commands: list[list[str]], timeout: float, env: dict) -> list[subprocess.CompletedProcess]:
    """Start every command at once, wait for all within `timeout` seconds, kill them all if not."""
    procs = [subprocess.Popen(c, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for c in commands]
    results = []
    try:
        for p, c in zip(procs, commands):
            out, _ = p.communicate(timeout=timeout)
            results.append(subprocess.CompletedProcess(c, p.returncode, out, ""))
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _history(run_dir: Path) -> dict:
    return json.loads((run_dir / "history.json").read_text())


def test_mirrored_over_two_logical_cpus(tmp_path):
    """TensorFlow's MirroredStrategy over two logical CPU devices trains the spec with the global batch
    split in two, and follows the loss of one device on the same batches closely. (Unshuffled: under the
    strategy, tf.data's seeded shuffle gives another order than on one device, seeded still.)"""
    spec = tmp_path / "mlp.yaml"
    spec.write_text(MLP)
    common = ["build-and-train", str(spec), "--epochs", "2", "--steps", "8", "--seed", "5", "--backend", "tensorflow", "-q",
              "--set", "data.shuffle=false"]
    one, two = _run_all(
        [KSPEC + common + ["-o", str(tmp_path / "one")],
         KSPEC + common + ["-o", str(tmp_path / "two"), "--distribution", "mirrored", "--cpu-devices", "2"]],
        timeout=300, env=_env(),
    )
    assert one.returncode == 0, one.stdout
    assert two.returncode == 0, two.stdout
    info = json.loads((tmp_path / "two" / "run.json").read_text())
    assert (info["backend"], info["distribution"], info["replicas"], info["status"]) == ("tensorflow", "mirrored", 2, "complete")
    assert "distribution: mirrored" in (tmp_path / "two" / "spec.yaml").read_text()
    single, mirrored = _history(tmp_path / "one"), _history(tmp_path / "two")
    assert len(mirrored["loss"]) == 2
    np.testing.assert_allclose(mirrored["loss"], single["loss"], rtol=2e-3)


def test_two_workers_on_loopback_train_like_one_process(tmp_path):
    """Two JAX processes (multi-worker, gloo on loopback) train the demo spec: both finish, their weights are
    identical, each fed its own half of every global batch, only the chief wrote the run directory, and the
    loss curve matches one process training on the same global batches."""
    port = _free_port()
    run_dir = tmp_path / "run"
    workers = [tmp_path / "w0", tmp_path / "w1", tmp_path / "single"]
    for w in workers:
        w.mkdir()
    results = _run_all(
        [WORKER + [str(SPEC), str(workers[i]), str(run_dir), "multi-worker", f"127.0.0.1:{port}", "2", str(i)] for i in (0, 1)]
        + [WORKER + [str(SPEC), str(workers[2]), str(tmp_path / "single-run"), "mirrored"]],
        timeout=420, env=_env(),
    )
    for r in results:
        assert r.returncode == 0, r.stdout[-4000:]

    info = [json.loads((workers[i] / f"result-{i}.json").read_text()) for i in (0, 1)]
    assert info[0] == {"run_dir": str(run_dir), "replicas": 2, "processes": 2}
    assert info[1] == {"run_dir": None, "replicas": 2, "processes": 2}
    # only the chief wrote: one run, complete, and nothing from worker 1 anywhere under tmp_path/w1 but its report
    assert json.loads((run_dir / "run.json").read_text())["status"] == "complete"
    assert (run_dir / "model.keras").is_file()

    w0, w1 = (np.load(workers[i] / f"weights-{i}.npz") for i in (0, 1))
    assert len(w0.files) == len(w1.files) > 0
    for key in w0.files:
        assert np.array_equal(w0[key], w1[key]), f"weights differ between the workers: {key}"

    h0, h1 = (json.loads((workers[i] / f"history-{i}.json").read_text()) for i in (0, 1))
    assert h0 == h1
    single = json.loads((workers[2] / "history-0.json").read_text())
    assert len(h0["loss"]) == 2
    # The same batches, but the gradients are summed across processes in another order than on one device:
    # the first epoch agrees to about 1e-5 (measured 7e-6), and the rounding grows as training goes on
    # (measured 1.1% after the second epoch of 40 steps).
    np.testing.assert_allclose(h0["loss"][0], single["loss"][0], rtol=1e-4)
    np.testing.assert_allclose(h0["loss"], single["loss"], rtol=3e-2)
    np.testing.assert_allclose(h0["val_loss"], single["val_loss"], rtol=3e-2)

    # the data: each worker fed half of each global batch, and together exactly the epoch's examples
    s0, s1 = (json.loads((workers[i] / f"shard-{i}.json").read_text()) for i in (0, 1))
    assert s0["global"] == s1["global"]  # the same shuffled epoch on both
    assert len(s0["mine"]) == len(s1["mine"]) == len(s0["global"]) // 2
    assert Counter(s0["mine"]) + Counter(s1["mine"]) == Counter(s0["global"])


STREAMED = """
kspec: 1
name: streamed_images
model:
  input: {name: image, shape: [8, 8, 3]}
  layers:
    - {type: Rescaling, scale: 0.004}
    - {type: Flatten}
    - {type: Dense, name: label, units: 2, activation: softmax}
training:
  optimizer: {type: Adam, learning_rate: 0.01}
  loss: sparse_categorical_crossentropy
  batch_size: 16
data:
  source: {type: image_directory, path: imgs}
"""


def test_two_workers_stream_an_image_directory_each_reading_its_own_files(tmp_path):
    """A streamed source under two JAX processes: each process reads its own half of the files (no example is read
    by both in an epoch, and together they read every one), both finish with the same weights."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    for c in range(2):
        (tmp_path / "imgs" / f"c{c}").mkdir(parents=True)
        for i in range(32):  # 64 images: 4 global batches of 16 (8 per process) per epoch
            pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8) // (1 + c)
            (tmp_path / "imgs" / f"c{c}" / f"{i}.png").write_bytes(tf.io.encode_png(pixels).numpy())
    spec = tmp_path / "spec.yaml"
    spec.write_text(STREAMED)
    port = _free_port()
    workers = [tmp_path / "w0", tmp_path / "w1"]
    for w in workers:
        w.mkdir()
    results = _run_all(
        [WORKER + [str(spec), str(workers[i]), str(tmp_path / "run"), "multi-worker", f"127.0.0.1:{port}", "2", str(i)]
         for i in (0, 1)],
        timeout=420, env=_env(),
    )
    for r in results:
        assert r.returncode == 0, r.stdout[-4000:]
    w0, w1 = (np.load(workers[i] / f"weights-{i}.npz") for i in (0, 1))
    for key in w0.files:
        assert np.array_equal(w0[key], w1[key]), f"weights differ between the workers: {key}"
    s0, s1 = (json.loads((workers[i] / f"shard-{i}.json").read_text()) for i in (0, 1))
    assert len(s0["mine"]) == len(s1["mine"]) == 32
    assert not set(s0["mine"]) & set(s1["mine"])  # no example read by both
    assert Counter(s0["mine"]) + Counter(s1["mine"]) == Counter(s0["global"])  # together, every example once
    assert json.loads((tmp_path / "run" / "run.json").read_text())["status"] == "complete"


def test_multi_worker_needs_a_backend_that_can(tmp_path):
    """multi-worker on TensorFlow or PyTorch, and mirrored on PyTorch, are refused before any training, with
    the reason and the backend to use (exit 2, no run directory)."""
    cases = [
        (["--distribution", "multi-worker", "--backend", "tensorflow"], "keras-team/keras#20585"),
        (["--distribution", "mirrored", "--backend", "torch"], "--backend tensorflow or --backend jax"),
    ]
    for args, expected in cases:
        out = tmp_path / "run"
        r = subprocess.run(KSPEC + ["build-and-train", str(SPEC), "-o", str(out), *args], cwd=ROOT, env=_env(),
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 2, r.stderr
        assert expected in r.stderr and "Traceback" not in r.stderr
        assert not out.exists()


def test_worker_that_cannot_join_says_so(tmp_path):
    """A worker whose peers never come fails after its timeout with the cluster's address and what to do."""
    r = subprocess.run(
        KSPEC + ["build-and-train", str(SPEC), "-o", str(tmp_path / "run"), "--distribution", "multi-worker",
                 "--coordinator", f"127.0.0.1:{_free_port()}", "--num-processes", "2", "--process-id", "1"],
        cwd=ROOT, env=_env(KSPEC_JOIN_TIMEOUT="5"), capture_output=True, text=True, timeout=240,
    )
    assert r.returncode == 2, r.stderr[-3000:]
    assert "Cannot join the multi-worker cluster" in r.stderr and "--process-id" in r.stderr
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "run").exists()


def test_process_id_out_of_range(tmp_path):
    r = subprocess.run(KSPEC + ["build-and-train", str(SPEC), "--distribution", "multi-worker", "--num-processes", "2",
                                "--process-id", "2"], cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert "--process-id 2 is out of range for --num-processes 2" in r.stderr
