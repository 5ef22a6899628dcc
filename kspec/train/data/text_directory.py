"""text_directory: `text` (token ids from Keras's TextVectorization, adapted on the training texts only, or the
raw texts for a string model input) and `label` (the sorted class sub-directories); `max_tokens` and
`sequence_length` left out come from the model."""

from __future__ import annotations

from typing import Any

import numpy as np

from .core import RAW_TEXT, TEXT_EXTENSIONS, DataError, Split
from .files import _class_files
from .loader import Context, Field, Loaded, Loader, register


def _text_directory(source: Any, ctx: Context) -> Loaded:
    path = ctx.resolve(source.path)
    classes, files, labels = _class_files(path, source.path, TEXT_EXTENSIONS, "text directory")
    texts = []
    for file in files:
        try:
            texts.append(file.read_bytes().decode("utf-8", errors="replace"))
        except OSError as exc:
            raise DataError(f"The text file {file} cannot be read: {exc.strerror or exc}.") from None
    text_array = np.array(texts, dtype=object)
    max_tokens, sequence_length = source.max_tokens, source.sequence_length  # see resolve_source
    origin_dir = f"{len(classes)} class sub-directories of {path}"
    fields = {
        "text": Field(text_array, None, f"texts from the {origin_dir}, as token ids"),
        "label": Field(labels, None, f"class ids from the {origin_dir}"),
    }

    def finish(train: Split, validation: Split | None, test: Split | None) -> dict[str, dict[str, Any]]:
        import keras

        described: dict[str, dict[str, Any]] = {}
        for name in [k for k, v in train.x.items() if v.dtype == object]:
            if ctx.inference.inputs[name].dtype == "string":  # the model's own text layers read the raw texts
                described[name] = dict(RAW_TEXT)
                continue
            try:
                if ctx.vocabulary is not None:  # a trained run's: new texts get the ids it was trained on
                    layer = keras.layers.TextVectorization(
                        max_tokens=max_tokens, output_sequence_length=sequence_length, vocabulary=ctx.vocabulary
                    )
                else:
                    layer = keras.layers.TextVectorization(
                        max_tokens=max_tokens, output_sequence_length=sequence_length
                    )
                    layer.adapt(train.x[name].astype(str))
            except ValueError as exc:
                raise DataError(
                    f"The texts of {path} cannot be vectorised with max_tokens={max_tokens} and "
                    f"sequence_length={sequence_length}: {exc}"
                ) from None
            for split in (train, validation, test):
                if split is not None:
                    split.x[name] = np.asarray(layer(split.x[name].astype(str))).astype(np.int32)
            config = layer.get_config()
            described[name] = {
                "kind": "text",
                "vocabulary": [str(t) for t in layer.get_vocabulary()],
                "max_tokens": int(max_tokens),
                "sequence_length": int(sequence_length),
                "standardize": config["standardize"],
                "split": config["split"],
                "output_mode": config["output_mode"],
                "encoding": "utf-8",  # how the files are decoded (then TextVectorization's own utf-8)
                "errors": "replace",
            }
        return described

    return Loaded(
        f"text directory {path}",
        sorted(fields),
        fields.get,
        "text",
        "label",
        class_names=classes,
        class_field="label",
        finish=finish,
    )


def _resolve(source: Any, ctx: Context, given: set[str]) -> dict[str, Any]:
    """`max_tokens` from the smallest Embedding `input_dim` fed by `text`, `sequence_length` from that input's length
    when known."""
    update: dict[str, Any] = {}
    if "max_tokens" not in given:
        dim = ctx.embedding_dim_for_field("text", "text")
        if dim is not None:
            update["max_tokens"] = dim
    target = ctx.target_of("text", "text")
    if "sequence_length" not in given and target is not None and len(target.shape) == 2 and target.shape[1] is not None:
        update["sequence_length"] = target.shape[1]
    return update


register(Loader("text_directory", _text_directory, _resolve, fallbacks={"max_tokens": 20000, "sequence_length": 200}))
