"""Names that Keras takes in several spellings (`mse` and `mean_squared_error`, `Adam` and `adam`): a spec may
use any of them, and parsing keeps one, the canonical name, so that no later stage sees the others."""

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, Field


class _Canonical:
    """A name, normalised to its canonical spelling through a table of aliases (a class, not a closure: see
    kspec.spec._cache)."""

    def __init__(self, aliases: dict[str, str]):
        self.aliases = aliases

    def __call__(self, value: Any) -> Any:
        return self.aliases.get(value, value) if isinstance(value, str) else value


def canonical_name(names: tuple[str, ...], aliases: dict[str, str], description: str) -> Any:
    """A string type that takes `names` (canonical names and their aliases, the keys of `aliases`) and holds the
    canonical one; the JSON Schema lists every name."""
    assert set(aliases) <= set(names) and set(aliases.values()) <= set(names)
    return Annotated[Literal[names], AfterValidator(_Canonical(aliases)), Field(description=description)]
