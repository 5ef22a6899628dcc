"""The language's reference, generated from the closed sets themselves: `docs/layers.md` lists every layer
type (with the aliases Keras knows it by and the first line of its description), family by family, so that
the documentation says exactly what exists. `tests/test_reference.py` keeps the file equal to this.

    python -m kspec.spec.reference > docs/layers.md
"""

from __future__ import annotations

import inspect

#: The family modules of `kspec.spec.layers`, in the order the reference lists them, with their titles.
FAMILIES = {
    "core": "Core",
    "activation": "Activations",
    "embedding": "Embeddings",
    "conv": "Convolution",
    "pooling": "Pooling",
    "normalization": "Normalization",
    "regularization": "Regularization",
    "reshaping": "Reshaping",
    "merge": "Merging",
    "recurrent": "Recurrent",
    "convrecurrent": "Convolutional recurrent",
    "attention": "Attention",
    "preprocessing": "Preprocessing",
    "augmentation": "Image augmentation",
    "audio": "Audio",
    "text": "Text and structured data",
    "ops": "Operations on tensors",
    "applications": "Layers of keras.applications",
}


def _first_line(cls: type) -> str:
    doc = inspect.getdoc(cls) or ""
    line = doc.strip().split("\n\n")[0].replace("\n", " ").strip()
    return line.replace("|", "\\|")


def layer_reference() -> str:
    """docs/layers.md: every built-in layer type, by family."""
    from .layers import BUILTIN_LAYER_CLASSES

    by_family: dict[str, list[type]] = {}
    for cls in BUILTIN_LAYER_CLASSES:
        by_family.setdefault(cls.__module__.rpartition(".")[2], []).append(cls)
    lines = [
        "# Layer types",
        "",
        "Every layer type a spec may use, generated from kspec's closed layer set (`python -m kspec.spec.reference`);",
        "each takes Keras's own arguments and defaults, described field by field in the",
        "[JSON Schema](../kspec/schema/kspec.schema.json). An alias (as Keras knows it) is read as the type itself.",
        f"{len(BUILTIN_LAYER_CLASSES)} types.",
        "",
    ]
    families = [f for f in FAMILIES if f in by_family] + sorted(set(by_family) - set(FAMILIES))
    for family in families:
        classes = by_family[family]
        lines += [
            f"## {FAMILIES.get(family, family.title())} ({len(classes)})",
            "",
            "| type | aliases | what it does |",
            "|---|---|---|",
        ]
        for cls in classes:
            names = cls.type_names()
            aliases = ", ".join(f"`{a}`" for a in names[1:])
            lines.append(f"| `{names[0]}` | {aliases} | {_first_line(cls)} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(layer_reference(), end="")
