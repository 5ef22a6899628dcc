"""synthetic: random examples for the model's inputs and losses, already mapped (`data.inputs`/`labels` do not
apply) and not shuffled again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...text import shape_str
from .checks import _embedding_consumers, _loss_for
from .core import DataError, Split
from .loader import Context, Loaded, Loader, register

if TYPE_CHECKING:  # pragma: no cover
    from ...infer import Inference

SYNTHETIC_SIZES = (16, 32, 8, 64)
#: The words of synthetic texts (a string input's random examples).
SYNTHETIC_WORDS = ("the", "a", "cat", "dog", "sat", "ran", "on", "mat", "big", "red")


def _concrete_inference(ctx: Context) -> Inference:
    """The inference with every unknown input dimension made concrete (the first size kspec accepts)."""
    from ...infer import infer
    from ...spec import GraphModel, SequentialModel

    inputs = ctx.inference.inputs
    if all(d is not None for t in inputs.values() for d in t.shape[1:]):
        return ctx.inference
    spec = ctx.spec
    model = spec.model
    for size in SYNTHETIC_SIZES:

        def concrete(shape: tuple, size: int = size) -> tuple:
            return tuple(size if d is None else d for d in shape)

        new_model: SequentialModel | GraphModel
        if isinstance(model, SequentialModel):
            new_model = model.model_copy(
                update={"input": model.input.model_copy(update={"shape": concrete(model.input.shape)})}
            )
        else:
            new_model = model.model_copy(
                update={"inputs": [i.model_copy(update={"shape": concrete(i.shape)}) for i in model.inputs]}
            )
        result = infer(spec.model_copy(update={"model": new_model}))
        if result.complete and not any(d.severity == "error" for d in result.diagnostics):
            return result
    shapes = ", ".join(f"'{n}' {shape_str(t.shape[1:])}" for n, t in inputs.items())
    raise DataError(
        f"Synthetic data needs concrete input shapes, but the model inputs have unknown dimensions ({shapes}) and the "
        f"model accepts none of the sizes {', '.join(map(str, SYNTHETIC_SIZES))} for them; give the input shapes in full "
        "or use a data source with real examples."
    )


def _synthetic(source: Any, ctx: Context) -> Loaded:
    seed = source.seed if source.seed is not None else ctx.seed
    rng = np.random.default_rng(seed)
    n = source.samples
    concrete = _concrete_inference(ctx)
    x: dict[str, np.ndarray] = {}
    for name, tensor in concrete.inputs.items():
        shape = (n,) + tuple(tensor.shape[1:])
        dtype = tensor.dtype
        if dtype in ("float16", "bfloat16", "float32", "float64"):
            x[name] = rng.standard_normal(shape).astype(np.float32 if dtype == "bfloat16" else dtype)
        elif dtype == "bool":
            x[name] = rng.random(shape) < 0.5
        elif dtype == "string":  # a few words from a small vocabulary per example
            words = np.array(SYNTHETIC_WORDS, dtype=object)[rng.integers(0, len(SYNTHETIC_WORDS), shape + (3,))]
            x[name] = np.array([" ".join(w) for w in words.reshape(-1, 3)], dtype=object).reshape(shape)
        else:
            consumers = _embedding_consumers(ctx.inference, name)
            vocab = min(d for _, d in consumers) if consumers else 5
            high = min(vocab, int(np.iinfo(dtype).max) + 1)
            x[name] = (rng.integers(1, high, shape) if high > 1 else np.zeros(shape, dtype=np.int64)).astype(dtype)
    y: dict[str, np.ndarray] = {}
    outputs = concrete.output_tensors
    from ...spec.training import loss_kind

    for name in concrete.outputs:
        output = outputs[name]
        assert output is not None  # every output of a checked spec has its tensor
        full = tuple(8 if d is None else d for d in output.shape[1:])
        loss = _loss_for(ctx.spec.training, name)
        kind = loss_kind(loss) if loss is not None else "regression"
        if kind in ("sparse", "one_hot"):
            classes = full[-1]
            ids = rng.integers(0, classes, (n,) + full[:-1]).astype(np.int32)
            y[name] = ids if kind == "sparse" else np.eye(classes, dtype=np.float32)[ids]
        elif kind == "ids":  # Circle: a few groups, so that a batch has examples of one group and of others
            y[name] = rng.integers(0, 4, (n,)).astype(np.int32)
        elif kind == "ctc":  # one label per sequence, never the blank 0
            y[name] = rng.integers(1, max(full[-1], 2), (n, 1)).astype(np.int32)
        elif kind == "binary":
            y[name] = rng.integers(0, 2, (n,) + full).astype(np.float32)
        else:
            y[name] = rng.standard_normal((n,) + full).astype(np.float32)
    origin = f"synthetic, seed {seed}" if seed is not None else "synthetic"
    origins = {f"inputs.{k}": origin for k in x} | {f"labels.{k}": origin for k in y}
    title = f"synthetic ({n:,} samples{', seed ' + str(seed) if seed is not None else ''})"
    return Loaded(title, [], lambda _: None, None, "", pool=Split(x, y, origins), shuffled=True)


register(Loader("synthetic", _synthetic))
