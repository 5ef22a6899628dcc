"""embedded: `digits`, 1,797 8x8x1 images and their labels, shipped in kspec/datasets."""

from __future__ import annotations

import gzip
from typing import Any

import numpy as np

from .core import DataError
from .loader import Context, Field, Loaded, Loader, register


def _embedded(source: Any, ctx: Context) -> Loaded:
    from importlib import resources

    resource = resources.files("kspec").joinpath("datasets", "digits.csv.gz")
    try:
        with resource.open("rb") as raw, gzip.open(raw, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.float32)
    except (OSError, ValueError, EOFError) as exc:  # a broken installation, not user data
        raise DataError(
            f"The embedded dataset 'digits' cannot be read from kspec/datasets/digits.csv.gz ({exc}); reinstall kspec."
        ) from None
    images = table[:, :64].reshape(-1, 8, 8, 1)
    labels = table[:, 64].astype(np.int32)
    image = Field(images, None, "field 'image' of embedded digits")
    label = Field(labels, None, "field 'label' of embedded digits")
    fields = {"image": image, "x": image, "label": label, "y": label}
    return Loaded(
        "embedded digits",
        ["image", "label", "x", "y"],
        fields.get,
        "image",
        "label",
        class_names=[str(i) for i in range(10)],
    )


register(Loader("embedded", _embedded))
