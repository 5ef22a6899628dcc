"""The `data` section: where examples come from and how their fields map to model inputs and labels.

Paths are relative to the spec file (or absolute). The loaders themselves
live in `kspec.train` (they need TensorFlow); this module only describes them.
"""

from typing import Annotated, Any, Literal

from pydantic import Field

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


class CsvSource(KspecModel):
    """A CSV file with a header row; columns map to inputs and labels."""

    type: Literal["csv"]
    path: DataPath = Field(description="The CSV file; relative paths are relative to the spec file.")
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
        description="Where the examples come from: {type: npz|csv|image_directory|text_directory|keras_dataset|embedded|synthetic, ...}."
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
