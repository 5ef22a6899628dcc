"""Cross-field checks: the training and data sections against the inferred model.

Each rule here is either what Keras would refuse (a loss for an output that
does not exist) or a documented kspec policy (one loss per output of a
multi-output model; categorical losses need at least two classes; the
parameter budget). Policies are listed in docs/policies.md.
"""

from __future__ import annotations

from typing import Any

from . import training_checks
from .diagnostics import Diagnostic, Path, did_you_mean
from .infer import Inference, output_end, upstream
from .precision import check_precision
from .spec import Spec
from .spec.losses import loss_kind, loss_name

DEFAULT_PARAM_BUDGET = 2_000_000_000


def check_semantics(
    spec: Spec, inference: Inference, *, param_budget: int = DEFAULT_PARAM_BUDGET, memory_budget: int | None = None
) -> list[Diagnostic]:
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
                        policy="loss-per-output",
                    )
                )
        pairs: list[tuple[str, Any, Path]] = [
            (name, training.loss[name], ("training", "loss", name)) for name in outputs if name in training.loss
        ]
    else:
        if len(outputs) > 1:
            out.append(
                Diagnostic(
                    "loss",
                    f"The model has {len(outputs)} outputs ({', '.join(outputs)}); give one loss per output as a mapping "
                    f"(output name -> loss). Received: loss={loss_name(training.loss)}",
                    ("training", "loss"),
                    hint="loss: {" + ", ".join(f"{o}: ..." for o in outputs) + "}",
                    policy="loss-per-output",
                )
            )
        pairs = [(outputs[0], training.loss, ("training", "loss"))] if outputs else []
    for name, loss, path in pairs:
        tensor = tensors.get(name)
        if tensor is not None:
            fits = training_checks.loss_fits(name, loss, tensor, path)
            out.extend(fits or training_checks.masked_loss(name, loss, tensor, inference, path))
            out.extend(training_checks.unreduced_loss(name, loss, path))
            end = output_end(inference, name)
            out.extend(training_checks.loss_range(name, loss, end, path))
            if not fits:  # the loss reads this output's shape: then its values
                out.extend(training_checks.unit_embeddings(name, loss, inference, path))
            out.extend(training_checks.probability_output(name, loss, end, path))

    # Metrics: each fits the labels of its output's loss.
    kinds = {name: loss_kind(loss) for name, loss, _ in pairs}
    if isinstance(training.metrics, dict):
        groups: list[tuple[str, Any, Path]] = [
            (name, metrics, ("training", "metrics", name)) for name, metrics in training.metrics.items()
        ]
    else:
        groups = [(name, training.metrics, ("training", "metrics")) for name in outputs]
    for name, metrics, path in groups:
        if name in kinds:
            for i, metric in enumerate(metrics):
                out.extend(training_checks.metric_problems(name, metric, kinds[name], tensors.get(name), path + (i,)))

    for field in ("loss_weights",):
        mapping = getattr(training, field)
        if mapping:
            for name in mapping:
                if name not in outputs:
                    out.append(_unknown_output(name, ("training", field, name), outputs, field))
            missing = [o for o in outputs if o not in mapping]
            if missing:
                # Keras looks every output up in the mapping when it computes the loss (a KeyError at the first step).
                out.append(
                    Diagnostic(
                        "loss",
                        f"`loss_weights` needs a weight for every output; missing: {', '.join(missing)}. "
                        f"Received: loss_weights={dict(mapping)}",
                        ("training", field),
                        hint=f"Add {', '.join(f'{o}: 1.0' for o in missing)}.",
                    )
                )
            elif all(mapping[o] == 0 for o in outputs):
                out.append(
                    Diagnostic(
                        "loss",
                        "Every loss weight is 0, so the total loss is always 0 and no weight can train "
                        f"(kspec policy). Received: loss_weights={dict(mapping)}",
                        ("training", field),
                        policy="zero-loss-weights",
                    )
                )
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

    # The optimizer's layers, the callbacks and the validation data against the rest.
    out.extend(training_checks.optimizer_layers(spec, inference))
    out.extend(training_checks.loss_scaling(spec, inference))
    out.extend(check_precision(spec, inference))
    out.extend(training_checks.callbacks_fit(spec))
    out.extend(training_checks.validation_data_fits(spec))

    out.extend(_adapted_layers(inference))

    total = inference.total_params
    if total > param_budget:
        out.append(
            Diagnostic(
                "param-budget",
                f"The model has {total:,} parameters, more than the budget of {param_budget:,}; "
                "kspec refuses it before anything allocates.",
                ("model",),
                hint="Make the model smaller, or raise the budget (`--param-budget`).",
                policy="param-budget",
            )
        )
    if memory_budget is not None:
        out.extend(_memory_budget(spec, inference, memory_budget))
    return out


