"""The tf.data pipeline: a checked `Split` -> a batched `tf.data.Dataset` (TensorFlow is imported inside)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .core import DataError

if TYPE_CHECKING:  # pragma: no cover
    import tensorflow as tf


def make_tf_dataset(
    split: Any,  # a Split, or a stream.StreamSplit (its own pipeline)
    *,
    batch_size: int,
    shuffle: bool,
    seed: int | None,
    single_output_name: str | None = None,
    drop_remainder: bool = False,
    repeat: bool = False,
) -> tf.data.Dataset:
    """A batched tf.data pipeline: from_tensor_slices -> cache -> shuffle (each epoch) -> batch -> prefetch.

    One input is fed as a plain tensor, several as a dict by input name; likewise for the labels.
    `single_output_name` feeds only that output's labels, as a plain tensor. `repeat` makes the
    epochs one endless stream (reshuffled each pass), for `fit` with `steps_per_epoch`.
    """
    import tensorflow as tf

    from .stream import is_stream

    if is_stream(split):
        return split.dataset(
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            single_output_name=single_output_name,
            drop_remainder=drop_remainder,
            repeat=repeat,
        )
    x: Any = next(iter(split.x.values())) if len(split.x) == 1 else dict(split.x)
    if single_output_name is not None:
        if single_output_name not in split.y:
            raise DataError(
                f"The split has no labels for output '{single_output_name}'; it has labels for: {', '.join(split.y) or 'none'}."
            )
        y: Any = split.y[single_output_name]
    elif len(split.y) == 1:
        y = next(iter(split.y.values()))
    else:
        y = dict(split.y)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).cache()
    if shuffle:
        dataset = dataset.shuffle(max(len(split), 1), seed=seed, reshuffle_each_iteration=True)
    # The examples are in memory and nothing is mapped, so one thread feeds the model with room to
    # spare; tf.data's default pool (one thread per core) competed with the training step's own
    # threads on a 2-core CPU and made some epochs twice as slow (bench/bench_train.py).
    options = tf.data.Options()
    options.threading.private_threadpool_size = 1
    dataset = dataset.with_options(options)
    dataset = dataset.batch(batch_size, drop_remainder=drop_remainder)
    if repeat:
        dataset = dataset.repeat()
    return dataset.prefetch(tf.data.AUTOTUNE)
