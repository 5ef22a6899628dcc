"""The `data` section: where examples come from and how their fields map to model inputs and labels.

Paths are relative to the spec file (or absolute). The loaders themselves
live in `kspec.train` (they need TensorFlow); this module only describes them.
"""

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field, model_validator

from .base import IntTuple, KspecModel, Name, PositiveInt, Seed

DataPath = Annotated[
    str,
    Field(
        min_length=1, max_length=4096, description="File or directory; relative paths are relative to the spec file."
    ),
]

#: Built at run time (a tuple of two ints or null), so typed `Any` for mypy.
_ImageSize: Any = IntTuple(
    2,
    description="(height, width) every image is resized to; null: the model input's, else (256, 256).",
    nullable=True,
)


class NpzSource(KspecModel):
    """A NumPy `.npz` file of named arrays (e.g. `x_train`, `y_train`, `x_test`, `y_test`)."""

    type: Literal["npz"]
    path: DataPath = Field(description="The .npz file; relative paths are relative to the spec file.")
    stream: bool | Literal["auto"] = Field(
        "auto",
        description="Read the arrays while training, a chunk of rows at a time, instead of into memory; auto: when "
        "the archive's arrays take more than 1 GiB.",
    )


class CsvSource(KspecModel):
    """A CSV file with a header row; columns map to inputs and labels."""

    type: Literal["csv"]
    path: DataPath = Field(
        description="The CSV file, or a glob of CSV shards with the same header (data/part-*.csv); relative paths are relative to the spec file."
    )
    delimiter: Annotated[str, Field(min_length=1, max_length=1)] = Field(
        ",", description="Character separating the columns."
    )


class ImageDirectorySource(KspecModel):
    """One sub-directory per class, each holding images (`keras.utils.image_dataset_from_directory`)."""

    type: Literal["image_directory"]
    path: DataPath = Field(description="The directory holding one sub-directory per class; relative to the spec file.")
    image_size: _ImageSize = None
    color_mode: Literal["grayscale", "rgb", "rgba"] | None = Field(
        None,
        description="Images are converted to 1 (grayscale), 3 (rgb) or 4 (rgba) channels; null: what the model input's channels imply, else rgb.",
    )


class TextDirectorySource(KspecModel):
    """One sub-directory per class, each holding `.txt` files; text is vectorised to token ids."""

    type: Literal["text_directory"]
    path: DataPath = Field(description="The directory holding one sub-directory per class; relative to the spec file.")
    max_tokens: PositiveInt | None = Field(
        None,
        description="Vocabulary size (TextVectorization max_tokens); null: the input_dim of the Embedding the text feeds, else 20000.",
    )
    sequence_length: PositiveInt | None = Field(
        None,
        description="Every text is padded or truncated to this many tokens; null: the model input's length, else 200.",
    )


class ParquetSource(KspecModel):
    """Parquet files (a columnar table, read with pyarrow), streamed row group by row group; columns map to inputs and
    labels. A field is a column (a number, or a list of numbers: one array per row), several comma-separated numeric
    columns, or a glob of them (`pixel_*`)."""

    type: Literal["parquet"]
    path: DataPath = Field(
        description="A .parquet file, a directory of them, or a glob of shards (data/part-*.parquet); relative paths are relative to the spec file."
    )


def _feature_forms(schema: dict[str, Any]) -> None:
    """The schema says what `_fits_dtype` refuses: an image has an `image_size` and no `shape`; numbers have no
    `image_size` or `channels`."""
    schema["if"] = {"properties": {"dtype": {"const": "image"}}, "required": ["dtype"]}
    schema["then"] = {
        "required": ["image_size"],
        "properties": {"image_size": {"not": {"type": "null"}}, "shape": {"maxItems": 0}},
    }
    schema["else"] = {"properties": {"image_size": {"type": "null"}, "channels": {"type": "null"}}}