def _memory_budget(spec: Spec, inference: Inference, budget: int) -> list[Diagnostic]:
    """The estimate of a training step's memory (`kspec.cost.training_memory`) against `--memory-budget`."""
    from .cost import format_bytes, training_memory

    estimate = training_memory(spec, inference)
    if estimate.total <= budget:
        return []
    unknown = (
        f"; the activations of {len(estimate.unknown)} layer(s) of unknown size are left out"
        if estimate.unknown
        else ""
    )
    return [
        Diagnostic(
            "memory-budget",
            f"A training step needs an estimated {format_bytes(estimate.total)} ({estimate.parts()}){unknown}, more "
            f"than the memory budget of {format_bytes(budget)}; kspec refuses it before anything allocates.",
            ("training", "batch_size") if estimate.activations > estimate.total // 2 else ("model",),
            hint="Lower training.batch_size, use a mixed precision (training.precision), make the model smaller, "
            "or raise `--memory-budget`.",
        )
    ]


def _adapted_layers(inference: Inference) -> list[Diagnostic]:
    """A layer with `adapt: true` is adapted before training to what the training split gives at its input
    (`kspec.train.adapt`): that must be known before training, and the layer called once, unwrapped."""
    out: list[Diagnostic] = []
    shared = {n.shares for n in inference.nodes if n.shares is not None}
    for node in inference.nodes:
        layer = node.layer
        if layer is None:
            continue
        wrapped = getattr(layer, "layer", None)
        if wrapped is not None and hasattr(wrapped, "adapts") and wrapped.adapts():
            out.append(
                Diagnostic(
                    "adapt",
                    f"'{node.name}' ({layer.layer_type}) wraps a {wrapped.layer_type} with `adapt: true`; kspec adapts "
                    "layers that the model calls directly, not inside a wrapper.",
                    node.path + ("layer", "adapt"),
                    hint="Put the adapted layer before the wrapper, or give its statistics (mean, variance).",
                    policy="adapt-before-training",
                )
            )
        if node.shares is not None or not layer.adapts():
            continue
        if node.name in shared:
            out.append(
                Diagnostic(
                    "adapt",
                    f"'{node.name}' ({layer.layer_type}) has `adapt: true` but is shared (called on more than one "
                    "tensor): it would be adapted to one of them only.",
                    node.path + ("adapt",),
                    hint="Use one adapted layer per tensor.",
                    policy="adapt-before-training",
                )
            )
            continue
        before, _ = upstream(inference, node.name)
        trained = [n for n in before if n.params - n.non_trainable > 0 or n.layer.adapts()]
        if trained:
            first = trained[0]
            why = (
                "is adapted too (adapted layers in a row would each see the data before the other is adapted)"
                if first.layer.adapts() and first.params - first.non_trainable == 0
                else f"has {first.params - first.non_trainable:,} trainable weights that training changes"
            )
            out.append(
                Diagnostic(
                    "adapt",
                    f"'{node.name}' ({layer.layer_type}) has `adapt: true`: it is adapted once, before training, to "
                    f"what reaches it; but '{first.name}' ({first.layer.layer_type}) before it {why}, so the "
                    "statistics would describe values the trained model never produces.",
                    node.path + ("adapt",),
                    hint="Adapt a layer that the model inputs reach through layers without trainable weights "
                    "(e.g. right after the input), or give its statistics.",
                    policy="adapt-before-training",
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
