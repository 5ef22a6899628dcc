"""keras_dataset: `x` and `y` with the dataset's own train/test split, read from the local Keras cache, never
downloaded; imdb/reuters keep Keras's preprocessing."""

from __future__ import annotations

import gzip
import io
import os
import pathlib
import pickle
import tarfile
import zipfile
from typing import Any

import numpy as np

from .core import DataError
from .loader import Context, Field, Loaded, Loader, register

KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def keras_cache_dirs() -> list[pathlib.Path]:
    """Where Keras's get_file caches datasets, most likely first: $KERAS_HOME/datasets (default ~/.keras), then /tmp/.keras."""
    home = os.environ.get("KERAS_HOME")
    if home:
        base = pathlib.Path(os.path.expanduser(home))
    else:
        user = os.path.expanduser("~")
        base = pathlib.Path(user if os.access(user, os.W_OK) else "/tmp") / ".keras"
    out = [base / "datasets", pathlib.Path("/tmp/.keras/datasets")]
    return list(dict.fromkeys(out))


def _cached(relative: str) -> pathlib.Path | None:
    for d in keras_cache_dirs():
        p = d / relative
        if p.exists():
            return p
    return None


def _not_cached(name: str, relative: list[str], url: str) -> DataError:
    base = keras_cache_dirs()[0]
    paths = [str(base / r) for r in relative]
    expected = paths[0] if len(paths) == 1 else ", ".join(paths[:-1]) + " and " + paths[-1]
    what = "the file" if len(paths) == 1 else "the files"
    return DataError(
        f"Dataset '{name}' is not in the local Keras cache: expected {expected}. This machine cannot download it; "
        f"copy {what} there (from {url}) or set KERAS_HOME."
    )


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles numpy arrays (and plain Python containers) only: any other global is refused, so a tampered
    file cannot run code. The same allow-list Keras uses for its IMDB, Reuters and CIFAR files."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            from numpy._core.multiarray import _reconstruct
        except ImportError:  # numpy < 2
            from numpy.core.multiarray import _reconstruct  # type: ignore[no-redef]
        allowed = {
            ("numpy", "ndarray"): np.ndarray,
            ("numpy", "dtype"): np.dtype,
            ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
            ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
        }
        if (module, name) in allowed:
            return allowed[(module, name)]
        raise pickle.UnpicklingError(f"refusing to load '{module}.{name}'")


def _read_object_npz(path: pathlib.Path) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if not member.endswith(".npy"):
                    continue
                buffer = io.BytesIO(archive.read(member))
                try:
                    arrays[member[:-4]] = np.lib.format.read_array(buffer, allow_pickle=False)
                except ValueError:
                    buffer.seek(0)
                    version = np.lib.format.read_magic(buffer)
                    if version[0] == 1:
                        np.lib.format.read_array_header_1_0(buffer)
                    else:
                        np.lib.format.read_array_header_2_0(buffer)
                    arrays[member[:-4]] = _NumpyOnlyUnpickler(buffer).load()
    except (OSError, ValueError, zipfile.BadZipFile, EOFError, pickle.UnpicklingError) as exc:
        raise DataError(f"The cached file {path} cannot be read ({exc}); delete it and copy a fresh one.") from None
    return arrays


