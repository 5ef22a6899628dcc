"""Streamed sources: examples read while training, never all in memory.

A streamed loader (image_directory, parquet) lists its examples without reading them (the files, their rows and
labels) and gives a `Stream`: how many examples there are, which fields they have, where each one is (for
messages) and a tf.data pipeline that reads any subset of them, decoding in parallel. `load_data` holds out the
test and validation examples by their index (the same examples the in-memory loaders hold out for the same seed)
and gives one `StreamSplit` per split. Its `dataset` is the training pipeline:

    unit order (seeded, per epoch) -> read and decode in parallel -> check and adapt each chunk (`check_split`,
    the same checks as arrays in memory) -> drop the bad examples (--skip-bad-examples) -> bounded shuffle
    buffer -> batch -> prefetch

A split whose checked examples fit in CACHE_BYTES is read once in the source's order, kept in memory after its
first epoch, and shuffled from there each epoch (a small dataset then costs no decoding after the first epoch).

Peak memory depends on the batch size and the shuffle buffer, not on the number of examples: the listing keeps
one index (and, for directories, one path and label) per example. What can be known before training (the file
list, the classes, the columns, the shapes and dtypes of a first batch) is checked by `load_data` before the run
directory exists; what is seen only while streaming (an image that does not decode, a NaN, a label out of range)
stops training with a `DataError` naming the file and row, or is counted and reported (`skip_bad`).
"""

from __future__ import annotations

import collections
import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .core import DataError, Split

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf

#: Examples checked and adapted together (one call into Python per chunk).
CHUNK = 64
#: The shuffle buffer of a stream whose units hold many examples (files of rows): at most this many examples,
#: and at most BUFFER_BYTES of them.
BUFFER_EXAMPLES = 10_000
BUFFER_BYTES = 64 * 2**20
#: A split whose checked examples take at most this many bytes is kept in memory after its first epoch (read,
#: decoded and checked once), and shuffled from there; a larger one is read again each epoch.
CACHE_BYTES = 256 * 2**20
#: Bad examples described in the report of a run that skips them.
REPORTED = 5


class BadExample(Exception):
    """An example that cannot be trained on, seen while streaming; the message names it (file, row)."""


@dataclass
class StreamLog:
    """What the pipelines of one run met: the bad examples (skipped, or the first one, which stopped training)."""

    skip: bool = False
    first: list[str] = field(default_factory=list)  # the first REPORTED problems, each naming its example
    error: str | None = None  # the problem that stopped training (without skip)
    _seen: set[int] = field(default_factory=set, repr=False, compare=False)  # the bad examples' indices
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def skipped(self) -> int:
        """How many distinct examples were skipped (each is met again every epoch)."""
        return len(self._seen)

    def bad(self, index: int, message: str) -> None:
        """Record the bad example `index`: counted once when skipping, else raised (and kept for the message)."""
        with self._lock:
            if not self.skip:
                if self.error is None:
                    self.error = message
                raise BadExample(message)
            if index in self._seen:
                return
            self._seen.add(index)
            if len(self.first) < REPORTED:
                self.first.append(message)

    def summary(self) -> str | None:
        if not self.skipped:
            return None
        shown = " ".join(f"({i + 1}) {m}" for i, m in enumerate(self.first))
        more = f" and {self.skipped - len(self.first):,} more" if self.skipped > len(self.first) else ""
        return f"Skipped {self.skipped:,} bad example(s) (--skip-bad-examples): {shown}{more}"


@dataclass(frozen=True)
class FieldSpec:
    """One field of a streamed source: each example's shape and dtype, and where it comes from (for messages)."""

    shape: tuple[int, ...]
    dtype: str
    origin: str


