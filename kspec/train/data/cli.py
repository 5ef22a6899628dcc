"""The `--data VALUE` forms: a command line's data source, as the spec's source model."""

from __future__ import annotations

import os
import pathlib
from typing import Any, get_args

from .core import IMAGE_EXTENSIONS, TEXT_EXTENSIONS, DataError
from .files import _count_files

CLI_FORMS = (
    "'synthetic' or 'synthetic:SAMPLES', 'embedded' or 'embedded:digits', 'keras:NAME' "
    "(mnist, fashion_mnist, cifar10, cifar100, imdb, reuters, boston_housing), a path ending in .npz, .csv or "
    ".parquet (a glob of .csv or .parquet shards too), "
    "or a directory with one sub-directory of images (.png .jpg .jpeg .bmp .gif) or of .txt files per class"
)


def source_from_cli(value: str) -> Any:
    """The source for `--data VALUE` (see CLI_FORMS); relative paths stay relative to the caller's base_dir."""
    from ...spec.data import (
        CsvSource,
        EmbeddedSource,
        ImageDirectorySource,
        KerasDatasetSource,
        NpzSource,
        ParquetSource,
        SyntheticSource,
        TextDirectorySource,
    )

    text = value.strip()
    kind, _, arg = text.partition(":")
    if kind == "synthetic" and not os.path.exists(text):
        if not arg:
            return SyntheticSource(type="synthetic")
        # ASCII digits only ("²".isdigit() is true, but int("²") raises), and a bounded length.
        if not (arg.isascii() and arg.isdigit() and len(arg) <= 12) or int(arg) < 1:
            raise DataError(
                f"--data {value!r}: the number of synthetic samples must be a positive integer, received {arg!r}. "
                f"Accepted forms: {CLI_FORMS}."
            )
        return SyntheticSource(type="synthetic", samples=int(arg))
    if kind == "embedded" and not os.path.exists(text):
        if arg not in ("", "digits"):
            raise DataError(f"--data {value!r}: the embedded datasets are: digits; received {arg!r}.")
        return EmbeddedSource(type="embedded", name="digits")
    if kind == "keras" and arg:
        names = get_args(KerasDatasetSource.model_fields["name"].annotation)
        if arg not in names:
            from ...diagnostics import did_you_mean

            hint = did_you_mean(arg, names)
            raise DataError(
                f"--data {value!r}: '{arg}' is not a Keras dataset kspec can read; expected one of "
                f"{', '.join(names)}.{' ' + hint if hint else ''}"
            )
        return KerasDatasetSource(type="keras_dataset", name=arg)  # type: ignore[arg-type]  # one of `names`
    lower = text.lower()
    if lower.endswith(".npz"):
        return NpzSource(type="npz", path=text)
    if lower.endswith(".csv"):
        return CsvSource(type="csv", path=text)
    if lower.endswith(".parquet"):
        return ParquetSource(type="parquet", path=text)
    path = pathlib.Path(text)
    if text and path.is_dir():
        images, texts = _count_files(path, IMAGE_EXTENSIONS), _count_files(path, TEXT_EXTENSIONS)
        if images and not texts:
            return ImageDirectorySource(type="image_directory", path=text)
        if texts and not images:
            return TextDirectorySource(type="text_directory", path=text)
        if images and texts:
            raise DataError(
                f"--data {value!r}: the directory holds both images ({images}) and .txt files ({texts}), so its "
                "type is ambiguous; write the source in the spec's `data` section "
                "({type: image_directory, ...} or {type: text_directory, ...})."
            )
        raise DataError(
            f"--data {value!r}: the directory holds no images (.png .jpg .jpeg .bmp .gif) and no .txt files "
            "in its class sub-directories; expected one sub-directory per class holding the examples."
        )
    if text and path.exists():
        raise DataError(f"--data {value!r}: kspec cannot read this file type; accepted forms: {CLI_FORMS}.")
    raise DataError(
        f"--data {value!r} is not a data source kspec knows, nor an existing directory; accepted forms: {CLI_FORMS}."
    )
