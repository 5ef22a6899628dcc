"""Measure every layer on every non-float input dtype on each Keras backend, and list where kspec's verdict
disagrees with what Keras does (a developer tool: rerun it when Keras or a backend is upgraded).

    .venv/bin/python scripts/dtype_matrix.py            # all three backends, ~10 min each, run side by side
    .venv/bin/python scripts/dtype_matrix.py --backend jax --out /tmp/jax.json   # one backend's raw results

For each layer configuration and dtype, Keras's outcome is the property tests' oracle (`keras_failure` in
tests/test_spec_properties.py: it builds, runs with the dtype it declares, and trains a step). kspec's verdict
agrees when it accepts what runs on every backend (a dtype other than the declared one is then allowed, as the
accepted-spec property allows it), refuses plainly what fails on every backend, and refuses with the
`portability` policy, naming exactly the failing backends, what fails on some only. Other policies are skipped.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = ("tensorflow", "jax", "torch")
LETTER = {"tensorflow": "T", "jax": "J", "torch": "P"}
DTYPES = ["uint8", "int8", "int16", "uint16", "int32", "int64", "uint32", "uint64", "bool"]


def cases(activations):
    C = []

    def add(layer, shape=None):
        C.append((layer, shape or IMG))

    IMG, SEQ = [4, 4, 2], [5, 2]
    for a in activations: add({"type": "Activation", "activation": a})
    for kw in [{}, {"max_value": 6.0}, {"negative_slope": 0.1}, {"threshold": 0.5}, {"negative_slope": 0.1, "max_value": 6.0},
               {"negative_slope": 0.1, "threshold": 0.5}, {"max_value": 6.0, "threshold": 0.5}]:
        add({"type": "ReLU", **kw})
    add({"type": "LeakyReLU"}); add({"type": "PReLU"}); add({"type": "PReLU", "shared_axes": [1, 2]})
    add({"type": "ELU"}); add({"type": "Softmax"}); add({"type": "Softmax", "axis": [1, 2]})
    add({"type": "UnitNormalization"})
    add({"type": "BatchNormalization"}); add({"type": "BatchNormalization", "center": False, "scale": False})
    add({"type": "LayerNormalization"}); add({"type": "LayerNormalization", "center": False, "scale": False})
    add({"type": "GroupNormalization", "groups": 1}); add({"type": "GroupNormalization", "groups": 1, "center": False, "scale": False})
    for r in (0.0, 0.5):
        add({"type": "Dropout", "rate": r}); add({"type": "SpatialDropout2D", "rate": r}); add({"type": "SpatialDropout1D", "rate": r}, SEQ)
    for s in (0.0, 0.1):
        add({"type": "GaussianNoise", "stddev": s})
    add({"type": "GaussianDropout", "rate": 0.1})
    for t in ("MaxPooling2D", "AveragePooling2D"): add({"type": t, "pool_size": 2})
    for t in ("MaxPooling1D", "AveragePooling1D"): add({"type": t, "pool_size": 2}, SEQ)
    add({"type": "MaxPooling3D", "pool_size": 1}, [2, 2, 2, 1])
    for t in ("GlobalMaxPooling2D", "GlobalAveragePooling2D"): add({"type": t})
    for t in ("GlobalMaxPooling1D", "GlobalAveragePooling1D"): add({"type": t}, SEQ)
    add({"type": "Conv2D", "filters": 2, "kernel_size": 2}); add({"type": "DepthwiseConv2D", "kernel_size": 2})
    add({"type": "SeparableConv2D", "filters": 2, "kernel_size": 2}); add({"type": "Conv2DTranspose", "filters": 2, "kernel_size": 2})
    add({"type": "Conv1D", "filters": 2, "kernel_size": 2}, SEQ); add({"type": "Conv1DTranspose", "filters": 2, "kernel_size": 2}, SEQ)
    add({"type": "DepthwiseConv1D", "kernel_size": 2}, SEQ); add({"type": "SeparableConv1D", "filters": 2, "kernel_size": 2}, SEQ)
    add({"type": "Conv3D", "filters": 2, "kernel_size": 1}, [2, 2, 2, 1])
    add({"type": "ZeroPadding2D", "padding": 1}); add({"type": "Cropping2D", "cropping": 1}); add({"type": "ZeroPadding1D"}, SEQ); add({"type": "Cropping1D"}, SEQ)
    add({"type": "UpSampling2D"}); add({"type": "UpSampling2D", "interpolation": "bilinear"}); add({"type": "UpSampling1D"}, SEQ)
    add({"type": "Permute", "dims": [2, 1, 3]}); add({"type": "Identity"}); add({"type": "Flatten"}); add({"type": "Reshape", "target_shape": [-1]})
    add({"type": "RepeatVector", "n": 2}, [3])
    add({"type": "CenterCrop", "height": 2, "width": 2})
    for i in ("bilinear", "nearest", "bicubic", "lanczos3", "lanczos5"): add({"type": "Resizing", "height": 3, "width": 3, "interpolation": i})
    add({"type": "Resizing", "height": 3, "width": 5, "pad_to_aspect_ratio": True}); add({"type": "Resizing", "height": 3, "width": 5, "crop_to_aspect_ratio": True})
    add({"type": "Rescaling", "scale": 0.5}); add({"type": "Normalization", "mean": 0.0, "variance": 1.0}); add({"type": "Normalization"})
    add({"type": "RandomContrast", "factor": 0.2}); add({"type": "RandomFlip"}); add({"type": "RandomRotation", "factor": 0.1})
    add({"type": "RandomTranslation", "height_factor": 0.1, "width_factor": 0.1}); add({"type": "RandomZoom", "height_factor": 0.1})
    add({"type": "Dense", "units": 2}); add({"type": "Dense", "units": 2, "activation": "relu"}); add({"type": "Dense", "units": 2}, [3])
    add({"type": "Embedding", "input_dim": 5, "output_dim": 2}, [3]); add({"type": "Masking"}, SEQ)
    for t in ("LSTM", "GRU", "SimpleRNN"): add({"type": t, "units": 2}, SEQ)
    add({"type": "Bidirectional", "layer": {"type": "LSTM", "units": 2}}, SEQ)
    add({"type": "TimeDistributed", "layer": {"type": "Dense", "units": 2}}, SEQ)
    add({"type": "MultiHeadAttention", "num_heads": 1, "key_dim": 2, "_two": True}, SEQ)
    add({"type": "Attention", "_two": True}, SEQ)
    for t in ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"): add({"type": t, "_two": True}, SEQ)
    add({"type": "Dot", "axes": -1, "_two": True}, SEQ)

    return C


def spec_of(layer: dict, shape, dtype: str) -> dict:
    layer = dict(layer)
    if layer.pop("_two", False):
        inputs = [{"name": n, "shape": shape, "dtype": dtype} for n in ("a", "b")]
        nodes = [{**layer, "name": "t", "inputs": ["a", "b"]}, {"type": "Flatten", "name": "f", "inputs": "t"},
                 {"type": "Dense", "units": 1, "name": "o", "inputs": "f"}]
        return {"kspec": 1, "name": "m", "model": {"inputs": inputs, "nodes": nodes, "outputs": ["o"]}, "training": {"loss": "mse"}}
    return {"kspec": 1, "name": "m", "model": {"input": {"shape": shape, "dtype": dtype}, "layers": [layer, {"type": "Flatten"}, {"type": "Dense", "units": 1}]},
            "training": {"loss": "mse"}}


def measure(out: str) -> None:
    """This process's backend: kspec's verdict and Keras's outcome for each case, as JSON."""
    warnings.filterwarnings("ignore")
    sys.path.insert(0, str(ROOT))
    import keras

    import kspec
    from kspec.spec.objects import ACTIVATIONS
    from tests.test_spec_properties import keras_failure

    results = {}
    for layer, shape in cases(ACTIVATIONS):
        for dtype in DTYPES:
            report = kspec.check(spec_of(layer, shape, dtype))
            inf = report.inference
            first = [d for d in report.errors if d.path[:3] in (("model", "layers", 0), ("model", "nodes", 0))]
            # an input dtype that some backend cannot hold (uint64 on PyTorch) is refused at the input
            at_input = sorted({b for d in report.errors if d.path[-1:] == ("dtype",) for b in d.backends}, key=BACKENDS.index)
            verdict = {"ok": not first, "policy": first[0].policy if first else None,
                       "backends": list(first[0].backends) if first else [], "input": at_input}
            target = inf.nodes[0] if inf and inf.nodes else None
            keras.backend.clear_session()
            failure = "input" if target is None else keras_failure(inf, target)
            results[json.dumps(layer, sort_keys=True) + f" {shape} {dtype}"] = {"kspec": verdict, "keras": failure}
    Path(out).write_text(json.dumps(results))


