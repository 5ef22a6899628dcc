"""image_directory: `image` (decoded, resized, values 0..255) and `label` (the sorted class sub-directories),
streamed: the files are listed (their labels are their directories) and decoded while training, in parallel;
`image_size` and `color_mode` left out come from the model input that `image` feeds."""

from __future__ import annotations

import pathlib
from typing import Any

import numpy as np

from .core import IMAGE_EXTENSIONS
from .files import _class_files
from .loader import Context, Loaded, Loader, register
from .stream import FieldSpec, Stream, file_order, gap_checked


class ImageStream(Stream):
    """One example per image file: `image` float32 (h, w, channels), `label` int32 (the class directory's index)."""

    def __init__(
        self,
        path: pathlib.Path,
        files: list[pathlib.Path],
        labels: np.ndarray,
        classes: list[str],
        image_size: tuple[int, int],
        color_mode: str,
    ):
        self.title = f"image directory {path}"
        self.files = np.array([str(f) for f in files], dtype=object)
        self.labels = labels
        self.count = len(files)
        self.image_size = image_size
        self.channels = {"grayscale": 1, "rgb": 3, "rgba": 4}[color_mode]
        origin_dir = f"{len(classes)} class sub-directories of {path}"
        h, w = image_size
        self.fields = {
            "image": FieldSpec((h, w, self.channels), "float32", f"images from the {origin_dir}, {h}x{w} {color_mode}"),
            "label": FieldSpec((), "int32", f"class ids from the {origin_dir}"),
        }

    def where(self, index: int) -> str:
        return f"The image {self.files[index]}"

    def examples(self, indices: np.ndarray, fields: list[str], *, order_seed: int | None) -> Any:
        """Decoded in TensorFlow's graph, in parallel. An image TensorFlow cannot read or decode is dropped there
        (`ignore_errors`) and put back in its place by a gap check, with its problem: the order of each epoch is
        drawn here (from the seed and the epoch), so the gap check knows which example is missing."""
        import tensorflow as tf

        channels, (h, w) = self.channels, self.image_size
        indices = np.asarray(indices, dtype=np.int64)

        pending, dataset = file_order(indices, self.files, self.labels, order_seed)

        def decode(index: Any, path: Any, label: Any) -> Any:
            def read() -> Any:
                image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
                image.set_shape((None, None, channels))
                return tf.image.resize(image, (h, w), method="bilinear")

            image = tf.cond(index >= 0, read, lambda: tf.zeros((h, w, channels), tf.float32))
            out = {"_index": index}
            if "image" in fields:
                out["image"] = image
            if "label" in fields:
                out["label"] = label
            return out

        dataset = dataset.map(decode, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        return gap_checked(dataset, pending, {f: self.fields[f] for f in fields}, self.problem)

    def problem(self, index: int) -> str:
        """Why the image `index` could not be read or decoded (TensorFlow's reason)."""
        from ...use.interface import decode_image

        try:
            decode_image(pathlib.Path(self.files[index]).read_bytes(), self.channels)
        except OSError as exc:
            return f"cannot be read ({exc.strerror or exc})"
        except ValueError as exc:
            return f"cannot be decoded ({exc}); expected a PNG, JPEG, BMP or GIF image"
        return "could not be read or decoded while training"


def _image_directory(source: Any, ctx: Context) -> Loaded:
    path = ctx.resolve(source.path)
    classes, files, labels = _class_files(path, source.path, IMAGE_EXTENSIONS, "image directory")
    image_size = tuple(source.image_size)  # resolve_source has filled in what the model implies
    stream = ImageStream(path, files, labels, classes, image_size, source.color_mode)
    decoding = {
        "kind": "image",
        "image_size": [int(image_size[0]), int(image_size[1])],
        "color_mode": source.color_mode,
        "channels": stream.channels,
        "interpolation": "bilinear",
        "value_range": [0, 255],  # not rescaled: decoded 8-bit values, resized
        "extensions": list(IMAGE_EXTENSIONS),
    }

    def describe(field_name: str) -> dict[str, Any]:
        return dict(decoding) if field_name == "image" else {"kind": "array", "field": field_name}

    return Loaded(
        stream.title,
        sorted(stream.fields),
        lambda name: None,
        "image",
        "label",
        class_names=classes,
        class_field="label",
        describe=describe,
        stream=stream,
    )


def _resolve(source: Any, ctx: Context, given: set[str]) -> dict[str, Any]:
    """`image_size` and `color_mode` from the model input fed by `image`, when it is (H, W, C) with H and W known
    and C in 1/3/4."""
    update: dict[str, Any] = {}
    target = ctx.target_of("image", "image")
    if target is not None and len(target.shape) == 4:
        _, h, w, c = target.shape
        if "image_size" not in given and h is not None and w is not None:
            update["image_size"] = (h, w)
        if "color_mode" not in given and c in (1, 3, 4):
            update["color_mode"] = {1: "grayscale", 3: "rgb", 4: "rgba"}[c]
    return update


register(
    Loader("image_directory", _image_directory, _resolve, fallbacks={"image_size": (256, 256), "color_mode": "rgb"})
)
