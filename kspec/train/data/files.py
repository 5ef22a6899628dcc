"""File-system helpers that several loaders (and the `--data` forms) share."""

from __future__ import annotations

import glob
import pathlib

import numpy as np

from .core import DataError


def _need_file(path: pathlib.Path, given: str, what: str) -> None:
    if not path.exists():
        resolved = "" if str(path) == given else f" (resolved from '{given}')"
        raise DataError(f"The {what} file {path}{resolved} does not exist; expected a readable file.")
    if not path.is_file():
        raise DataError(f"{path} is not a file; the {what} source expects a file.")


def _class_files(
    path: pathlib.Path, given: str, extensions: tuple[str, ...], what: str
) -> tuple[list[str], list[pathlib.Path], np.ndarray]:
    if not path.is_dir():
        resolved = "" if str(path) == given else f" (resolved from '{given}')"
        raise DataError(
            f"The {what} {path}{resolved} is not a directory; expected a directory with one sub-directory per class."
        )
    classes = sorted(p.name for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
    files: list[pathlib.Path] = []
    labels: list[int] = []
    for i, name in enumerate(classes):
        found = sorted(
            p
            for p in (path / name).rglob("*")
            if p.is_file() and p.name.lower().endswith(extensions) and not p.name.startswith(".")
        )
        files.extend(found)
        labels.extend([i] * len(found))
    if not files:
        kinds = " ".join(extensions)
        raise DataError(
            f"The {what} {path} holds no {kinds} files in class sub-directories (found {len(classes)} sub-directories); "
            "expected one sub-directory per class, each holding the examples of that class."
        )
    return classes, files, np.asarray(labels, dtype=np.int32)


def _count_files(path: pathlib.Path, extensions: tuple[str, ...]) -> int:
    count = 0
    for child in path.iterdir():
        if child.is_dir():
            count += sum(1 for p in child.rglob("*") if p.is_file() and p.name.lower().endswith(extensions))
    return count


def _shard_files(given: str, path: pathlib.Path, what: str, suffixes: tuple[str, ...] | None) -> list[pathlib.Path]:
    """The files of a sharded source: a glob of them (`data/part-*.parquet`), a directory holding files with one of
    `suffixes` (None: a directory is not accepted), or one file. `what`: "Parquet", "CSV", "TFRecord"."""
    if any(c in given for c in "*?["):
        files = sorted(pathlib.Path(p) for p in glob.glob(str(path), recursive=True) if pathlib.Path(p).is_file())
        if not files:
            raise DataError(f"The glob '{given}' ({path}) matches no files; expected one or more {what} files.")
        return files
    if suffixes is not None and path.is_dir():
        files = sorted(
            p for p in path.rglob("*") if p.is_file() and p.suffix in suffixes and not p.name.startswith(".")
        )
        if not files:
            kinds = " ".join(f"*{s}" for s in suffixes)
            raise DataError(f"The directory {path} holds no {kinds} files; expected {what} files.")
        return files
    _need_file(path, given, what if what != "CSV" else "csv")
    return [path]


def _describe_columns(cols: list[str]) -> str:
    """A field's columns for messages: "column 'a'", "columns 'a', 'b'", "12 columns ('px0' ... 'px11')"."""
    if len(cols) == 1:
        return f"column '{cols[0]}'"
    if len(cols) <= 6:
        return "columns " + ", ".join(f"'{c}'" for c in cols)
    return f"{len(cols)} columns ('{cols[0]}' ... '{cols[-1]}')"
