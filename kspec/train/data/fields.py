"""Field mapping: a read source's fields -> the model's inputs and outputs (`data.inputs`, `data.labels` and the
defaults), with the source's own test split when every mapped field has a test part."""

from __future__ import annotations

from .checks import _first_nonfinite, _nonfinite_error
from .core import DataError, Split
from .loader import Context, Loaded


def _map_fields(loaded: Loaded, ctx: Context) -> tuple[Split, Split | None, dict[str, str], dict[str, str]]:
    """The training pool and the source's own test split (or None), then model input -> field and output -> field.

    Refuses a float array holding NaN or infinity, naming the example by its index in the source.
    """
    input_fields, label_fields = _mapped_fields(loaded, ctx)
    train = Split({}, {})
    test = Split({}, {})
    has_test: dict[str, bool] = {}
    for section, fields, target in (("inputs", input_fields, "x"), ("labels", label_fields, "y")):
        for name, field_name in fields.items():
            got = loaded.get(field_name)
            if got is None:
                explicit = name in (ctx.input_map if section == "inputs" else ctx.label_map)
                raise _unknown_field(section, name, field_name, loaded, explicit=explicit)
            key = f"{section}.{name}"
            for array, origin in ((got.train, got.origin), (got.test, got.test_origin or got.origin)):
                found = _first_nonfinite(array) if array is not None else None
                if found is not None:
                    raise _nonfinite_error(origin, found)
            getattr(train, target)[name] = got.train
            train.origins[key] = got.origin
            has_test[f"`data.{key}` ({got.origin})"] = got.test is not None
            if got.test is not None:
                getattr(test, target)[name] = got.test
                test.origins[key] = got.test_origin or got.origin
    if not any(has_test.values()):
        return train, None, input_fields, label_fields
    if not all(has_test.values()):
        raise _partial_test(loaded.title, has_test)
    return train, test, input_fields, label_fields


def _partial_test(title: str, has_test: dict[str, bool]) -> DataError:
    """Some mapped fields have a test part (x_test) and some do not: no test split can be formed."""
    with_test = [k for k, v in has_test.items() if v]
    without = [k for k, v in has_test.items() if not v]
    return DataError(
        f"{title}: some of the mapped fields have a test part and some do not, so the test split cannot be "
        f"formed. With a test part: {', '.join(with_test)}; without: {', '.join(without)}. Expected every mapped "
        "field to have a test part (e.g. x_train with x_test) or none of them."
    )


def _mapped_fields(loaded: Loaded, ctx: Context) -> tuple[dict[str, str], dict[str, str]]:
    """Model input -> field and model output -> field: `data.inputs`/`data.labels`, else the source's defaults (a
    one-input model's features from `loaded.rest` where the source decides them: csv, parquet, tfrecord)."""
    label_fields = ctx.label_fields(loaded.default_label)
    input_fields: dict[str, str] = {}
    for name, mapped in ctx.input_fields(loaded.default_input).items():
        if mapped is None:
            assert loaded.rest is not None
            mapped = loaded.rest(list(label_fields.values()))
        input_fields[name] = mapped
    return input_fields, label_fields


def _unknown_field(section: str, name: str, field_name: str, loaded: Loaded, *, explicit: bool) -> DataError:
    from ...diagnostics import did_you_mean

    shown = ", ".join(repr(a) for a in loaded.available[:40]) + (" ..." if len(loaded.available) > 40 else "")
    hint = did_you_mean(field_name, loaded.available)
    what = "model input" if section == "inputs" else "model output"
    if explicit:
        head = f"`data.{section}.{name}` names the field '{field_name}', which {loaded.title} does not have."
    else:
        head = (
            f"The {what} '{name}' is not mapped in `data.{section}`, and its default field '{field_name}' is not in "
            f"{loaded.title}; map it with `data.{section}: {{{name}: <field>}}`."
        )
    return DataError(f"{head} Available fields: {shown or 'none'}.{' ' + hint if hint else ''}")
