"""Keras-style names, in one place.

- `to_snake_case`: Keras's automatic layer names (`keras.src.utils.naming.to_snake_case`):
  `MaxPooling2D` -> `max_pooling2d`; kspec names unnamed layers the same way, so that a built model's layer
  names are the names `kspec summary` shows.
- `object_alias`: the snake-case alias under which Keras knows an initializer, regularizer or constraint class
  (`GlorotUniform` -> `glorot_uniform`, `L1L2` -> `l1_l2`): one underscore before every capital but the first.
"""

from __future__ import annotations

import functools
import re

_WORD = re.compile(r"(.)([A-Z][a-z]+)")
_CAMEL = re.compile(r"([a-z])([A-Z])")
_CAPITAL = re.compile(r"(?<!^)(?=[A-Z])")


@functools.cache
def to_snake_case(name: str) -> str:
    """Keras's automatic layer names: `MaxPooling2D` -> `max_pooling2d`."""
    return _CAMEL.sub(r"\1_\2", _WORD.sub(r"\1_\2", name)).lower()


def base_name(type_name: str) -> str:
    """The base of the name an unnamed layer or operation of this type gets (numbered `_1`, `_2`, ... after the
    first): Keras's snake case of its class name, for an operation (`ops.add`) of the name after `ops.`."""
    return to_snake_case(type_name.rpartition(".")[2])


def object_alias(class_name: str) -> str:
    """Keras's alias of an argument-object class: `GlorotUniform` -> `glorot_uniform`."""
    return _CAPITAL.sub("_", class_name).lower()