class Stream:
    """A streamed source. Subclasses give `count`, `fields`, `where`, `units` and `read_unit` (or `examples`)."""

    title: str
    count: int
    fields: dict[str, FieldSpec]
    #: whether one unit holds one example (a file per example: the unit order is the shuffle) or many (rows of a file)
    per_example_units: bool = True

    def where(self, index: int) -> str:
        """The example `index` for a message: "the image /data/cats/3.png", "row 12 of /data/part-0.parquet"."""
        raise NotImplementedError

    def examples(self, indices: np.ndarray, fields: list[str], *, order_seed: int | None) -> tf.data.Dataset:
        """Unbatched examples: {"_index": int64, "_problem": string ("" when good), field: value, ...}, in index
        order or, with `order_seed`, in an order drawn from the seed afresh each epoch."""
        raise NotImplementedError

    def use(self, fields: list[str]) -> None:
        """The fields the model reads, before anything is counted or held out (a source whose fields can have
        different lengths checks them here and sets `count`)."""

    def own_test(self) -> Stream | None:
        """The source's own test examples (npz: the `f_test` arrays of every field read), or None."""
        return None

    def prepare(self, train: StreamSplit, vocabulary: list[str] | None) -> dict[str, dict[str, Any]]:
        """Before anything is read for training: learn what the source learns from the training split (a text
        directory's vocabulary; `vocabulary`: a trained run's, reused); field -> its preprocessing."""
        return {}

    def units_of(self, indices: np.ndarray) -> np.ndarray:
        """The unit (file, row group) of each example; a source of one example per file: the example itself."""
        return np.asarray(indices)

    def shard(self, indices: np.ndarray, count: int, index: int) -> np.ndarray:
        """Worker `index` of `count`'s examples of `indices`: the examples of every count-th unit (file, row group)
        where there are at least `count` units, else every count-th example; no example is any other worker's."""
        units = self.units_of(indices)
        distinct = np.unique(units)
        if len(distinct) >= count:
            return indices[np.isin(units, distinct[index::count])]
        return indices[index::count]

    def example_bytes(self, fields: list[str]) -> int:
        def size(spec: FieldSpec) -> int:  # a text: counted as 1 KB
            return 1024 if spec.dtype == "string" else np.dtype(spec.dtype).itemsize

        return sum(int(np.prod(self.fields[f].shape, dtype=np.int64)) * size(self.fields[f]) for f in fields)


