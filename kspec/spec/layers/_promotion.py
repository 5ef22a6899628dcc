"""Keras's dtype promotion (`keras.src.backend.common.dtypes.result_type`), as pure functions on dtype names.

Keras promotes the operands of `keras.ops` functions on a lattice adapted from JAX's: booleans below
integers, integers below floats, and Python scalars "weak" (`x + 3` keeps an int8 tensor int8, `x + 3.0`
makes an int32 tensor float32). A Python scalar operand is the dtype "int" or "float" here.

64-bit results are TensorFlow's (the default backend, and the dtypes Keras declares there): JAX and PyTorch
narrow int64 and float64 to 32 bits, which changes a width, never an integer into a float, and no rule of
kspec depends on a width.

>>> result_type("int8", "int")
'int8'
>>> result_type("int32", "float")
'float32'
>>> result_type("int8", "uint8")
'int16'
>>> result_type("float16", "int32")
'float16'
"""

from __future__ import annotations

import functools

#: Python scalars: a dtype that gives way to the tensor's.
WEAK = ("int", "float")

_LATTICE: dict[str, tuple[str, ...]] = {
    "bool": ("int",),
    "uint8": ("int16", "uint16"),
    "uint16": ("int32", "uint32"),
    "uint32": ("int64", "uint64"),
    "uint64": ("float",),
    "int": ("uint8", "int8"),
    "int8": ("int16",),
    "int16": ("int32",),
    "int32": ("int64",),
    "int64": ("float",),
    "float": ("bfloat16", "float16"),
    "bfloat16": ("float32",),
    "float16": ("float32",),
    "float32": ("float64",),
    "float64": (),
}


def _upper_bounds() -> dict[str, frozenset[str]]:
    bounds = {}
    for node in _LATTICE:
        seen, work = {node}, [node]
        while work:
            for above in _LATTICE[work.pop()]:
                if above not in seen:
                    seen.add(above)
                    work.append(above)
        bounds[node] = frozenset(seen)
    return bounds


_UPPER = _upper_bounds()


@functools.cache
def _least_upper_bound(nodes: frozenset[str]) -> str:
    common = frozenset.intersection(*(_UPPER[n] for n in nodes))
    least = (common & nodes) or {c for c in common if common <= _UPPER[c]}
    (out,) = least
    return out


def _strong(dtype: str) -> str:
    """A weak dtype at floatx (float32) precision."""
    return {"int": "int32", "float": "float32"}.get(dtype, dtype)


@functools.cache
def result_type(*dtypes: str) -> str:
    """The dtype Keras gives the result of an operation on operands of these dtypes ("int", "float": Python
    scalars). Keras's `_lattice_result_type` on the TensorFlow backend."""
    if len(dtypes) == 1:
        out, weak = dtypes[0], dtypes[0] in WEAK
    elif len(set(dtypes)) == 1 and dtypes[0] not in WEAK:
        out, weak = dtypes[0], False
    else:
        out = _least_upper_bound(frozenset(dtypes))
        weak = all(d in WEAK for d in dtypes) or out in WEAK
    if weak and out != "bool":
        out = _strong(out)
    return "uint32" if out == "uint64" else out


def is_float(dtype: str) -> bool:
    return dtype.startswith(("float", "bfloat"))


def is_integer(dtype: str) -> bool:
    return dtype.startswith(("int", "uint"))


#: The values an integer dtype holds.
INT_RANGES: dict[str, tuple[int, int]] = {
    **{f"int{b}": (-(2 ** (b - 1)), 2 ** (b - 1) - 1) for b in (8, 16, 32, 64)},
    **{f"uint{b}": (0, 2**b - 1) for b in (8, 16, 32, 64)},
}
