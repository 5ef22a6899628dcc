"""image_directory: `image` (decoded, resized, values 0..255) and `label` (the sorted class sub-directories);
`image_size` and `color_mode` left out come from the model input that `image` feeds."""

from __future__ import annotations

from typing import Any

import numpy as np

from .core import IMAGE_EXTENSIONS, DataError
from .files import _class_files
from .loader import Context, Field, Loaded, Loader, register


def _image_directory(source: Any, ctx: Context) -> Loaded:
    import tensorflow as tf

    path = ctx.resolve(source.path)
    classes, files, labels = _class_files(path, source.path, IMAGE_EXTENSIONS, "image directory")
    image_size = tuple(source.image_size)  # resolve_source has filled in what the model implies
    color_mode = source.color_mode
    channels = {"grayscale": 1, "rgb": 3, "rgba": 4}[color_mode]
    images = np.empty((len(files), image_size[0], image_size[1], channels), dtype=np.float32)
    for i, file in enumerate(files):
        try:
            decoded = tf.io.decode_image(tf.io.read_file(str(file)), channels=channels, expand_animations=False)
        except (tf.errors.OpError, ValueError) as exc:
            message = (
                getattr(exc, "message", str(exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            )
            raise DataError(
                f"The image {file} cannot be decoded ({message}); expected a PNG, JPEG, BMP or GIF image."
            ) from None
        images[i] = tf.image.resize(decoded, image_size, method="bilinear").numpy()
    origin_dir = f"{len(classes)} class sub-directories of {path}"
    fields = {
        "image": Field(images, None, f"images from the {origin_dir}, {image_size[0]}x{image_size[1]} {color_mode}"),
        "label": Field(labels, None, f"class ids from the {origin_dir}"),
    }
    decoding = {
        "kind": "image",
        "image_size": [int(image_size[0]), int(image_size[1])],
        "color_mode": color_mode,
        "channels": channels,
        "interpolation": "bilinear",
        "value_range": [0, 255],  # not rescaled: decoded 8-bit values, resized
        "extensions": list(IMAGE_EXTENSIONS),
    }

    def describe(field_name: str) -> dict[str, Any]:
        return dict(decoding) if field_name == "image" else {"kind": "array", "field": field_name}

    return Loaded(
        f"image directory {path}",
        sorted(fields),
        fields.get,
        "image",
        "label",
        class_names=classes,
        class_field="label",
        describe=describe,
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
