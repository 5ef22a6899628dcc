"""Drawers for layer families, one module per family, joined here for `tests/strategies.py`.

A family module defines `DRAWERS`: a tuple of `Drawer`s. Each draws a short run of layers (usually one) for a
tracked input shape (without the batch axis, None where unknown) and returns the layers and the tracked output
shape. The strategies call `extra_run` wherever a model family can take one more layer: image stacks (rank 3),
sequences (rank 2) and vectors (rank 1), and graphs (any rank). A drawer of rank 4 (a volume: h, w, d, channels)
is drawn on an image inside a detour: Reshape to (h, w, c, 1), the drawer's layers, Reshape back to (h', w', -1).

Drawers build valid layers by construction, like the rest of the strategies: they read the tracked shape and
choose arguments that fit it (most of the time) rather than filtering.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

#: A drawer's function: (draw, tracked input shape) -> (layers, tracked output shape).
DrawFn = Callable[[Any, tuple], tuple[list[dict], tuple]]


@dataclass(frozen=True)
class Drawer:
    """Draws layers of `types` for an input of one of `ranks` (without the batch axis)."""

    types: tuple[str, ...]
    ranks: frozenset[int]
    fn: DrawFn
    #: The drawer needs every dim of the input known.
    known: bool = False
    #: The run's last layer is called on the tracked tensor this many times (2: self-attention, `inputs: [x, x]`);
    #: such runs are drawn where a layer can take several inputs (sequences and graphs).
    calls: int = 1


def _collect() -> tuple[Drawer, ...]:
    drawers: list[Drawer] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        drawers.extend(getattr(module, "DRAWERS", ()))
    return tuple(drawers)


DRAWERS: tuple[Drawer, ...] = _collect()

#: Every layer type some drawer draws (for the coverage test).
DRAWN_TYPES: frozenset[str] = frozenset(t for d in DRAWERS for t in d.types)


def _fits(drawer: Drawer, shape: tuple) -> bool:
    rank = len(shape)
    if drawer.known and None in shape:
        return False
    if rank in drawer.ranks:
        return True
    return rank == 3 and 4 in drawer.ranks and None not in shape  # a volume detour from an image


def applicable(shape: tuple) -> list[Drawer]:
    return [d for d in DRAWERS if _fits(d, shape)]


@st.composite
def extra_run(draw, shape: tuple, *, calls: bool = False) -> tuple[list[dict], tuple, int] | None:
    """A run of layers from a drawer that fits `shape`, the tracked output, and how many times the run's last layer
    takes the tensor (`Drawer.calls`; only 1 unless `calls`); None where none fits."""
    drawers = [d for d in applicable(shape) if calls or d.calls == 1]
    if not drawers:
        return None
    # Weighted by how many types each drawer draws, so that every type is about as likely as any other.
    drawer = draw(st.sampled_from([d for d in drawers for _ in d.types]))
    if len(shape) in drawer.ranks:
        layers, out = drawer.fn(draw, shape)
        return layers, out, drawer.calls
    h, w, c = shape  # a volume detour
    layers, out = drawer.fn(draw, (h, w, c, 1))
    oh, ow = (out[0] or 1), (out[1] or 1)
    depth = None if None in out else out[2] * out[3]
    before = {"type": "Reshape", "target_shape": [h, w, c, 1]}
    after = {"type": "Reshape", "target_shape": [oh, ow, -1]}
    return [before, *layers, after], (out[0], out[1], depth), drawer.calls