@dataclass
class StreamSplit:
    """The examples of one split of a streamed source, mapped to the model's inputs and outputs."""

    stream: Stream
    indices: np.ndarray  # example indices, in the source's order
    input_fields: dict[str, str]  # model input -> field
    label_fields: dict[str, str]  # model output -> field
    origins: dict[str, str]
    where: str  # "training split"
    check: Callable[[Split, str], None]  # check_split(split, where=...) with the model and training bound
    log: StreamLog

    streamed = True

    def __len__(self) -> int:
        return int(len(self.indices))

    @property
    def fields(self) -> list[str]:
        return sorted(set(self.input_fields.values()) | set(self.label_fields.values()))

    # ---- checking -------------------------------------------------------------------------------------

    def _raw(self, chunk: dict[str, np.ndarray]) -> Split:
        return Split(
            {name: chunk[f] for name, f in self.input_fields.items()},
            {name: chunk[f] for name, f in self.label_fields.items()},
            dict(self.origins),
        )

    def check_chunk(self, chunk: dict[str, np.ndarray]) -> tuple[Split, np.ndarray]:
        """A chunk of raw examples checked and adapted like arrays in memory -> (adapted split, keep mask). A bad
        example is logged: with skip it is dropped from the mask, else BadExample names it. A problem that every
        example of the chunk has (a shape or dtype the model does not take) is the field's: DataError, as in memory."""
        indices = np.asarray(chunk["_index"])
        problems = [p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p) for p in chunk["_problem"]]
        keep = np.array([not p for p in problems], dtype=bool)
        failed = {j: f"{self.stream.where(int(indices[j]))} {problems[j]}." for j in np.flatnonzero(~keep).tolist()}
        split = self._raw(chunk)
        whole: DataError | None = None
        if keep.all():
            try:
                self.check(split, self.where)
                return split, keep
            except DataError as exc:
                whole = exc  # find the bad examples one at a time
        checked = 0
        for j in np.flatnonzero(keep).tolist():
            try:
                self.check(split.take(slice(j, j + 1)), self.where)
            except DataError as exc:
                failed[j] = f"{self.stream.where(int(indices[j]))}: {_one_example(str(exc))}"
                checked += 1
        if whole is not None and checked == len(keep):
            raise whole
        for j in sorted(failed):  # in the stream's order: the first bad example is the one named
            keep[j] = False
            self.log.bad(int(indices[j]), failed[j])
        split = split.take(np.flatnonzero(keep))
        if len(split):
            self.check(split, self.where)
        return split, keep

    def peek(self, n: int = CHUNK) -> Split:
        """The first `n` examples, read, checked and adapted now (DataError names a bad one, unless skipping)."""
        import tensorflow as tf

        indices = self.indices[: max(1, n)]
        dataset = self.stream.examples(indices, self.fields, order_seed=None).batch(len(indices))
        try:
            chunk = {k: v.numpy() for k, v in next(iter(dataset)).items()}
        except tf.errors.OpError as exc:  # pragma: no cover - a reader's own failure, not a bad example
            raise DataError(f"{self.stream.title} cannot be read: {_op_message(exc)}.") from None
        try:
            split, _ = self.check_chunk(chunk)
        except BadExample as exc:
            raise DataError(str(exc)) from None
        if not len(split):  # every one skipped: nothing to check the model against, and surely not one bad example
            raise DataError(
                f"The first {len(indices):,} examples of the {self.where} of {self.stream.title} are all bad, so "
                f"they cannot be skipped one by one (--skip-bad-examples); the first: {self.log.first[0]}"
            )
        return split

    # ---- the pipeline ---------------------------------------------------------------------------------

    def dataset(
        self,
        *,
        batch_size: int,
        shuffle: bool,
        seed: int | None,
        single_output_name: str | None = None,
        drop_remainder: bool = False,
        repeat: bool = False,
        shard: tuple[int, int] | None = None,
    ) -> tf.data.Dataset:
        """The batched pipeline (see the module docstring); `make_tf_dataset` of a StreamSplit. `shard` (count,
        index): this worker's share of the examples only (`Stream.shard`), each worker reading its own files."""
        import tensorflow as tf

        sample = self.peek(min(len(self), CHUNK))
        order_seed = (0 if seed is None else seed) if shuffle else None
        indices = self.indices if shard is None else self.stream.shard(self.indices, *shard)
        cached = len(indices) * self.stream.example_bytes(self.fields) <= CACHE_BYTES
        # read in the source's order when the checked examples are kept after the first epoch (they are shuffled
        # from memory then); else in an order drawn each epoch, plus a bounded buffer for files of many rows
        examples = self.stream.examples(indices, self.fields, order_seed=None if cached else order_seed)
        if shuffle and not cached and not self.stream.per_example_units:
            buffer = max(1, min(BUFFER_EXAMPLES, BUFFER_BYTES // max(1, self.stream.example_bytes(self.fields))))
            examples = examples.shuffle(buffer, seed=order_seed, reshuffle_each_iteration=True)
        names_x, names_y = list(self.input_fields), list(self.label_fields)
        arrays = [sample.x[n] for n in names_x] + [sample.y[n] for n in names_y]
        out_types = [tf.as_dtype(a.dtype) if a.dtype.kind != "O" else tf.string for a in arrays] + [tf.bool]

        def check(chunk: dict[str, Any]) -> list[Any]:
            keys = sorted(chunk)
            flat = [chunk[k] for k in keys]

            def run(*tensors: Any) -> list[Any]:
                got = {k: t.numpy() for k, t in zip(keys, tensors, strict=True)}
                split, keep = self.check_chunk(got)
                full = [_scatter(split.x[n], keep) for n in names_x] + [_scatter(split.y[n], keep) for n in names_y]
                return [*full, keep]

            outs = tf.py_function(run, flat, out_types)
            for tensor, array in zip(outs, arrays, strict=False):
                tensor.set_shape((None, *array.shape[1:]))
            outs[-1].set_shape((None,))
            return outs

        def structure(*t: Any) -> Any:
            xs, ys = t[: len(names_x)], t[len(names_x) : len(names_x) + len(names_y)]
            x = xs[0] if len(xs) == 1 else dict(zip(names_x, xs, strict=True))
            if single_output_name is not None:
                if single_output_name not in names_y:
                    raise DataError(
                        f"The split has no labels for output '{single_output_name}'; it has labels for: "
                        f"{', '.join(names_y) or 'none'}."
                    )
                return x, ys[names_y.index(single_output_name)]
            return x, (ys[0] if len(ys) == 1 else dict(zip(names_y, ys, strict=True)))

        if cached:  # small enough to keep: checked once (the first epoch), then read from memory, reshuffled
            dataset = examples.batch(CHUNK).map(check, num_parallel_calls=1, deterministic=True).unbatch()
            dataset = dataset.filter(lambda *t: t[-1]).cache()
            if not self.log.skip:
                dataset = dataset.apply(tf.data.experimental.assert_cardinality(len(indices)))
            if shuffle:
                dataset = dataset.shuffle(max(1, len(indices)), seed=order_seed, reshuffle_each_iteration=True)
            dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
        elif self.log.skip:  # bad examples are dropped: checked in chunks, then batched again
            dataset = examples.batch(CHUNK).map(check, num_parallel_calls=1, deterministic=True).unbatch()
            dataset = dataset.filter(lambda *t: t[-1]).batch(batch_size, drop_remainder=drop_remainder)
        else:  # nothing is dropped (a bad example stops the run): each batch is checked as it is, and Keras knows
            # the epoch's length
            examples = examples.apply(tf.data.experimental.assert_cardinality(len(indices)))
            dataset = examples.batch(batch_size, drop_remainder=drop_remainder)
            # one batch at a time: the bad example that stops the run is then the first one in the stream's order
            dataset = dataset.map(check, num_parallel_calls=1, deterministic=True)
        dataset = dataset.map(structure)
        if repeat:
            dataset = dataset.repeat()
        return dataset.prefetch(tf.data.AUTOTUNE)

    def arrays(self) -> Split:
        """Every example of the split, checked and adapted, in memory (small splits: tests, reports)."""
        parts = [self.peek(len(self))] if len(self) else []
        return parts[0] if parts else Split({}, {})


def file_order(
    indices: np.ndarray, files: np.ndarray, labels: np.ndarray, order_seed: int | None
) -> tuple[collections.deque[int], tf.data.Dataset]:
    """A source of one example per file: (index, path, label) per example, in index order or, with `order_seed`,
    in an order drawn afresh each epoch from the seed, then a sentinel of index -1 (the epoch's end); and the
    pipeline's `pending` examples for `gap_checked`, refilled with each epoch's order as it starts."""
    import tensorflow as tf

    pending: collections.deque[int] = collections.deque()  # this pipeline's examples not yet seen, in order
    epochs = itertools.count()

    def order() -> Any:
        ids = indices
        if order_seed is not None:
            ids = indices[np.random.default_rng([order_seed, next(epochs)]).permutation(len(indices))]
        pending.clear()
        pending.extend(ids.tolist())
        ids = np.append(ids, -1)  # the sentinel: after it, every example not seen is missing
        yield ids, files[np.maximum(ids, 0)].astype(str), labels[np.maximum(ids, 0)].astype(np.int32)

    signature = (tf.TensorSpec((None,), tf.int64), tf.TensorSpec((None,), tf.string), tf.TensorSpec((None,), tf.int32))
    return pending, tf.data.Dataset.from_generator(order, output_signature=signature).unbatch()


def gap_checked(
    dataset: tf.data.Dataset,
    pending: collections.deque[int],
    specs: dict[str, FieldSpec],
    problem: Callable[[int], str | tuple[dict[str, Any], str]],
) -> tf.data.Dataset:
    """Examples read in TensorFlow's graph, where one that fails (a file that does not decode, a record that does
    not parse) was dropped by `ignore_errors`, put back in their places with their problem (`problem(index)`), or
    with the values Python reads where TensorFlow was only stricter (`problem` returns (values by field, "")).

    `dataset` gives {"_index": int64, field: value} per example in the order of `pending` (the pipeline's examples
    not yet seen, filled by the reader at the start of each epoch), then a sentinel of index -1 at the epoch's end.
    Returns {"_index", "_problem", field...} per example, every example of the epoch once, the sentinel dropped."""
    import tensorflow as tf

    names = sorted(specs)

    def fill(index: Any, *values: Any) -> list[Any]:
        received = index.numpy()
        arrays = [v.numpy() for v in values]
        head = np.fromiter(itertools.islice(pending, len(received)), np.int64, count=min(len(pending), len(received)))
        if len(head) == len(received) and (head == received).all():  # no gap: the chunk as it is
            for _ in range(len(received)):
                pending.popleft()
            return [received, np.zeros(len(received), dtype=bytes), *arrays]
        out_index: list[int] = []
        problems: list[str] = []
        rows: list[Any] = []  # i (the chunk's row i), or the values read again for a missing example (or None)
        for i, got in enumerate(received.tolist()):
            while pending and pending[0] != got:  # dropped by ignore_errors: an example that failed
                missing = pending.popleft()
                found = problem(missing)
                recovered: dict[str, Any] | None = found[0] if isinstance(found, tuple) else None
                why = found[1] if isinstance(found, tuple) else found
                out_index.append(missing)
                problems.append(why)
                rows.append(recovered)
            if pending:
                pending.popleft()
            if got >= 0:
                out_index.append(got)
                problems.append("")
                rows.append(i)
        columns = []
        for name, array in zip(names, arrays, strict=True):
            spec = specs[name]
            dtype = _numpy_dtype(spec.dtype)
            blank = np.full(spec.shape, b"", dtype) if spec.dtype == "string" else np.zeros(spec.shape, dtype)
            parts = [
                array[r] if isinstance(r, int) else (blank if r is None else np.asarray(r[name], dtype)) for r in rows
            ]
            columns.append(np.stack(parts) if parts else np.zeros((0, *spec.shape), dtype))
        return [np.asarray(out_index, np.int64), np.asarray(problems, dtype=object).astype(bytes), *columns]

    def filled(chunk: dict[str, Any]) -> dict[str, Any]:
        types = [tf.int64, tf.string] + [tf_dtype(specs[n].dtype) for n in names]
        outs = tf.py_function(fill, [chunk["_index"]] + [chunk[n] for n in names], types)
        outs[0].set_shape((None,))
        outs[1].set_shape((None,))
        for tensor, name in zip(outs[2:], names, strict=True):
            tensor.set_shape((None, *specs[name].shape))
        return {"_index": outs[0], "_problem": outs[1], **dict(zip(names, outs[2:], strict=True))}

    return dataset.ignore_errors().batch(CHUNK).map(filled).unbatch()


def tf_dtype(dtype: str) -> Any:
    """A field's dtype in TensorFlow ("string": tf.string)."""
    import tensorflow as tf

    return tf.string if dtype == "string" else tf.as_dtype(dtype)


def _numpy_dtype(dtype: str) -> Any:
    return np.dtype(object) if dtype == "string" else np.dtype(dtype)


def _scatter(array: np.ndarray, keep: np.ndarray) -> np.ndarray:
    """`array` (the kept examples) back at their places in a chunk of len(keep) (the dropped ones zero)."""
    if keep.all():
        return array
    full = np.zeros((len(keep), *array.shape[1:]), dtype=array.dtype)
    full[keep] = array
    return full


def _one_example(message: str) -> str:
    """A check's message about a one-example split, without the "Example 0 (counting from 0) of" that adds nothing."""
    return message.replace("Example 0 (counting from 0) of ", "").replace(" at example 0", "")


def _op_message(exc: Any) -> str:
    text = getattr(exc, "message", str(exc)).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def is_stream(split: Any) -> bool:
    return getattr(split, "streamed", False) is True
