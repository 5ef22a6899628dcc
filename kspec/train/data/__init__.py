"""Data loaders: a spec's `data` section (or a `--data` override) -> examples that fit the model: NumPy arrays, or
streams read while training (image directories, Parquet, TFRecord).

`load_data(spec, inference, base_dir=...)` reads the source, maps its fields to the model's
inputs and outputs, holds out the test and validation examples, then checks and adapts every
array with `check_split`. `make_tf_dataset` turns a `Split` into a batched `tf.data.Dataset`.
User mistakes raise `DataError`, whose message is one paragraph naming the field or file, what
was expected and what was received. NumPy is imported here; TensorFlow and Keras only inside
the functions that need them (image decoding, text vectorisation, `make_tf_dataset`).

Sources and their fields
    npz             the archive's arrays; a field `f` is the array `f`, or `f_train`; `f_test`
                    (next to `f` or `f_train`) forms the source's test split. Pickled (object)
                    arrays are refused. Defaults: a one-input model reads `x`, a one-output model
                    `y`; with several inputs/outputs, the field named like the input/output.
                    Streamed (a chunk of rows at a time) with `stream: true`, or `auto` when the
                    arrays take more than 1 GiB.
    csv             a CSV file with a header row, or a glob of shards with the same header
                    (`data/part-*.csv`), streamed file by file (`csv.CsvStream`). A field is one
                    column (shape (N,)), several comma-separated columns or a glob with `*`
                    (shape (N, k), in header order). Default label: `label`; default features of
                    a one-input model: every column the labels do not use, in order. Columns that
                    feed a string input keep their text; every other cell used must be a finite
                    number: a cell that is not, or a row of the wrong length, is a bad example
                    named by file, row and line. An empty file, a header without rows, a duplicate
                    column and shards with different headers are refused before training.
    parquet         (streamed) a file, a directory or a glob of shards with the same columns; a
                    field is a column (numbers, or lists of numbers: (N, k), reshaped to the model
                    input's shape when its elements fill it), `a,b,c` or a glob of numeric columns.
                    A null, NaN, infinity or a list of another length is a bad example of its row.
    tfrecord        (streamed) a file, a directory or a glob of shards of tf.train.Example records;
                    `features` declares each field: float32/int64 numbers of a shape, or an
                    encoded image decoded and resized. The records are counted when listed. A
                    record that does not parse as declared is a bad example.
    image_directory (streamed) `image` (float32 (H, W, C), resized, values 0..255) and `label`
                    (int32 class ids: the sorted sub-directory names). `image_size` / `color_mode`
                    left out of the source are taken from the model input that `image` feeds when
                    it is (H, W, C) with C in 1/3/4 (`resolve_source`). An image that does not
                    decode is a bad example.
    text_directory  `text` and `label`; texts become int32 token ids with Keras's
                    TextVectorization, adapted on the training texts only (not the validation or
                    test texts). `max_tokens` left out: the smallest Embedding `input_dim` fed by
                    the text, when there is one; `sequence_length` left out: the model input's
                    length, when known (`resolve_source`).
    keras_dataset   `x` and `y` with the dataset's own train/test split, read from the local Keras
                    cache (`$KERAS_HOME/datasets`, default `~/.keras/datasets`); never downloaded.
                    imdb/reuters keep Keras's preprocessing (seed 113, start 1, OOV 2, index_from
                    3), with `num_words` = the smallest Embedding `input_dim` fed by `x` (all words
                    without one) and sequences padded/truncated at the front to the input's length.
                    cifar100 uses the fine labels.
    embedded        `digits`: 1,797 float32 8x8x1 images, values 0..16 (`image`, alias `x`) and
                    int32 labels 0..9 (`label`, alias `y`), shipped in kspec/datasets.
    synthetic       random examples for the model's inputs and losses (mappings do not apply).

Streamed sources (`stream`)
    Their examples are listed, not read, by `load_data`: each split is a `StreamSplit` whose `dataset` reads,
    decodes, checks (`check_split`, chunk by chunk) and batches them while training, so memory does not grow with
    the number of examples. The first examples of each split are read and checked by `load_data` (before any run
    directory exists). A bad example met later stops the run with a DataError naming its file and row, or, with
    `skip_bad`, is counted in `LoadedData.log` and left out. Shuffling: the file order (or row-group order) drawn
    from the seed each epoch, then a bounded buffer for sources with many examples per file. The hold-outs are
    the examples an in-memory source of the same order would hold out for the seed.

Splits
    The source's own test split is used when it has one (`data.test_split` is then ignored);
    otherwise `data.test_split` holds out that fraction. With `data.shuffle` (the default) the
    examples are shuffled once, seeded, before the hold-outs (synthetic examples, random already,
    are not); with `shuffle: false` the source order is kept. The test examples are the last `test_split` fraction, and the validation
    examples the last `training.validation_split` fraction of the rest, as Keras's
    `validation_split` takes them (`floor(n * (1 - fraction))` examples stay).
    With `training.validation_data: test` the test split is the validation data too (none without one).

Non-finite values
    NaN, inf and -inf are refused wherever they come from: a CSV cell (any spelling `float` accepts:
    nan, inf, Infinity, 1e999), an example of a loaded float array (named by its index in the source,
    before shuffling), an array given to `check_split`, and a value the cast to the model's dtype
    would overflow (1e300 for a float32 input).

Adaptation (`check_split`, in place), nothing else:
    inputs   a trailing axis of 1 is added when the model input has exactly one more axis and
             that axis is 1 ((N, 28, 28) -> (N, 28, 28, 1)); numeric arrays are cast to the
             input's dtype: any numeric array to a float input, integer arrays (or float arrays
             whose values are all integers, in the dtype's range) to an integer input. Integer
             inputs that feed an Embedding must hold ids in [0, input_dim).
    labels   sparse losses: integer class ids shaped like the output without its last axis (a
             trailing axis of 1 is accepted and dropped), int32, each in [0, classes) (or the
             loss's ignore_class); one-hot losses: float labels shaped like the output, or
             integer class ids, which are one-hot encoded; binary and regression losses: float32
             shaped like the output ((N,) is accepted for an output (N, 1)); binary labels must
             lie in [0, 1].
    Unknown (None) model dimensions match any size.

Layout (one concern per module; a source type is one module that registers its loader)
    core            DataError, Split, LoadedData and the constants several loaders share
    loader          the loader interface (Context in, Loaded out) and the registry LOADERS (type -> Loader)
    load            load_data and resolve_source, which dispatch through the registry
    fields          the mapping of a source's fields to the model's inputs and outputs
    checks          check_split: the array checks and the adaptation of inputs and labels
    cli             source_from_cli: the --data forms
    pipeline        make_tf_dataset: the tf.data pipeline
    files           file helpers the loaders share
    stream          the streamed sources' interface (Stream), their splits (StreamSplit) and bad-example log
    npz, csv, parquet, tfrecord, image_directory, text_directory, keras_dataset, embedded, synthetic: the loaders
"""

