"""Array checks and adaptation: every array of a split against the model's inputs and outputs (see the package
docstring, "Adaptation"), and the messages that name the field, the expected and the received."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from ...text import shape_str
from .core import DataError, Split

if TYPE_CHECKING:  # pragma: no cover
    from ...infer import Inference
    from ...spec.training import Training


def check_split(split: Split, inference: Inference, training: Training, *, where: str) -> None:
    """Check every array of `split` against the model and adapt it in place (see the module docstring).

    Raises DataError naming the field, the expected and the received shape and dtype.
    `where` names the split in messages that concern no single field (e.g. "training split").
    """
    _check_names(split, inference, where)
    _check_lengths(split, where)
    for name, tensor in inference.inputs.items():
        split.x[name] = _adapt_input(split, name, tensor, inference, where)
    outputs = inference.output_tensors
    for name in inference.outputs:
        output = outputs.get(name)
        if output is None:
            continue
        loss = _loss_for(training, name)
        split.y[name] = _adapt_labels(split, name, output, loss, where)


def _check_names(split: Split, inference: Inference, where: str) -> None:
    for section, arrays, expected in (
        ("inputs", split.x, list(inference.inputs)),
        ("labels", split.y, list(inference.outputs)),
    ):
        missing = [n for n in expected if n not in arrays]
        extra = [n for n in arrays if n not in expected]
        if missing or extra:
            what = "inputs" if section == "inputs" else "outputs"
            raise DataError(
                f"The {where} does not match the model's {what}: expected arrays for {', '.join(expected) or 'none'}, "
                f"received arrays for {', '.join(arrays) or 'none'}."
            )


def _check_lengths(split: Split, where: str) -> None:
    first: tuple[str, int] | None = None
    for section, arrays in (("inputs", split.x), ("labels", split.y)):
        for name, array in arrays.items():
            key = f"{section}.{name}"
            subject = _subject(split, key, where)
            if not hasattr(array, "shape") or array.ndim == 0:
                raise DataError(
                    f"{subject} is a single value of shape {shape_str(np.shape(array))}, but it needs one entry per "
                    "example (an array whose first axis is the examples)."
                )
            if first is None:
                first = (subject, len(array))
            elif len(array) != first[1]:
                raise DataError(
                    f"In the {where}, {first[0]} has {first[1]:,} examples but {subject} has {len(array):,}; every input "
                    "and label array needs one entry per example."
                )


def _subject(split: Split, key: str, where: str) -> str:
    origin = split.origins.get(key)
    return f"`data.{key}` ({origin or where})"


def _fits(actual: tuple, expected: tuple) -> bool:
    return len(actual) == len(expected) and all(e is None or a == e for a, e in zip(actual, expected))


def _is_numeric(array: np.ndarray) -> bool:
    return array.dtype.kind in "biuf"


def _adapt_strings(array: np.ndarray, expected: tuple, mismatch: Callable[[str], DataError]) -> np.ndarray:
    """A string input's examples as an object array of str, with a trailing axis of 1 added where the input has it."""
    if array.dtype.kind not in "OUS" or (
        array.dtype.kind == "O" and not all(isinstance(v, (str, bytes)) for v in array.reshape(-1))
    ):
        raise mismatch(" A string input takes texts (strings).")
    adapted = array.astype(object) if array.dtype.kind != "O" else array
    if len(expected) == array.ndim and expected and expected[-1] == 1:
        adapted = adapted[..., np.newaxis]
    if not _fits(adapted.shape[1:], expected):
        raise mismatch("")
    return adapted


def _non_integral(array: np.ndarray) -> Any:
    """The first value of a float array that is not an integer, or None."""
    bad = ~np.isfinite(array) | (np.floor(array) != array)
    if bad.any():
        return array.reshape(-1)[int(np.argmax(bad.reshape(-1)))]
    return None