def compare(raw: dict) -> list[str]:
    rows = []
    for key in raw[BACKENDS[0]]:
        verdict = raw[BACKENDS[0]][key]["kspec"]
        if verdict["policy"] not in (None, "portability"):
            continue
        outcomes = {b: raw[b][key]["keras"] for b in BACKENDS}
        tolerated = ("Keras returns another dtype than it declares",) if verdict["ok"] else ()
        failing = [b for b in BACKENDS if outcomes[b] is not None and outcomes[b] not in tolerated]
        expected = "accept" if not failing else "refuse" if len(failing) == 3 else "portability " + "".join(LETTER[b] for b in failing)
        refused_on = set(verdict["input"]) | set(verdict["backends"])
        if not verdict["ok"] and verdict["policy"] is None or len(refused_on) == 3:
            got = "refuse"
        else:
            got = "portability " + "".join(LETTER[b] for b in BACKENDS if b in refused_on) if refused_on else "accept"
        if got != expected:
            rows.append(f"{key}: kspec {got}, Keras says {expected} (" + "; ".join(f"{b}: {outcomes[b] or 'runs'}" for b in BACKENDS) + ")")
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=BACKENDS, help="measure on this backend only (with --out)")
    parser.add_argument("--out", help="where --backend writes its raw results (JSON)")
    args = parser.parse_args()
    if args.backend:
        measure(args.out)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        procs = {b: subprocess.Popen([sys.executable, __file__, "--backend", b, "--out", f"{tmp}/{b}.json"],
                                     env={**os.environ, "KERAS_BACKEND": b}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                 for b in BACKENDS}
        if any(p.wait() != 0 for p in procs.values()):
            print("a backend's measurement failed; rerun it with --backend to see why", file=sys.stderr)
            return 2
        raw = {b: json.loads(Path(f"{tmp}/{b}.json").read_text()) for b in BACKENDS}
    rows = compare(raw)
    print(f"{len(raw[BACKENDS[0]])} cases on {', '.join(BACKENDS)}: {len(rows)} where kspec disagrees with Keras")
    print("\n".join(rows))
    return 1 if rows else 0


if __name__ == "__main__":
    sys.exit(main())
