"""File-system helpers that several loaders (and the `--data` forms) share."""

from __future__ import annotations

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
