"""Stage: lint. Legal but suspicious specs: the mistakes people commonly make in Keras code.

Each rule returns warnings (`--strict` turns them into errors). A rule only
looks at the validated spec and the inference; it never changes them.
"""

from __future__ import annotations

from collections.abc import Iterator

from .diagnostics import Diagnostic
from .infer import Inference, NodeInfo, output_end
from .spec import Spec
from .spec.training import loss_from_logits, loss_kind

_PROBABILISTIC = {"softmax", "sigmoid", "log_softmax"}
_CROSSENTROPY_KINDS = {"sparse", "one_hot", "binary"}


def lint(spec: Spec, inference: Inference) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for rule in (_output_rules, _layer_rules, _metric_rules, _callback_rules):
        out.extend(rule(spec, inference))
    return out


def _warn(code: str, message: str, path, hint: str | None = None) -> Diagnostic:
    return Diagnostic(code, message, path, severity="warning", hint=hint)


def _losses(spec: Spec, inference: Inference):
    loss = spec.training.loss
    if isinstance(loss, dict):
        return [(o, loss[o], ("training", "loss", o)) for o in inference.outputs if o in loss]
    return [(o, loss, ("training", "loss")) for o in inference.outputs[:1]]


def _output_rules(spec: Spec, inference: Inference) -> Iterator[Diagnostic]:
    for output, loss, path in _losses(spec, inference):
        node = inference.node(output)
        if node is None or node.output is None:
            continue
        end = output_end(inference, output)
        activation = end.activation if end is not None else None
        kind = loss_kind(loss)
        name = loss if isinstance(loss, str) else loss.type
        if kind in _CROSSENTROPY_KINDS and loss_from_logits(loss) and activation in _PROBABILISTIC:
            yield _warn(
                "lint-softmax-from-logits",
                f"Output '{output}' already applies '{activation}', but the loss has from_logits=true: "
                "the probabilities would be treated as logits.",
                path,
                hint="Drop the output activation, or set from_logits: false.",
            )
        if kind in ("sparse", "one_hot") and activation == "sigmoid":
            yield _warn(
                "lint-sigmoid-categorical",
                f"Output '{output}' uses sigmoid with the categorical loss '{name}'; "
                "categorical losses expect a softmax over the classes.",
                path,
                hint="Use activation: softmax (or binary_crossentropy for multi-label).",
            )


def _layer_rules(spec: Spec, inference: Inference) -> Iterator[Diagnostic]:
    nodes = [n for n in inference.nodes if n.layer is not None]
    consumers: dict[str, list[NodeInfo]] = {}
    for n in nodes:
        for ref in n.inputs:
            consumers.setdefault(ref, []).append(n)
    total = inference.total_params
    for n in nodes:
        t = n.layer.layer_type
        if n.layer.drops_values and n.name in inference.outputs:
            yield _warn(
                "lint-dropout-last",
                f"'{n.name}' ({t}) is a model output: predictions would be randomly dropped during training.",
                n.path,
                hint="Put dropout before the output layer.",
            )
        following = consumers.get(n.name, [])
        if (
            getattr(n.layer, "use_bias", False)
            and len(following) == 1
            and following[0].layer.subtracts_mean()
            and n.name not in inference.outputs
        ):
            yield _warn(
                "lint-bias-before-batchnorm",
                f"'{n.name}' ({t}) has a bias, but {following[0].layer_type} '{following[0].name}' right after it "
                "subtracts the mean: the bias is wasted weights.",
                n.path + ("use_bias",),
                hint="Set use_bias: false on the layer before BatchNormalization.",
            )
        if (
            n.layer.affine
            and getattr(n.layer, "activation", "x") in (None, "linear")
            and len(following) == 1
            and following[0].layer.affine
            and n.name not in inference.outputs
        ):
            yield _warn(
                "lint-no-activation-stack",
                f"{t} '{n.name}' has no activation and feeds {following[0].layer_type} '{following[0].name}': "
                "two linear layers in a row are one linear layer with extra weights.",
                n.path + ("activation",),
                hint="Add an activation (e.g. activation: relu).",
            )
        if n.shares is None and n.layer.inert_until_loaded():
            yield _warn(
                "lint-inert-normalization",
                f"{t} '{n.name}' has neither `mean` and `variance` nor `adapt: true`: its mean is 0 and "
                "its variance 1 until weights are loaded into it, so it divides by one and changes nothing.",
                n.path,
                hint="Add `adapt: true` to compute the statistics from the training data, or give mean and variance.",
            )
        if n.layer.affine and total >= 1_000_000 and n.params >= 0.8 * total:
            yield _warn(
                "lint-large-dense",
                f"{t} '{n.name}' holds {n.params:,} of the model's {total:,} parameters "
                f"({100 * n.params / total:.0f}%), usually from flattening a large feature map.",
                n.path,
                hint="Pool more before flattening, or use GlobalAveragePooling instead of Flatten.",
            )


_ACCURACY = {"accuracy", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy"}


def _metric_rules(spec: Spec, inference: Inference) -> Iterator[Diagnostic]:
    metrics = spec.training.metrics
    per_output = metrics if isinstance(metrics, dict) else {o: metrics for o in inference.outputs}
    losses = {o: loss for o, loss, _ in _losses(spec, inference)}
    for output, items in per_output.items():
        loss = losses.get(output)
        if loss is None or loss_kind(loss) != "regression":
            continue
        for i, metric in enumerate(items):
            if isinstance(metric, str) and metric in _ACCURACY:
                path = ("training", "metrics") + ((output, i) if isinstance(metrics, dict) else (i,))
                yield _warn(
                    "lint-metric-regression",
                    f"Metric '{metric}' counts exact matches, but output '{output}' is trained as a regression.",
                    path,
                    hint="Use mean_absolute_error or root_mean_squared_error.",
                )


def _callback_rules(spec: Spec, inference: Inference) -> Iterator[Diagnostic]:
    validation = spec.training.validation_split > 0
    for i, cb in enumerate(spec.training.callbacks):
        monitor = getattr(cb, "monitor", None)
        if monitor and monitor.startswith("val_") and not validation:
            yield _warn(
                "lint-monitor-without-validation",
                f"{cb.type} monitors '{monitor}', but training has no validation data (validation_split is 0): "
                "Keras will only warn and the callback will do nothing.",
                ("training", "callbacks", i, "monitor"),
                hint="Set training.validation_split (e.g. 0.1), or monitor 'loss'.",
            )
