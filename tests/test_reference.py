"""docs/layers.md says exactly what exists: it is generated from the layer set and must not drift."""

from pathlib import Path

from kspec.spec.reference import layer_reference

DOC = Path(__file__).parent.parent / "docs" / "layers.md"


def test_layer_reference_is_current() -> None:
    assert DOC.read_text() == layer_reference(), "regenerate it: python -m kspec.spec.reference > docs/layers.md"


def test_every_layer_type_is_listed() -> None:
    from kspec.spec.layers import BUILTIN_LAYER_CLASSES

    text = DOC.read_text()
    assert all(f"| `{cls.type_name()}` |" in text for cls in BUILTIN_LAYER_CLASSES)