def _first_nonfinite(array: Any) -> tuple[int, tuple[int, ...], float] | None:
    """(example index, position within the example, value) of a float array's first NaN, inf or -inf; else None."""
    array = np.asarray(array)
    if array.dtype.kind != "f" or array.ndim == 0:
        return None
    finite = np.isfinite(array)
    if finite.all():
        return None
    index = np.unravel_index(int(np.argmin(finite.reshape(-1))), array.shape)
    return int(index[0]), tuple(int(i) for i in index[1:]), float(array[index])


def _position(position: tuple[int, ...]) -> str:
    return f" at position {list(position)} of the example" if position else ""


def _nonfinite_error(where: str, found: tuple[int, tuple[int, ...], float]) -> DataError:
    """`where`: the array, e.g. "field 'x' of data.npz" or "`data.inputs.x` (...) in the training split"."""
    example, position, value = found
    return DataError(
        f"Example {example} (counting from 0) of {where} holds {value}{_position(position)}, which is not a finite "
        "number; expected finite numbers (NaN, inf and -inf cannot be trained on)."
    )


def _refuse_nonfinite(split: Split, key: str, where: str, array: np.ndarray, cast: np.ndarray | None = None) -> None:
    """Refuse NaN or infinity in `array`; with `cast` (the array in the model's dtype), refuse values it overflows."""
    subject = f"{_subject(split, key, where)} in the {where}"
    if cast is None:
        found = _first_nonfinite(array)
        if found is not None:
            raise _nonfinite_error(subject, found)
        return
    found = _first_nonfinite(cast)
    if found is not None:
        example, position, value = found
        original = array[(example, *position)]
        raise DataError(
            f"Example {example} (counting from 0) of {subject} holds {float(original)!r}{_position(position)}, which is "
            f"outside the range of {cast.dtype} (it would become {value}); expected finite numbers of at most "
            f"{float(np.finfo(cast.dtype).max):g} in magnitude."
        )


def _cast(array: np.ndarray, dtype: Any) -> np.ndarray:
    """`array` as `dtype`; a value too large for it becomes inf quietly (`_refuse_nonfinite` names it)."""
    with np.errstate(over="ignore"):
        return array.astype(dtype, copy=False)


def _loss_for(training: Training, output: str) -> Any:
    loss = training.loss
    if isinstance(loss, dict):
        return loss.get(output)
    return loss


def _loss_name(loss: Any) -> str:
    return loss if isinstance(loss, str) else loss.type


def _adapt_input(split: Split, name: str, tensor: Any, inference: Inference, where: str) -> np.ndarray:
    array = np.asarray(split.x[name])
    key = f"inputs.{name}"
    expected = tuple(tensor.shape[1:])
    dtype = tensor.dtype

    def mismatch(extra: str = "") -> DataError:
        return DataError(
            f"{_subject(split, key, where)} has examples of shape {shape_str(array.shape[1:])} and dtype {array.dtype}, "
            f"but model input '{name}' expects shape {shape_str(expected)} and dtype {dtype}.{extra}"
        )

    if dtype == "string":
        return _adapt_strings(array, expected, mismatch)
    if not _is_numeric(array):
        raise mismatch(" Only numeric arrays can be fed to a model input.")
    _refuse_nonfinite(split, key, where, array)
    adapted = array
    if len(expected) == array.ndim and expected[-1] == 1:
        adapted = array[..., np.newaxis]
    if not _fits(adapted.shape[1:], expected):
        raise mismatch()
    target = np.dtype(dtype) if dtype != "bfloat16" else np.dtype("float32")
    if dtype in ("float16", "bfloat16", "float32", "float64"):
        cast = _cast(adapted, target)
        _refuse_nonfinite(split, key, where, adapted, cast)
        return cast
    if dtype == "bool":
        if adapted.dtype.kind != "b":
            if not np.isin(adapted, (0, 1)).all():
                raise mismatch(" A bool input takes bool arrays, or numbers that are all 0 or 1.")
        return adapted.astype(bool, copy=False)
    # integer input
    if adapted.dtype.kind == "f":
        bad = _non_integral(adapted)
        if bad is not None:
            raise mismatch(
                f" Its values are not all integers (e.g. {bad!r}), so they cannot become {dtype} without changing them."
            )
    if adapted.size and adapted.dtype.kind != "b":
        info = np.iinfo(target)
        low, high = adapted.min(), adapted.max()
        if low < info.min or high > info.max:
            raise mismatch(f" Its values range over [{low}, {high}], outside {dtype}'s range [{info.min}, {info.max}].")
    adapted = adapted.astype(target, copy=False)
    consumers = _embedding_consumers(inference, name)
    if consumers and adapted.size:
        layer, dim = min(consumers, key=lambda c: c[1])
        low, high = int(adapted.min()), int(adapted.max())
        if low < 0 or high >= dim:
            bad = high if high >= dim else low
            raise DataError(
                f"{_subject(split, key, where)} holds the id {bad}, but model input '{name}' feeds the Embedding layer "
                f"'{layer}' with input_dim {dim}, which accepts ids in [0, {dim}). Raise input_dim or limit the "
                "vocabulary of the data (text_directory: max_tokens)."
            )
    return adapted