class TFRecordFeature(KspecModel):
    """One feature of the records (`tf.io.FixedLenFeature`): numbers of a fixed shape, or an encoded image."""

    model_config = ConfigDict(json_schema_extra=_feature_forms)

    dtype: Literal["float32", "int64", "image"] = Field(
        description="float32 or int64: numbers of `shape` (tf.io.FixedLenFeature); image: one encoded image (PNG, JPEG, "
        "BMP or GIF bytes) decoded to `channels` and resized to `image_size` (values 0..255)."
    )
    shape: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] = Field(
        default_factory=list,
        max_length=8,
        description="The shape of one example's value ([] a single number); numbers only.",
    )
    image_size: _ImageSize = None
    channels: Literal[1, 3, 4] | None = Field(None, description="image: 1 (grayscale), 3 (rgb) or 4 (rgba); null: 3.")

    @model_validator(mode="after")
    def _fits_dtype(self):
        if self.dtype == "image":
            if self.shape:
                raise ValueError(
                    f"An image feature's shape is (image_size, channels); `shape` is for numbers. Received: shape={self.shape}"
                )
            if self.image_size is None:
                raise ValueError("An image feature needs `image_size` ([height, width] every image is resized to).")
        elif self.image_size is not None or self.channels is not None:
            raise ValueError(
                f"`image_size` and `channels` are for image features; a {self.dtype} feature has a `shape`. "
                f"Received: image_size={self.image_size}, channels={self.channels}"
            )
        return self


class TFRecordSource(KspecModel):
    """TFRecord files of `tf.train.Example` records (a file, a directory or a glob of shards), streamed file by file;
    `features` declares each feature a field can read."""

    type: Literal["tfrecord"]
    path: DataPath = Field(
        description="A TFRecord file, a directory of them (*.tfrecord, *.tfrec) or a glob of shards; relative paths are relative to the spec file."
    )
    features: dict[Name, TFRecordFeature] = Field(
        min_length=1,
        description="Feature name -> its dtype and shape: the fields of each record (tf.io.parse_example).",
    )
    compression: Literal["none", "gzip", "zlib"] = Field("none", description="How the files are compressed.")


class KerasDatasetSource(KspecModel):
    """A `keras.datasets` dataset, read from the local Keras cache (`~/.keras/datasets`)."""

    type: Literal["keras_dataset"]
    name: Literal["mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing"] = Field(
        description="Which dataset: `keras.datasets.<name>.load_data()`, with its own train/test split."
    )


class EmbeddedSource(KspecModel):
    """A small dataset shipped inside kspec, for offline demos."""

    type: Literal["embedded"]
    name: Literal["digits"] = Field("digits", description="digits: 1,797 8x8 grey images of handwritten digits (UCI).")


class SyntheticSource(KspecModel):
    """Random examples generated from the model's inputs and the loss, for smoke tests and benchmarks."""

    type: Literal["synthetic"]
    samples: PositiveInt = Field(256, description="Number of random examples to generate.")
    seed: Seed | None = Field(
        None, description="Random seed for generating the examples, for reproducible data; null means unseeded."
    )


Source = Annotated[
    NpzSource
    | CsvSource
    | ParquetSource
    | TFRecordSource
    | ImageDirectorySource
    | TextDirectorySource
    | KerasDatasetSource
    | EmbeddedSource
    | SyntheticSource,
    Field(discriminator="type"),
]


class Data(KspecModel):
    """Training data and how it feeds the model."""

    source: Source = Field(
        description="Where the examples come from: {type: npz|csv|parquet|tfrecord|image_directory|text_directory|keras_dataset|embedded|synthetic, ...}."
    )
    inputs: dict[Name, str] | None = Field(
        None, description="Model input name -> field (array, column) of the source. Default: the source's features."
    )
    labels: dict[Name, str] | None = Field(
        None, description="Model output name -> field of the source holding its labels. Default: the source's labels."
    )
    test_split: Annotated[float, Field(ge=0, lt=1)] = Field(
        0.0, description="Fraction held out for the final evaluation when the source has no test split."
    )
    shuffle: bool = Field(True, description="Shuffle the training examples every epoch.")