def _read_npz(path: pathlib.Path, keys: tuple[str, ...]) -> list[np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as f:
            return [f[k] for k in keys]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        raise DataError(
            f"The cached file {path} cannot be read ({exc}); expected the arrays {', '.join(keys)}. Delete it and copy a fresh one."
        ) from None


def _pad(sequences: list[list[int]], length: int) -> np.ndarray:
    """keras.utils.pad_sequences defaults: pad and truncate at the front, with 0."""
    out = np.zeros((len(sequences), length), dtype=np.int32)
    for i, seq in enumerate(sequences):
        seq = seq[-length:]
        if seq:
            out[i, length - len(seq) :] = seq
    return out


FASHION_MNIST_CLASSES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _keras_dataset(source: Any, ctx: Context) -> Loaded:
    name = source.name
    class_names = None
    settings: dict[str, Any] = {}  # imdb / reuters: how the word ids became the `x` sequences
    if name == "mnist":
        path = _cached("mnist.npz")
        if path is None:
            raise _not_cached(name, ["mnist.npz"], KERAS_ORIGIN + "mnist.npz")
        x_train, y_train, x_test, y_test = _read_npz(path, ("x_train", "y_train", "x_test", "y_test"))
        class_names = [str(i) for i in range(10)]
    elif name == "fashion_mnist":
        x_train, y_train, x_test, y_test = _fashion_mnist()
        class_names = list(FASHION_MNIST_CLASSES)
    elif name == "boston_housing":
        path = _cached("boston_housing.npz")
        if path is None:
            raise _not_cached(name, ["boston_housing.npz"], KERAS_ORIGIN + "boston_housing.npz")
        x, y = _read_npz(path, ("x", "y"))
        indices = np.arange(len(x))
        np.random.RandomState(113).shuffle(indices)
        x, y = x[indices], y[indices]
        cut = int(len(x) * (1 - 0.2))
        x_train, y_train, x_test, y_test = x[:cut], y[:cut], x[cut:], y[cut:]
    elif name in ("cifar10", "cifar100"):
        x_train, y_train, x_test, y_test = _cifar(name)
        if name == "cifar10":
            class_names = list(CIFAR10_CLASSES)
    elif name in ("imdb", "reuters"):
        x_train, y_train, x_test, y_test, settings = _sequences(name, ctx)
        if name == "imdb":
            class_names = ["negative", "positive"]
    else:  # pragma: no cover - the spec's Literal lists the names above
        raise DataError(f"Keras dataset '{name}' is not supported.")
    where = f"{name}.npz" if name in ("mnist", "boston_housing", "imdb", "reuters") else f"Keras dataset {name}"
    fields = {
        f: Field(train, test, f"field '{f}' ({f}_train) of {where}", f"field '{f}' ({f}_test) of {where}")
        for f, train, test in (("x", x_train, x_test), ("y", y_train, y_test))
    }

    def describe(field_name: str) -> dict[str, Any]:
        extra = {"dataset": name, **settings} if field_name == "x" else {}
        return {"kind": "array", "field": field_name, **extra}

    return Loaded(f"Keras dataset {name}", ["x", "y"], fields.get, "x", "y", class_names=class_names, describe=describe)


def _fashion_mnist() -> tuple[np.ndarray, ...]:
    files = [
        "train-labels-idx1-ubyte.gz",
        "train-images-idx3-ubyte.gz",
        "t10k-labels-idx1-ubyte.gz",
        "t10k-images-idx3-ubyte.gz",
    ]
    paths = [_cached(f"fashion-mnist/{f}") for f in files]
    missing = [f for f, p in zip(files, paths) if p is None]
    if missing:
        raise _not_cached("fashion_mnist", [f"fashion-mnist/{f}" for f in missing], KERAS_ORIGIN + "<file name>")
    found = [p for p in paths if p is not None]  # all of them (none is missing)
    out = []
    for i in (0, 2):
        try:
            with gzip.open(found[i], "rb") as f:
                raw = f.read()
            labels = np.frombuffer(raw, np.uint8, offset=8)
            with gzip.open(found[i + 1], "rb") as f:
                raw = f.read()
            images = np.frombuffer(raw, np.uint8, offset=16).reshape(len(labels), 28, 28)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(
                f"The cached Fashion-MNIST files {paths[i]} and {paths[i + 1]} cannot be read ({exc}); "
                "delete them and copy fresh ones."
            ) from None
        out.extend([images, labels])
    return out[0], out[1], out[2], out[3]


def _cifar(name: str) -> tuple[np.ndarray, ...]:
    if name == "cifar10":
        folder, target, url = (
            "cifar-10-batches-py",
            "cifar-10-batches-py-target",
            "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        )
        train_members = [f"data_batch_{i}" for i in range(1, 6)]
        test_members = ["test_batch"]
        label_key = "labels"
    else:
        folder, target, url = (
            "cifar-100-python",
            "cifar-100-python-target",
            "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        )
        train_members, test_members, label_key = ["train"], ["test"], "fine_labels"
    directory = _cached(f"{target}/{folder}") or _cached(folder)
    archive = _cached(f"{target}_archive") or _cached(f"{folder}.tar.gz")
    if directory is None and archive is None:
        raise _not_cached(name, [f"{target}_archive"], url)

    def read(member: str) -> tuple[np.ndarray, np.ndarray]:
        try:
            if directory is not None:
                raw = (directory / member).read_bytes()
            else:
                with tarfile.open(archive, "r:*") as tar:
                    extracted = tar.extractfile(f"{folder}/{member}")
                    if extracted is None:
                        raise OSError(f"{folder}/{member} is not a file in the archive")
                    raw = extracted.read()
            batch = _NumpyOnlyUnpickler(io.BytesIO(raw), encoding="bytes").load()
            batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
            data = np.asarray(batch["data"], dtype=np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
            labels = np.asarray(batch[label_key], dtype=np.uint8).reshape(-1, 1)
        except (
            OSError,
            KeyError,
            ValueError,
            EOFError,
            tarfile.TarError,
            pickle.UnpicklingError,
            AttributeError,
        ) as exc:
            where = directory / member if directory is not None else archive
            raise DataError(
                f"The cached {name} file {where} cannot be read ({exc}); delete it and copy a fresh one."
            ) from None
        return data, labels

    train = [read(m) for m in train_members]
    test = [read(m) for m in test_members]
    return (
        np.concatenate([d for d, _ in train]),
        np.concatenate([y for _, y in train]),
        np.concatenate([d for d, _ in test]),
        np.concatenate([y for _, y in test]),
    )


def _sequences(name: str, ctx: Context) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
    """imdb / reuters: Keras's load_data preprocessing, then padded to the model input's length.

    Returns x_train, y_train, x_test, y_test and the settings used (for LoadedData.preprocessing)."""
    path = _cached(f"{name}.npz")
    if path is None:
        raise _not_cached(name, [f"{name}.npz"], KERAS_ORIGIN + f"{name}.npz")
    arrays = _read_object_npz(path)
    start_char, oov_char, index_from = 1, 2, 3
    rng = np.random.RandomState(113)
    try:
        if name == "imdb":
            x_train, l_train, x_test, l_test = arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"]
            indices = np.arange(len(x_train))
            rng.shuffle(indices)
            x_train, l_train = x_train[indices], l_train[indices]
            indices = np.arange(len(x_test))
            rng.shuffle(indices)
            x_test, l_test = x_test[indices], l_test[indices]
            xs = [[start_char] + [w + index_from for w in x] for x in x_train] + [
                [start_char] + [w + index_from for w in x] for x in x_test
            ]
            labels = np.concatenate([l_train, l_test])
            cut = len(x_train)
        else:
            raw_x, labels = arrays["x"], arrays["y"]
            indices = np.arange(len(raw_x))
            rng.shuffle(indices)
            raw_x, labels = raw_x[indices], labels[indices]
            xs = [[start_char] + [w + index_from for w in x] for x in raw_x]
            cut = int(len(xs) * (1 - 0.2))
    except (KeyError, TypeError, IndexError) as exc:
        raise DataError(
            f"The cached file {path} does not hold the expected {name} arrays ({exc}); delete it and copy a fresh one."
        ) from None
    num_words = ctx.embedding_dim_for_field("x", "x")
    if num_words is None:
        num_words = max((max(x) for x in xs if x), default=0) + 1
    xs = [[w if w < num_words else oov_char for w in x] for x in xs]
    target = ctx.target_of("x", "x")
    length = None
    if target is not None and len(target.shape) == 2:
        length = target.shape[1]
    if length is None:
        length = max((len(x) for x in xs), default=1)
    padded = _pad(xs, length)
    labels = np.asarray(labels)
    settings = {
        "num_words": int(num_words),
        "seed": 113,
        "start_char": start_char,
        "oov_char": oov_char,
        "index_from": index_from,
        "sequence_length": int(length),
        "padding": "pre",
        "truncating": "pre",
    }
    return padded[:cut], labels[:cut], padded[cut:], labels[cut:], settings


register(Loader("keras_dataset", _keras_dataset))
