"""Cross-field checks: the training and data sections against the inferred model.

Each rule here is either what Keras would refuse (a loss for an output that
does not exist) or a documented kspec policy (one loss per output of a
multi-output model; categorical losses need at least two classes; the
parameter budget). Policies are listed in README.
"""

from __future__ import annotations

from .diagnostics import Diagnostic, Note, did_you_mean
from .infer import Inference
from .spec import Spec
from .spec.layers._base import FLOAT_DTYPES, Tensor
from .spec.training import loss_kind

DEFAULT_PARAM_BUDGET = 2_000_000_000


def check_semantics(spec: Spec, inference: Inference, *, param_budget: int = DEFAULT_PARAM_BUDGET) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    outputs = inference.outputs
    tensors = inference.output_tensors
    training = spec.training

    # Losses: one per output.
    if isinstance(training.loss, dict):
        for name in training.loss:
            if name not in outputs:
                out.append(_unknown_output(name, ("training", "loss", name), outputs, "loss"))
        for name in outputs:
            if name not in training.loss:
                out.append(
                    Diagnostic(
                        "loss",
                        f"Output '{name}' has no loss; every output of the model needs one. "
                        f"Received: loss keys={sorted(training.loss)}",
                        ("training", "loss"),
                        hint=f"Add `{name}: <loss>` under training.loss.",
                    )
                )
        pairs = [(name, training.loss[name], ("training", "loss", name)) for name in outputs if name in training.loss]
    else:
        if len(outputs) > 1:
            out.append(
                Diagnostic(
                    "loss",
                    f"The model has {len(outputs)} outputs ({', '.join(outputs)}); give one loss per output as a mapping "
                    f"(output name -> loss). Received: loss={training.loss if isinstance(training.loss, str) else training.loss.type}",
                    ("training", "loss"),
                    hint="loss: {" + ", ".join(f"{o}: ..." for o in outputs) + "}",
                )
            )
        pairs = [(outputs[0], training.loss, ("training", "loss"))] if outputs else []
    for name, loss, path in pairs:
        tensor = tensors.get(name)
        if tensor is not None:
            out.extend(_loss_fits(name, loss, tensor, path))

    for field in ("loss_weights",):
        mapping = getattr(training, field)
        if mapping:
            for name in mapping:
                if name not in outputs:
                    out.append(_unknown_output(name, ("training", field, name), outputs, field))
    if isinstance(training.metrics, dict):
        for name in training.metrics:
            if name not in outputs:
                out.append(_unknown_output(name, ("training", "metrics", name), outputs, "metrics"))

    # Data mapping.
    if spec.data is not None:
        if spec.data.inputs:
            for name in spec.data.inputs:
                if name not in inference.inputs:
                    out.append(
                        Diagnostic(
                            "data",
                            f"`data.inputs` maps '{name}', which is not a model input. Model inputs: {', '.join(inference.inputs)}.",
                            ("data", "inputs", name),
                            hint=did_you_mean(name, inference.inputs),
                        )
                    )
        if spec.data.labels:
            for name in spec.data.labels:
                if name not in outputs:
                    out.append(_unknown_output(name, ("data", "labels", name), outputs, "data.labels", code="data"))

    # Callbacks that need something of the rest of the training section.
    schedule = getattr(training.optimizer, "learning_rate", None)
    for i, cb in enumerate(training.callbacks):
        if cb.type == "ReduceLROnPlateau" and not isinstance(schedule, (int, float, type(None))):
            optimizer_path = ("training", "optimizer", "learning_rate")
            out.append(
                Diagnostic(
                    "callback",
                    "ReduceLROnPlateau sets the optimizer's learning rate, but the learning rate is a schedule "
                    f"({schedule.type}), which Keras cannot change while training (it fails at the first reduction). "
                    f"Received: learning_rate={{type: {schedule.type}, ...}}",
                    ("training", "callbacks", i),
                    hint="Use a fixed `learning_rate` with ReduceLROnPlateau, or the schedule without it.",
                    notes=(Note("the schedule", path=optimizer_path),),
                )
            )

    total = inference.total_params
    if total > param_budget:
        out.append(
            Diagnostic(
                "param-budget",
                f"The model has {total:,} parameters, more than the budget of {param_budget:,}; "
                "kspec refuses it before anything allocates.",
                ("model",),
                hint="Make the model smaller, or raise the budget (`--param-budget`).",
            )
        )
    return out


def _loss_fits(output: str, loss, tensor: Tensor, path) -> list[Diagnostic]:
    kind = loss_kind(loss)
    name = loss if isinstance(loss, str) else loss.type
    out: list[Diagnostic] = []
    if tensor.dtype not in FLOAT_DTYPES:
        out.append(
            Diagnostic(
                "loss",
                f"Output '{output}' is {tensor.dtype}, but losses need floating-point predictions. Received: output dtype={tensor.dtype}",
                path,
            )
        )
        return out
    if kind in ("sparse", "one_hot"):
        classes = tensor.shape[-1] if tensor.rank >= 2 else None
        if tensor.rank < 2:
            out.append(
                Diagnostic(
                    "loss",
                    f"Loss '{name}' needs an output of shape (batch, ..., classes); output '{output}' has shape {tensor}.",
                    path,
                )
            )
        elif classes is None:
            out.append(
                Diagnostic(
                    "loss",
                    f"Loss '{name}' needs a known number of classes in the last axis of output '{output}'. "
                    f"Received: output shape={tensor}",
                    path,
                )
            )
        elif classes < 2:
            out.append(
                Diagnostic(
                    "loss",
                    f"Loss '{name}' needs at least 2 classes, but output '{output}' has {classes} in its last axis "
                    f"(shape {tensor}).",
                    path,
                    hint="For two classes with one unit, use binary_crossentropy with a sigmoid output.",
                )
            )
    return out


def _unknown_output(name: str, path, outputs, what: str, code: str = "loss") -> Diagnostic:
    return Diagnostic(
        code,
        f"`{what}` names '{name}', which is not a model output. Outputs: {', '.join(outputs)}.",
        path,
        hint=did_you_mean(name, outputs),
    )