def _sequence_or_group_ids(
    split: Split, name: str, full: tuple, kind: str, array: np.ndarray, received: str, loss_text: str, where: str
) -> np.ndarray:
    """Circle's labels: one integer group id per example (shape () or (1,)). CTC's: a sequence of class ids per
    example (shape (L,)), padded with the blank 0, each id below the output's number of classes (its last axis)."""
    key = f"labels.{name}"
    if kind == "ids":
        ids = array[..., 0] if array.ndim == 2 and array.shape[1] == 1 else array
        if ids.ndim != 1:
            raise DataError(f"{received}, but output '{name}'{loss_text} expects one integer group id per example.")
        what = "integer group ids"
    else:
        ids = array
        if ids.ndim != 2:
            raise DataError(
                f"{received}, but output '{name}'{loss_text} expects one sequence of class ids per example, shape "
                "(L,) (padded with the blank 0)."
            )
        what = "integer class ids"
    if ids.dtype.kind == "f":
        bad = _non_integral(ids)
        if bad is not None:
            raise DataError(
                f"{received}, but output '{name}'{loss_text} expects {what}; the value {bad!r} is not an integer."
            )
    if kind == "ctc" and ids.size:
        classes = full[-1]
        steps = full[0] if len(full) > 1 else None
        valid = (ids >= 0) & (ids < classes) if classes is not None else ids >= 0
        if not valid.all():
            bad = ids.reshape(-1)[int(np.argmin(valid.reshape(-1)))]
            raise DataError(
                f"{_subject(split, key, where)} holds the class id {int(bad)}, but output '{name}' has {classes} "
                f"classes (0 is the blank): class ids must be in [0, {classes})."
            )
        if steps is not None and ids.shape[1] > steps:
            raise DataError(
                f"{received}, but output '{name}'{loss_text} has {steps} steps: a label sequence of "
                f"{ids.shape[1]} cannot be aligned to fewer steps (CTC needs at least as many steps as labels)."
            )
    return ids.astype(np.int32)


