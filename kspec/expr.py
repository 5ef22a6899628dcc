"""Arithmetic on block parameters: `"${filters * 4}"`, `"${2 if index == 0 else 1}"`.

A value that is a whole `${...}` string is an expression. It is parsed by Python's `ast` module
(parsing only: nothing is compiled, imported or called) and evaluated here, node by node, over a
closed set of node types:

- numbers, strings, `true`/`false` (also `True`/`False`), `null` (also `None`), and lists of them;
- names of the block's parameters (and `index`, the repetition, in a block use's arguments);
- `+ - * / // % **`, unary `+ -`, `not`, `and`, `or`, comparisons (`== != < <= > >=`, chained);
- `a if condition else b`;
- the functions `min`, `max` and `abs` (kspec's own, by name; nothing is looked up in Python).

Anything else (attributes, subscripts, other calls, comprehensions, lambdas) is refused with
`ExprError`, as are integers beyond 64 bits, non-finite floats, a division by zero, and arithmetic
on a string or a list. `/` gives a float, `//` an integer, as in Python.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
from collections.abc import Callable
from typing import Any

from .text import cut

MAX_LENGTH = 1000
MIN_INT, MAX_INT = -(2**63), 2**63 - 1
_EXPR = re.compile(r"\$\{([\s\S]*)\}")
_CONSTANT_NAMES = {"true": True, "false": False, "null": None, "True": True, "False": False, "None": None}


class ExprError(ValueError):
    """An expression kspec cannot evaluate: the message says what and why."""


def expression_of(value: Any) -> str | None:
    """The expression inside a `${...}` string, or None when `value` is not one."""
    if isinstance(value, str) and value.startswith("${"):
        match = _EXPR.fullmatch(value)
        if match is not None:
            return match.group(1)
    return None


def has_expression_marker(value: Any) -> bool:
    """A string holding `${` that is not a whole expression (interpolation is not offered)."""
    return isinstance(value, str) and "${" in value and expression_of(value) is None


def evaluate(text: str, names: dict[str, Any]) -> Any:
    """The value of the expression `text` with `names` in scope; ExprError when it has none."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"The expression is {len(text):,} characters long; at most {MAX_LENGTH} are allowed.")
    if not text.strip():
        raise ExprError("The expression is empty.")
    body = _parse(text.strip()).body
    if type(body) is ast.Name and body.id in names:  # `${filters}`: most expressions are a parameter
        return names[body.id]
    try:
        return _Evaluator(names).visit(body)
    except RecursionError:
        raise ExprError("The expression nests too deeply.") from None


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> ast.Expression:
    """The syntax tree of an expression (a block used 50 times parses each of its expressions once)."""
    try:
        return ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExprError(f"Invalid expression syntax ({exc.msg}).") from None
    except (RecursionError, MemoryError, ValueError):
        raise ExprError("The expression nests too deeply.") from None


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_SYMBOL = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Pow: "**"}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {"min": min, "max": max, "abs": abs}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checked(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and not MIN_INT <= value <= MAX_INT:
        raise ExprError(f"The result is beyond 64-bit integers ({MIN_INT} to {MAX_INT}).")
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError("The result is not a finite number.")
    return value


class _Evaluator:
    def __init__(self, names: dict[str, Any]):
        self.names = names

    def visit(self, node: ast.AST) -> Any:
        method = _METHODS.get(type(node))
        if method is None:
            raise ExprError(
                f"'{_source(node)}' is not allowed in an expression: only numbers, parameter names, arithmetic, "
                "comparisons, `a if c else b`, min, max and abs are."
            )
        return method(self, node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        if node.value is None or isinstance(node.value, (bool, int, float, str)):
            return _checked(node.value)
        raise ExprError(f"The constant {_source(node)} is not allowed in an expression.")

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.names:
            return self.names[node.id]
        if node.id in _CONSTANT_NAMES:
            return _CONSTANT_NAMES[node.id]
        from .diagnostics import did_you_mean

        known = sorted(self.names)
        hint = did_you_mean(node.id, known)
        listed = ", ".join(known) if known else "none"
        raise ExprError(f"Unknown name '{node.id}' (names in scope: {listed}).{' ' + hint if hint else ''}")

    def visit_List(self, node: ast.List) -> Any:
        return [self.visit(e) for e in node.elts]

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        value = self.visit(node.operand)
        if isinstance(node.op, ast.Not):
            return not value
        if not _is_number(value):
            raise ExprError(
                f"Unary '{'-' if isinstance(node.op, ast.USub) else '+'}' needs a number. Received: {value!r}"
            )
        if isinstance(node.op, ast.USub):
            return _checked(-value)
        if isinstance(node.op, ast.UAdd):
            return value
        raise ExprError(f"'{_source(node)}' is not allowed in an expression.")

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        op = type(node.op)
        if op not in _BINARY:
            raise ExprError(f"The operator in '{_source(node)}' is not allowed; use + - * / // % **.")
        left, right = self.visit(node.left), self.visit(node.right)
        if not (_is_number(left) and _is_number(right)):
            raise ExprError(f"'{_SYMBOL[op]}' needs numbers. Received: {_show(left)} {_SYMBOL[op]} {_show(right)}")
        if op in (ast.Div, ast.FloorDiv, ast.Mod) and right == 0:
            raise ExprError(f"Division by zero in '{_source(node)}'.")
        if op is ast.Pow:
            if abs(right) > 64 or (isinstance(right, int) and right < 0 and left == 0):
                raise ExprError(
                    f"The exponent in '{_source(node)}' is out of range (at most 64 in size, and 0 has no negative powers)."
                )
            if abs(left) > 2**63 and right > 1:
                raise ExprError("The result is beyond 64-bit integers.")
        try:
            return _checked(_BINARY[op](left, right))
        except (OverflowError, ZeroDivisionError):
            raise ExprError(f"'{_source(node)}' has no finite result.") from None

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        is_and = isinstance(node.op, ast.And)
        value: Any = None
        for operand in node.values:
            value = self.visit(operand)
            if bool(value) != is_and:
                return value
        return value

    def visit_Compare(self, node: ast.Compare) -> Any:
        left = self.visit(node.left)
        for op, comparator in zip(node.ops, node.comparators):
            if type(op) not in _COMPARE:
                raise ExprError(f"The comparison in '{_source(node)}' is not allowed; use == != < <= > >=.")
            right = self.visit(comparator)
            ordered = type(op) in (ast.Lt, ast.LtE, ast.Gt, ast.GtE)
            if ordered and not (
                (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str))
            ):
                raise ExprError(f"Cannot order {_show(left)} and {_show(right)} in '{_source(node)}'.")
            if not _COMPARE[type(op)](left, right):
                return False
            left = right
        return True

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
            raise ExprError(f"'{_source(node)}' is not allowed: the only functions are min, max and abs.")
        args = [self.visit(a) for a in node.args]
        name = node.func.id
        if not args or (name == "abs" and len(args) != 1) or not all(_is_number(a) for a in args):
            raise ExprError(f"{name}() takes {'one number' if name == 'abs' else 'numbers'}. Received: {_source(node)}")
        return _checked(_FUNCTIONS[name](*args))


#: The node types an expression may have, and their evaluation: every other node type is refused.
_METHODS = {
    getattr(ast, name.removeprefix("visit_")): method
    for name, method in vars(_Evaluator).items()
    if name.startswith("visit_") and name != "visit"
}


def _show(value: Any) -> str:
    return cut(repr(value), 40)


def _source(node: ast.AST) -> str:
    try:
        text = ast.unparse(node)
    except Exception:  # noqa: BLE001 - only for a message
        text = type(node).__name__
    return cut(text, 60)


__all__ = ["ExprError", "evaluate", "expression_of", "has_expression_marker"]
