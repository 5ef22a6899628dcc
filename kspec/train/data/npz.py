"""npz: the archive's arrays; a field `f` is the array `f`, or `f_train`, and `f_test` forms the test split.
Pickled (object) arrays are refused."""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from .core import DataError
from .files import _need_file
from .loader import Context, Field, Loaded, Loader, register


def _npz(source: Any, ctx: Context) -> Loaded:
    path = ctx.resolve(source.path)
    shown = str(path)
    _need_file(path, source.path, "npz")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(
            f"{shown} is not a readable .npz file ({exc}); expected a NumPy archive written by numpy.savez."
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DataError(
            f"{shown} holds a single array, not a .npz archive of named arrays; save it with numpy.savez(path, x=..., y=...)."
        )
    files = list(archive.files)
    name = path.name

    def read(key: str) -> np.ndarray:
        try:
            return archive[key]
        except ValueError as exc:
            if "allow_pickle" in str(exc):
                raise DataError(
                    f"The array '{key}' of {shown} holds Python objects (dtype=object), which can only be read by unpickling; "
                    "kspec never unpickles data files. Save numeric arrays (e.g. pad sequences into one integer array)."
                ) from None
            raise DataError(f"The array '{key}' of {shown} cannot be read: {exc}.") from None
        except (OSError, zipfile.BadZipFile, EOFError) as exc:
            raise DataError(f"The array '{key}' of {shown} cannot be read: {exc}.") from None

    def get(field_name: str) -> Field | None:
        if field_name in files:
            key = field_name
        elif f"{field_name}_train" in files:
            key = f"{field_name}_train"
        else:
            return None
        test_key = f"{field_name}_test" if f"{field_name}_test" in files and key != f"{field_name}_test" else None
        origin = f"field '{field_name}' of {name}" if key == field_name else f"field '{field_name}' ({key}) of {name}"
        test = read(test_key) if test_key else None
        return Field(read(key), test, origin, f"field '{field_name}' ({test_key}) of {name}" if test_key else None)

    stems = {k[: -len(suffix)] for k in files for suffix in ("_train", "_test") if k.endswith(suffix)}
    available = sorted(stems | {k for k in files if not k.endswith(("_train", "_test"))})
    return Loaded(name, available, get, "x", "y", close=archive.close)


register(Loader("npz", _npz))
