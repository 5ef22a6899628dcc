"""Test examples as the report shows them: image thumbnails (PNG data URIs), text snippets, table rows, and
saliency maps over images. NumPy and Pillow only (Pillow comes with kspec[train], through matplotlib)."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

#: The longest side of a thumbnail, in pixels (smaller images stay as they are; the page scales them up).
THUMBNAIL = 96
TEXT_CHARS = 300
ROW_FIELDS = 12


def is_image(shape: tuple) -> bool:
    """An example of this shape (no batch axis) is shown as an image: (h, w, 1|3|4), both sides > 1. A 2-D
    example (a sequence of feature vectors as often as a grey image) is shown as numbers."""
    return len(shape) == 3 and shape[-1] in (1, 3, 4) and shape[0] > 1 and shape[1] > 1


def _to_uint8(image: np.ndarray, value_range: tuple[float, float] | None) -> np.ndarray:
    image = np.nan_to_num(np.asarray(image, np.float64))
    lo, hi = value_range if value_range else (float(image.min()), float(image.max()))
    scaled = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
    return np.clip(np.round(scaled * 255), 0, 255).astype(np.uint8)


def _png(pixels: np.ndarray) -> str:
    from PIL import Image

    if pixels.ndim == 3 and pixels.shape[-1] == 1:
        pixels = pixels[..., 0]
    image = Image.fromarray(pixels)
    image.thumbnail((THUMBNAIL, THUMBNAIL), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def image_src(image: np.ndarray, value_range: tuple[float, float] | None = None) -> str:
    """A PNG data URI of one image (h, w[, c]): scaled from `value_range` (else its own min and max) to 0..255,
    and downscaled to THUMBNAIL pixels on its longest side."""
    return _png(_to_uint8(image, value_range))


def saliency_src(image: np.ndarray, weights: np.ndarray, value_range: tuple[float, float] | None = None) -> str:
    """The image in grey with the saliency `weights` (h, w, >= 0) over it in red to yellow."""
    grey = _to_uint8(image, value_range).astype(np.float64)
    if grey.ndim == 3:
        grey = grey[..., :3].mean(axis=-1)
    w = np.asarray(weights, np.float64)
    top = np.percentile(w, 99) if w.size else 0.0
    w = np.clip(w / top, 0.0, 1.0) if top > 0 else np.zeros_like(w)
    heat = np.stack([np.full_like(w, 255.0), 255.0 * w, np.zeros_like(w)], axis=-1)  # red -> yellow
    alpha = (0.15 + 0.7 * w)[..., None]
    base = np.repeat((0.35 * grey + 110)[..., None], 3, axis=-1)
    pixels = base * (1 - alpha) + heat * alpha
    return _png(np.clip(np.round(pixels), 0, 255).astype(np.uint8))


def text_snippet(text: str) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= TEXT_CHARS else text[: TEXT_CHARS - 1] + "…"


def token_text(ids: np.ndarray, vocabulary: list[str]) -> str:
    """The text a row of token ids stands for: its tokens, padding (id 0) left out."""
    return " ".join(vocabulary[i] if 0 <= i < len(vocabulary) else "[UNK]" for i in np.asarray(ids).ravel() if i)


def value_text(value: Any) -> str:
    if isinstance(value, bytes):
        return text_snippet(value.decode("utf-8", "replace"))
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return f"{value:.4g}"
    return text_snippet(str(value))


def row_fields(x: dict[str, np.ndarray], columns: dict[str, list[str]]) -> list[list[str]]:
    """One example as (name, value) rows: each input's values, named by its CSV columns where it has them;
    at most ROW_FIELDS, then a last row saying how many more there are."""
    rows: list[list[str]] = []
    for name, value in x.items():
        flat = np.asarray(value).ravel()
        names = columns.get(name) or ([name] if flat.size == 1 else [f"{name}[{i}]" for i in range(flat.size)])
        rows += [[n, value_text(v)] for n, v in zip(names, flat, strict=False)]
    if len(rows) > ROW_FIELDS:
        rows = rows[:ROW_FIELDS] + [["…", f"{len(rows) - ROW_FIELDS} more values"]]
    return rows