# The loaders register themselves in LOADERS when imported; a new source type is a new module imported here.
from . import csv as csv
from . import embedded as embedded
from . import image_directory as image_directory
from . import keras_dataset as keras_dataset
from . import npz as npz
from . import parquet as parquet
from . import synthetic as synthetic
from . import text_directory as text_directory
from . import tfrecord as tfrecord
from .checks import _adapt_input as _adapt_input
from .checks import _adapt_labels as _adapt_labels
from .checks import _embedding_consumers as _embedding_consumers
from .checks import _loss_for as _loss_for
from .checks import _sequence_or_group_ids as _sequence_or_group_ids
from .checks import check_split
from .cli import CLI_FORMS as CLI_FORMS
from .cli import source_from_cli
from .core import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS
from .core import RAW_TEXT as RAW_TEXT
from .core import TEXT_EXTENSIONS as TEXT_EXTENSIONS
from .core import DataError, LoadedData, Split
from .files import _class_files as _class_files
from .keras_dataset import KERAS_ORIGIN as KERAS_ORIGIN
from .keras_dataset import keras_cache_dirs as keras_cache_dirs
from .load import load_data, resolve_source
from .loader import LOADERS as LOADERS
from .loader import Context as Context
from .loader import Loaded as Loaded
from .loader import Loader as Loader
from .loader import register as register
from .pipeline import make_tf_dataset
from .synthetic import SYNTHETIC_SIZES as SYNTHETIC_SIZES
from .synthetic import SYNTHETIC_WORDS as SYNTHETIC_WORDS

__all__ = [
    "DataError",
    "LoadedData",
    "Split",
    "check_split",
    "load_data",
    "make_tf_dataset",
    "resolve_source",
    "source_from_cli",
]
