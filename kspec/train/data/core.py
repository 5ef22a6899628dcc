"""The data half's values: `DataError`, a `Split` of arrays, the `LoadedData` that `load_data` returns, and what
several loaders share (the file extensions of image and text examples, how raw texts reach a string model input)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
TEXT_EXTENSIONS = (".txt",)
#: How a text_directory's texts reach a string model input: as they are (the model's text layers read them).
RAW_TEXT = {"kind": "strings", "encoding": "utf-8", "errors": "replace"}


class DataError(Exception):
    """A user-caused data problem; `str(err)` is one paragraph for the user (what, where, expected, received)."""

    def __init__(self, message: str):
        super().__init__(" ".join(str(message).split()))


@dataclass
class Split:
    """Examples: model input name -> array and model output name -> labels (first axis = examples)."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray]
    #: "inputs.<name>" / "labels.<name>" -> where the array came from ("field 'x' of mnist.npz"), for messages.
    origins: dict[str, str] = field(default_factory=dict, repr=False, compare=False)

    def __len__(self) -> int:
        for arrays in (self.x, self.y):
            for array in arrays.values():
                return int(len(array))
        return 0

    def take(self, index: Any) -> Split:
        return Split(
            {k: v[index] for k, v in self.x.items()},
            {k: v[index] for k, v in self.y.items()},
            dict(self.origins),
        )


@dataclass
class LoadedData:
    """The checked splits, and what the loader learned about them (for the run directory's preprocessing)."""

    train: Split
    validation: Split | None
    test: Split | None
    description: str
    #: the source's class names (label index -> name), when it has them (directories, most Keras datasets).
    class_names: list[str] | None = None
    #: text_directory only: the TextVectorization vocabulary (index = token id) of the (last) text input.
    vocabulary: list[str] | None = None
    #: model output -> class names (label index -> name), for outputs whose labels are the class sub-directories
    #: of an image_directory or text_directory source; empty otherwise.
    label_names: dict[str, list[str]] = field(default_factory=dict)
    #: model input -> how raw examples become its array (JSON-serialisable); one of
    #: {"kind": "image", "image_size", "color_mode", "channels", "interpolation", "value_range", "extensions"},
    #: {"kind": "text", "vocabulary", "max_tokens", "sequence_length", "standardize", "split", "output_mode",
    #: "encoding", "errors"}, {"kind": "columns", "columns", "delimiter"} (csv) or {"kind": "array", "field"}
    #: (npz, keras_dataset, embedded, synthetic; imdb/reuters add the sequence settings used).
    preprocessing: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: csv only: model output -> the CSV columns that form its labels, in order; empty otherwise.
    label_columns: dict[str, list[str]] = field(default_factory=dict)
    #: a streamed source's bad examples (`stream.StreamLog`); None for sources read into memory.
    log: Any = None
