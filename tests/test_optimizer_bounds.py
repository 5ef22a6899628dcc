"""Every numeric optimizer argument at and beyond its bounds, against Keras's own constructor.

kspec's bounds on an optimizer's numbers are of two kinds: those Keras's constructor also enforces (SGD's
momentum in [0, 1], Lion's beta_1 in (0, 1], Ftrl's non-negative strengths, ...), refused plainly, and those
Keras takes and then trains with wrongly or not at all (a negative learning rate, a clip norm of 0, a decay
rate of 1), refused by the documented `optimizer-range` policy. Whether a training step then goes well for
what kspec accepts is the soundness property's business (tests/test_spec_properties.py draws optimizer
arguments at their bounds); here: a plain refusal is one Keras's constructor makes too, and what kspec
accepts, Keras constructs.
"""

from __future__ import annotations

import pytest

import kspec
from kspec.spec.training import OPTIMIZER_TYPES

#: Values around every bound the optimizers' numeric arguments have (0 and 1 are the bounds they use).
VALUES = (-1.0, -1e-3, 0.0, 1e-3, 0.5, 1.0, 1.001, 2.0)
INT_VALUES = (-1, 0, 1, 2, 3)


def _numeric_fields(cls) -> list[tuple[str, bool]]:
    out = []
    for name, field in cls.model_fields.items():
        text = str(field.annotation)
        if name == "type" or ("float" not in text and "int" not in text):
            continue
        out.append((name, "float" not in text))
    return out


CASES = [
    (name, field, value)
    for name, cls in OPTIMIZER_TYPES.items()
    for field, is_int in _numeric_fields(cls)
    for value in (INT_VALUES if is_int else VALUES)
]


def _spec(optimizer: dict) -> dict:
    return {
        "kspec": 1,
        "name": "o",
        "model": {"input": {"shape": [4]}, "layers": [{"type": "Dense", "units": 2}]},
        "training": {"optimizer": optimizer, "loss": "mse"},
    }


def _keras_refuses(name: str, arguments: dict) -> str | None:
    import keras

    try:
        getattr(keras.optimizers, name)(**arguments)
    except Exception as exc:  # noqa: BLE001 - any refusal counts
        return f"{type(exc).__name__}: {exc}"
    return None


@pytest.mark.parametrize("name, field, value", CASES, ids=[f"{n}-{f}={v}" for n, f, v in CASES])
def test_optimizer_bounds_agree_with_keras(name, field, value):
    arguments = {field: value, **({"use_ema": True} if field == "ema_momentum" else {})}
    report = kspec.check(_spec({"type": name, **arguments}))
    # Keras takes floats where kspec's models hold floats (a YAML 1 is 1.0 once parsed)
    keras_arguments = {k: float(v) if isinstance(v, int) and not isinstance(v, bool) and not _is_int(name, k) else v
                       for k, v in arguments.items()}
    refusal = _keras_refuses(name, keras_arguments)
    if report.ok:
        assert refusal is None, f"kspec accepts {name}({arguments}), but Keras refuses it: {refusal}"
        return
    (error,) = report.errors
    assert error.path[:2] == ("training", "optimizer"), error.message
    if error.policy is None:
        assert refusal is not None, f"kspec refuses {name}({arguments}) without a policy, but Keras takes it: {error.message}"
    else:
        assert error.policy in ("optimizer-range", "inert-optimizer"), error.policy
        assert refusal is None, f"kspec names a policy for {name}({arguments}), but Keras refuses it too: {refusal}"


def _is_int(name: str, field: str) -> bool:
    return dict(_numeric_fields(OPTIMIZER_TYPES[name]))[field]


def test_a_policy_refusal_says_so_in_the_text_output():
    from kspec.reporters import render_text

    text = render_text([kspec.check(_spec({"type": "SGD", "learning_rate": -0.1}))])
    assert "policy: optimizer-range:" in text and "(docs/policies.md)" in text
