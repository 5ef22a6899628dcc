"""Text in messages, in one place: shapes, cut-off quotations, integers too long to write.

Every message that quotes the user's text or a value goes through these, so that a 5-million-character value
or an integer of thousands of digits never makes a message long (or makes Python refuse to write it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

#: How much of the user's own text a message quotes.
QUOTE = 80


def shape_str(shape: Sequence[Any] | None) -> str:
    """A shape the way Keras writes it: `(None, 28, 28, 1)`, `(10,)`; `?` for an unknown one."""
    if shape is None:
        return "?"
    inner = ", ".join("None" if d is None else str(d) for d in shape)
    return f"({inner},)" if len(shape) == 1 else f"({inner})"


def value_str(value: Any) -> str:
    """A scalar as a spec writes it, short: floats to 4 significant digits, true/false, null."""
    if isinstance(value, float):
        return f"{value:.4g}"
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def cut(text: str, limit: int = QUOTE) -> str:
    """At most `limit` characters of `text`, the end replaced by `...` when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def digits_of(value: int) -> int:
    """About how many decimal digits an integer has, without writing it (Python refuses past 4,300)."""
    return int(abs(value).bit_length() * math.log10(2)) + 1


def int_text(value: int) -> str:
    """The digits of an integer, or `<about N digits>` when there are too many to write."""
    if value.bit_length() <= 1000:
        return str(value)
    return f"{'-' if value < 0 else ''}<about {digits_of(value)} digits>"