def _adapt_labels(split: Split, name: str, tensor: Any, loss: Any, where: str) -> np.ndarray:
    from ...spec.training import loss_kind

    array = np.asarray(split.y[name])
    key = f"labels.{name}"
    full = tuple(tensor.shape[1:])
    kind = loss_kind(loss) if loss is not None else "regression"
    loss_text = f" with loss {_loss_name(loss)}" if loss is not None else ""
    received = (
        f"{_subject(split, key, where)} has examples of shape {shape_str(array.shape[1:])} and dtype {array.dtype}"
    )

    if not _is_numeric(array):
        raise DataError(f"{received}, but output '{name}'{loss_text} needs numeric labels.")
    _refuse_nonfinite(split, key, where, array)
    if kind in ("ids", "ctc"):
        return _sequence_or_group_ids(split, name, full, kind, array, received, loss_text, where)
    if kind in ("sparse", "one_hot"):
        classes = full[-1] if full else None
        ids_shape = full[:-1]
        ids = None
        if kind == "sparse" or (classes is not None and not _fits(array.shape[1:], full)):
            if _fits(array.shape[1:], ids_shape):
                ids = array
            elif _fits(array.shape[1:], ids_shape + (1,)):
                ids = array[..., 0]
        if kind == "sparse" and ids is None:
            raise DataError(
                f"{received}, but output '{name}'{loss_text} expects integer class ids of shape {shape_str(ids_shape)} "
                f"(or {shape_str(ids_shape + (1,))}) in [0, {classes})."
            )
        if ids is not None:
            if ids.dtype.kind == "f":
                bad = _non_integral(ids)
                if bad is not None:
                    raise DataError(
                        f"{received}, but output '{name}'{loss_text} expects integer class ids; the value {bad!r} "
                        "is not an integer."
                    )
            ignore = getattr(loss, "ignore_class", None)
            if ids.size and classes is not None:
                valid = (ids >= 0) & (ids < classes)
                if ignore is not None:
                    valid |= ids == ignore
                if not valid.all():
                    bad = ids.reshape(-1)[int(np.argmin(valid.reshape(-1)))]
                    bad = int(bad) if float(bad).is_integer() else bad
                    extra = f" (or the ignore_class {ignore})" if ignore is not None else ""
                    raise DataError(
                        f"{_subject(split, key, where)} holds the class id {bad}, but output '{name}' has {classes} "
                        f"classes: class ids must be in [0, {classes}){extra}."
                    )
            ids = ids.astype(np.int32)
            if kind == "sparse":
                return ids
            # one-hot: integer ids are encoded (taken above only where the number of classes is known)
            assert classes is not None
            valid_ids = np.clip(ids, 0, classes - 1)
            encoded = np.eye(classes, dtype=np.float32)[valid_ids]
            if ignore is not None:
                encoded[ids == ignore] = 0.0
            return encoded
        if not _fits(array.shape[1:], full):
            raise DataError(
                f"{received}, but output '{name}'{loss_text} expects one-hot labels of shape {shape_str(full)} "
                f"(float), or integer class ids of shape {shape_str(ids_shape)} (encoded automatically)."
            )
        cast = _cast(array, np.float32)
        _refuse_nonfinite(split, key, where, array, cast)
        return cast

    # binary, regression
    adapted = array
    if not _fits(array.shape[1:], full) and full and full[-1] == 1 and _fits(array.shape[1:], full[:-1]):
        adapted = array[..., np.newaxis]
    if not _fits(adapted.shape[1:], full):
        also = f" (or {shape_str(full[:-1])})" if full and full[-1] == 1 else ""
        raise DataError(
            f"{received}, but output '{name}'{loss_text} expects labels of shape {shape_str(full)}{also}, "
            "numeric (cast to float32)."
        )
    cast = _cast(adapted, np.float32)
    _refuse_nonfinite(split, key, where, adapted, cast)
    adapted = cast
    if kind == "binary" and adapted.size:
        low, high = float(adapted.min()), float(adapted.max())
        if low < 0 or high > 1:
            bad = low if low < 0 else high
            raise DataError(
                f"{_subject(split, key, where)} holds the label {bad:g}, but output '{name}'{loss_text} expects "
                "labels in [0, 1] (0/1 classes or probabilities)."
            )
    return adapted


def _embedding_consumers(inference: Inference, input_name: str) -> list[tuple[str, int]]:
    """(node name, input_dim) of the Embedding layers fed by `input_name`, through integer-valued tensors."""
    from ...spec.layers._base import FLOAT_DTYPES

    reach = {input_name}
    found: list[tuple[str, int]] = []
    for node in inference.nodes:
        if not any(ref in reach for ref in node.inputs) or node.layer is None:
            continue
        layer = node.layer
        inner = getattr(layer, "layer", None)
        for candidate in (layer, inner):
            if candidate is not None and getattr(candidate, "type", None) == "Embedding":
                found.append((node.name, int(candidate.input_dim)))
                break
        else:
            if node.output is not None and node.output.dtype not in FLOAT_DTYPES:
                reach.add(node.name)
    return found
