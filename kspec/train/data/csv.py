"""csv: a field is one column, several comma-separated columns or a glob; every cell used is a finite number
(string model inputs keep their text)."""

from __future__ import annotations

import csv as _csv
import fnmatch
from typing import Any

import numpy as np

from .core import RAW_TEXT, DataError
from .files import _need_file
from .loader import Context, Field, Loaded, Loader, register


def _csv_source(source: Any, ctx: Context) -> Loaded:
    path = ctx.resolve(source.path)
    _need_file(path, source.path, "csv")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(_csv.reader(f, delimiter=source.delimiter))
    except UnicodeDecodeError as exc:
        raise DataError(f"{path} is not UTF-8 text ({exc.reason}); expected a CSV file with a header row.") from None
    except (OSError, _csv.Error) as exc:
        raise DataError(f"{path} cannot be read as CSV: {exc}.") from None
    # skip blank lines (the csv module gives []), remembering file line numbers
    numbered = [(i + 1, row) for i, row in enumerate(rows) if row]
    if not numbered:
        raise DataError(f"{path} is empty; expected a header row naming the columns, then one row per example.")
    header = [h.strip() for h in numbered[0][1]]
    body = numbered[1:]
    if not body:
        raise DataError(f"{path} has a header but no rows; expected one row per example.")
    seen: set[str] = set()
    for h in header:
        if h in seen:
            raise DataError(f"The column '{h}' appears twice in the header of {path}; expected unique column names.")
        seen.add(h)
    for line, row in body:
        if len(row) != len(header):
            raise DataError(
                f"Line {line} of {path} has {len(row)} values, but the header has {len(header)} columns; expected "
                "one value per column in every row."
            )
    cache: dict[str, np.ndarray] = {}
    # the fields that feed string model inputs (None: the default, every column the labels leave) keep their text
    text_fields = {m for n, m in ctx.input_fields(None).items() if ctx.inference.inputs[n].dtype == "string"}

    def column(col: str, text: bool = False) -> np.ndarray:
        if text:
            return np.array([row[header.index(col)] for _, row in body], dtype=object)
        if col not in cache:
            j = header.index(col)
            cells = [row[j] for _, row in body]
            try:
                values = np.array(cells, dtype=np.float64)
            except ValueError:
                for r, (line, row) in enumerate(body, start=1):
                    try:
                        float(row[j])
                    except ValueError:
                        raise DataError(
                            f"Row {r} (line {line}) of {path}, column '{col}', holds {row[j]!r}, which is not a number; "
                            "every column used as an input or a label must be numeric."
                        ) from None
                raise
            finite = np.isfinite(values)
            if not finite.all():
                r = int(np.argmin(finite))
                line, row = body[r]
                raise DataError(
                    f"Row {r + 1} (line {line}) of {path}, column '{col}', holds {row[j]!r}, which is not a finite "
                    "number; every column used as an input or a label must hold finite numbers (NaN, inf and -inf "
                    "cannot be trained on)."
                )
            cache[col] = values
        return cache[col]

    def columns_of(field_name: str) -> list[str] | None:
        if field_name in header:
            return [field_name]
        if "," in field_name:
            names = [p.strip() for p in field_name.split(",")]
            return names if all(n in header for n in names) else None
        if "*" in field_name or "?" in field_name or "[" in field_name:
            matched = [h for h in header if fnmatch.fnmatchcase(h, field_name)]
            return matched or None
        return None

    def describe(cols: list[str]) -> str:
        if len(cols) == 1:
            return f"column '{cols[0]}'"
        if len(cols) <= 6:
            return "columns " + ", ".join(f"'{c}'" for c in cols)
        return f"{len(cols)} columns ('{cols[0]}' ... '{cols[-1]}')"

    def get(field_name: str) -> Field | None:
        cols = columns_of(field_name)
        if cols is None:
            return None
        text = field_name in text_fields
        if field_name in header:
            array = column(field_name, text)
        else:
            array = np.stack([column(c, text) for c in cols], axis=1)
        return Field(array, None, f"{describe(cols)} of {path.name}")

    def rest(label_fields: list[str]) -> str:
        used: set[str] = set()
        for f in label_fields:
            used.update(columns_of(f) or [])
        others = [h for h in header if h not in used]
        if not others:
            raise DataError(
                f"{path} has no columns left for the model input once the labels ({', '.join(sorted(used))}) are taken; "
                "expected feature columns besides the label column."
            )
        if None in text_fields:
            text_fields.add(",".join(others))
        return ",".join(others)

    def preprocessing(field_name: str) -> dict[str, Any]:
        if field_name in text_fields:  # read by the model's text layers as they are
            return dict(RAW_TEXT, columns=columns_of(field_name) or [], delimiter=source.delimiter)
        return {"kind": "columns", "columns": columns_of(field_name) or [], "delimiter": source.delimiter}

    return Loaded(
        path.name,
        header,
        get,
        None,
        "label",
        rest=rest,
        describe=preprocessing,
        columns=lambda field_name: columns_of(field_name) or [],
    )


register(Loader("csv", _csv_source))
