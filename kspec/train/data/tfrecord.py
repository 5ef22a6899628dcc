"""tfrecord: TFRecord files of `tf.train.Example` records (a file, a directory or a glob of shards), streamed file by
file; each declared feature is a field (`tf.io.FixedLenFeature` numbers of a shape, or an encoded image decoded and
resized). The records are counted when the source is listed (one pass over the files, nothing kept): a TFRecord
file has no index. A record that does not parse as declared (a missing feature, a value of another size) or that
cannot be read (a corrupt file) is a bad example, named by its file and record number. Default label: `label`;
default input of a one-input model: the one other feature.
"""

from __future__ import annotations

import collections
import itertools
import pathlib
from typing import Any

import numpy as np

from .core import DataError
from .files import _shard_files
from .loader import Context, Loaded, Loader, register
from .stream import FieldSpec, Stream, gap_checked

COMPRESSION = {"none": "", "gzip": "GZIP", "zlib": "ZLIB"}


def _files(source: Any, ctx: Context) -> list[pathlib.Path]:
    return _shard_files(source.path, ctx.resolve(source.path), "TFRecord", (".tfrecord", ".tfrec", ".tfrecords"))


class TFRecordStream(Stream):
    """Records of TFRecord files; a unit is a file (`per_example_units` false: a shuffle buffer mixes them)."""

    per_example_units = False

    def __init__(self, files: list[pathlib.Path], title: str, features: dict[str, Any], compression: str):
        import tensorflow as tf

        self.files = files
        self.title = title
        self.compression = COMPRESSION[compression]
        self.features = features
        counts = []
        for file in files:
            try:
                counts.append(
                    int(tf.data.TFRecordDataset(str(file), self.compression).reduce(np.int64(0), lambda n, _: n + 1))
                )
            except tf.errors.OpError as exc:
                raise DataError(
                    f"{file} cannot be read as TFRecord ({_op_message(exc)}); expected a TFRecord file"
                    + (
                        f" compressed with {compression}."
                        if compression != "none"
                        else " (read as not compressed: if it is, set `compression`)."
                    )
                ) from None
        self.starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        self.count = int(self.starts[-1])
        self.fields = {}
        for name, feature in features.items():
            if feature.dtype == "image":
                h, w = feature.image_size
                shape: tuple[int, ...] = (int(h), int(w), int(feature.channels or 3))
                dtype = "float32"
            else:
                shape, dtype = tuple(int(d) for d in feature.shape), feature.dtype
            self.fields[name] = FieldSpec(shape, dtype, f"feature '{name}' of {title}")

    def units_of(self, indices: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.starts, indices, side="right") - 1

    def where(self, index: int) -> str:
        f = int(np.searchsorted(self.starts, index, side="right")) - 1
        return f"Record {index - int(self.starts[f]) + 1} of {self.files[f]}"

    def _parser(self, fields: list[str]) -> Any:
        import tensorflow as tf

        description = {}
        for name in fields:
            feature = self.features[name]
            if feature.dtype == "image":
                description[name] = tf.io.FixedLenFeature([], tf.string)
            else:
                description[name] = tf.io.FixedLenFeature(self.fields[name].shape, tf.as_dtype(feature.dtype))

        def parse(record: Any) -> dict[str, Any]:
            parsed = tf.io.parse_single_example(record, description)
            out = {}
            for name in fields:
                feature = self.features[name]
                if feature.dtype == "image":
                    h, w, c = self.fields[name].shape
                    image = tf.io.decode_image(parsed[name], channels=c, expand_animations=False)
                    image.set_shape((None, None, c))
                    out[name] = tf.image.resize(image, (h, w), method="bilinear")
                else:
                    out[name] = parsed[name]
            return out

        return parse

    def examples(self, indices: np.ndarray, fields: list[str], *, order_seed: int | None) -> Any:
        import tensorflow as tf

        indices = np.asarray(indices, dtype=np.int64)
        member = np.zeros(self.count + 1, dtype=bool)
        member[indices] = True
        pending: collections.deque[int] = collections.deque()
        epochs = itertools.count()
        per_file = [
            indices[(indices >= self.starts[f]) & (indices < self.starts[f + 1])] for f in range(len(self.files))
        ]
        names = [str(f) for f in self.files]

        def order() -> Any:
            files = np.array([f for f in range(len(self.files)) if len(per_file[f])], dtype=np.int64)
            if order_seed is not None:  # the files' order, drawn afresh each epoch from the seed
                files = files[np.random.default_rng([order_seed, next(epochs)]).permutation(len(files))]
            pending.clear()
            for f in files.tolist():
                pending.extend(per_file[f].tolist())
            yield [names[f] for f in files.tolist()], self.starts[files]

        signature = (tf.TensorSpec((None,), tf.string), tf.TensorSpec((None,), tf.int64))
        listed = tf.data.Dataset.from_generator(order, output_signature=signature).unbatch()
        keep = tf.constant(member)
        compression = self.compression

        def records(path: Any, start: Any) -> Any:
            dataset = tf.data.TFRecordDataset(path, compression).enumerate(start)
            return dataset.filter(lambda i, _: tf.gather(keep, i))

        dataset = listed.flat_map(records)
        end = tf.data.Dataset.from_tensors((tf.constant(-1, tf.int64), tf.constant(b"")))  # the epoch's sentinel
        dataset = dataset.concatenate(end)
        parse = self._parser(fields)
        blank = {name: tf.zeros(self.fields[name].shape, tf.as_dtype(self.fields[name].dtype)) for name in fields}

        def decode(index: Any, record: Any) -> dict[str, Any]:
            values = tf.cond(index >= 0, lambda: parse(record), lambda: blank)
            return {"_index": index, **values}

        dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return gap_checked(dataset, pending, {f: self.fields[f] for f in fields}, self.problem)

    def problem(self, index: int) -> str:
        """Why the record `index` could not be read or parsed (TensorFlow's reason)."""
        import tensorflow as tf

        f = int(np.searchsorted(self.starts, index, side="right")) - 1
        position = index - int(self.starts[f])
        fields = list(self.features)
        try:
            dataset = tf.data.TFRecordDataset(str(self.files[f]), self.compression).skip(position).take(1)
            record = next(iter(dataset))
        except (tf.errors.OpError, StopIteration) as exc:
            return f"cannot be read ({_op_message(exc)})"
        try:
            self._parser(fields)(record)
        except (tf.errors.OpError, ValueError) as exc:
            return f"does not parse as the declared features ({_op_message(exc)})"
        return "could not be read or parsed while training"


def _op_message(exc: Any) -> str:
    import re

    text = getattr(exc, "message", str(exc)).strip()
    text = text.splitlines()[0] if text else type(exc).__name__
    text = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", text)
    return re.sub(r"\s*\[Op:\w+\].*$", "", text).rstrip(".")


def _tfrecord(source: Any, ctx: Context) -> Loaded:
    files = _files(source, ctx)
    title = str(files[0]) if len(files) == 1 else f"{len(files)} TFRecord files ({files[0].parent})"
    stream = TFRecordStream(files, title, dict(source.features), source.compression)
    if not stream.count:
        raise DataError(f"{title} holds no records; expected one tf.train.Example record per example.")

    def rest(labels: list[str]) -> str:
        others = [name for name in source.features if name not in labels]
        if len(others) != 1:
            raise DataError(
                f"The model input has no field: {title} declares the features {', '.join(source.features)}, and "
                f"{'none' if not others else 'several'} besides the labels; map it with `data.inputs`."
            )
        return others[0]

    return Loaded(title, list(source.features), lambda name: None, None, "label", rest=rest, stream=stream)


register(Loader("tfrecord", _tfrecord))
