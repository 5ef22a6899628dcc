"""text_directory: `text` (token ids from Keras's TextVectorization, adapted on the training texts only, or the
raw texts for a string model input) and `label` (the sorted class sub-directories), streamed: the files are listed
(their labels are their directories) and read while training; `max_tokens` and `sequence_length` left out come
from the model.

A file is read in TensorFlow's graph as UTF-8; one that is not valid UTF-8 is read again in Python with its
invalid bytes replaced (U+FFFD), as `kspec predict` reads texts, so that every reader gives the same text.
"""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from .core import RAW_TEXT, TEXT_EXTENSIONS, DataError
from .files import _class_files
from .loader import Context, Loaded, Loader, register
from .stream import FieldSpec, Stream, StreamSplit, file_order, gap_checked

#: Texts adapted on together (TextVectorization.adapt over the training split, batch by batch).
ADAPT_BATCH = 256


class TextStream(Stream):
    """One example per text file: `text` (token ids (sequence_length,) int32, or the raw text for a string model
    input) and `label` int32 (the class directory's index)."""

    def __init__(
        self,
        path: pathlib.Path,
        files: list[pathlib.Path],
        labels: np.ndarray,
        classes: list[str],
        source: Any,
        raw: bool,
    ):
        self.title = f"text directory {path}"
        self.path = path
        self.files = np.array([str(f) for f in files], dtype=object)
        self.labels = labels
        self.count = len(files)
        self.raw = raw  # the model's own text layers read the texts
        self.max_tokens, self.sequence_length = source.max_tokens, source.sequence_length  # see resolve_source
        self.vectorizer: Any = None  # the adapted TextVectorization (`prepare`); None: raw texts
        origin_dir = f"{len(classes)} class sub-directories of {path}"
        text = (
            FieldSpec((), "string", f"texts from the {origin_dir}")
            if raw
            else FieldSpec((int(self.sequence_length),), "int32", f"texts from the {origin_dir}, as token ids")
        )
        self.fields = {"text": text, "label": FieldSpec((), "int32", f"class ids from the {origin_dir}")}

    def where(self, index: int) -> str:
        return f"The text file {self.files[index]}"

    def prepare(self, train: StreamSplit, vocabulary: list[str] | None) -> dict[str, dict[str, Any]]:
        """The TextVectorization of the token-id texts: a trained run's vocabulary, or adapted on the training texts
        (read as a stream, never the validation or test texts)."""
        if self.raw or "text" not in train.input_fields.values():
            return {"text": dict(RAW_TEXT)} if self.raw else {}
        import keras

        max_tokens, sequence_length = self.max_tokens, self.sequence_length
        try:
            if vocabulary is not None:  # a trained run's: new texts get the ids it was trained on
                layer = keras.layers.TextVectorization(
                    max_tokens=max_tokens, output_sequence_length=sequence_length, vocabulary=vocabulary
                )
            else:
                layer = keras.layers.TextVectorization(max_tokens=max_tokens, output_sequence_length=sequence_length)
                texts = self.examples(train.indices, ["text"], order_seed=None)
                layer.adapt(texts.map(lambda example: example["text"]).batch(ADAPT_BATCH))
        except ValueError as exc:
            raise DataError(
                f"The texts of {self.path} cannot be vectorised with max_tokens={max_tokens} and "
                f"sequence_length={sequence_length}: {exc}"
            ) from None
        self.vectorizer = layer
        config = layer.get_config()
        return {
            "text": {
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
        }

    def _value(self, text: Any) -> Any:
        """A text (a string tensor) as the field's value: its token ids once there is a vectorizer."""
        import tensorflow as tf

        if self.vectorizer is None:
            return text
        return tf.cast(self.vectorizer(tf.reshape(text, [1]))[0], tf.int32)  # one text of a batch: always padded

    def examples(self, indices: np.ndarray, fields: list[str], *, order_seed: int | None) -> Any:
        import tensorflow as tf

        indices = np.asarray(indices, dtype=np.int64)
        vectorized = self.vectorizer is not None
        specs = {f: self.fields[f] for f in fields}
        if "text" in specs and not vectorized:  # raw texts (a string input, or adapting the vocabulary)
            specs["text"] = FieldSpec((), "string", specs["text"].origin)

        pending, dataset = file_order(indices, self.files, self.labels, order_seed)

        def read(index: Any, path: Any, label: Any) -> dict[str, Any]:
            def text() -> Any:  # strict UTF-8: a file that is not is read again in Python (`problem`)
                return tf.strings.unicode_transcode(tf.io.read_file(path), "UTF-8", "UTF-8", errors="strict")

            out = {"_index": index}
            if "text" in fields:
                out["text"] = self._value(tf.cond(index >= 0, text, lambda: tf.constant("")))
            if "label" in fields:
                out["label"] = label
            return out

        dataset = dataset.map(read, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return gap_checked(dataset, pending, specs, self.problem)

    def problem(self, index: int) -> tuple[dict[str, Any], str] | str:
        """A text TensorFlow did not read: not valid UTF-8 (read here with its invalid bytes replaced), or unreadable."""
        try:
            data = pathlib.Path(self.files[index]).read_bytes()
        except OSError as exc:
            return f"cannot be read ({exc.strerror or exc})"
        text = data.decode("utf-8", errors="replace")
        value: Any = text.encode("utf-8")
        if self.vectorizer is not None:
            value = np.asarray(self.vectorizer([text]))[0].astype(np.int32)
        return {"text": value, "label": self.labels[index]}, ""


def _text_directory(source: Any, ctx: Context) -> Loaded:
    path = ctx.resolve(source.path)
    classes, files, labels = _class_files(path, source.path, TEXT_EXTENSIONS, "text directory")
    target = ctx.target_of("text", "text")
    stream = TextStream(path, files, labels, classes, source, raw=target is not None and target.dtype == "string")
    return Loaded(
        stream.title,
        sorted(stream.fields),
        lambda name: None,
        "text",
        "label",
        class_names=classes,
        class_field="label",
        stream=stream,
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
