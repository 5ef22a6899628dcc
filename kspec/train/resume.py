"""`--resume`: the run's own resolved spec and the state of its last complete epoch."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..dump import resolved_document, resolved_yaml
from ..rundir import CHECKPOINT, CHECKPOINT_STATE, HISTORY_JSON, MODEL, RUN_JSON, SPEC, read_json
from ..spec import Spec
from . import artifacts
from .errors import TrainError


def resume_state(run_dir: Path, spec: Spec, epochs: int | None) -> tuple[Spec, dict]:
    """The run's own resolved spec (with a new epoch count if given) and its checkpoint state:
    {"epochs_done", "history", "started"} (+ "from_final" when a complete run trains further)."""
    from ..check import check as check_spec

    info = read_json(run_dir / RUN_JSON)
    if info.get("status") == "complete" and epochs is None:
        raise TrainError(f"The run in '{run_dir}' is already complete; give --epochs N to train it further.", 2)
    report = check_spec(str(run_dir / SPEC))
    if not report.ok or report.spec is None:
        raise TrainError(f"Cannot resume '{run_dir}': its {SPEC} is missing or invalid.", 2)
    stored = report.spec
    if stored.model != spec.model or stored.name != spec.name:
        raise TrainError(
            f"Cannot resume '{run_dir}' with this spec: its model differs from the one the run started with. "
            "Resume with the same spec, or start a new run.",
            2,
        )
    # The checkpoint counts only with its model file (state.json is written after it).
    ckpt_dir = run_dir / CHECKPOINT
    ckpt = read_json(ckpt_dir / CHECKPOINT_STATE) if (ckpt_dir / MODEL).is_file() else {}
    done = max(int(info.get("epochs_done") or 0), int(ckpt.get("epochs_done") or 0))
    if epochs is not None and epochs < done:
        raise TrainError(
            f"The run in '{run_dir}' has already trained {done} epoch(s); --epochs {epochs} would be fewer. "
            f"Give --epochs {done + 1} or more to train it further.",
            2,
        )
    if epochs is not None:
        stored = stored.model_copy(update={"training": stored.training.model_copy(update={"epochs": epochs})})
        artifacts.atomic_write_text(run_dir / SPEC, resolved_yaml(resolved_document(stored)))
    state = {
        "epochs_done": ckpt.get("epochs_done", 0),
        "history": ckpt.get("history", {}),
        "started": info.get("started"),
    }
    if info.get("status") == "complete":  # trained further from the final model
        state["epochs_done"] = info.get("epochs_done", 0)
        state["history"] = read_json(run_dir / HISTORY_JSON)
        state["history"].pop("epoch", None)
        state["from_final"] = True
    return stored, state


def restore(model: Any, run_dir: Path) -> None:
    """Weights and optimizer state of the last complete epoch (or of the final model)."""
    path = run_dir / CHECKPOINT / MODEL
    if not path.is_file():
        path = run_dir / MODEL
    model.optimizer.build(model.trainable_variables)
    try:
        model.load_weights(path)
    except Exception as exc:  # noqa: BLE001 - a damaged or foreign checkpoint: say so, do not crash
        raise TrainError(f"Cannot resume from '{path}': {exc}. Start a new run instead.", 2) from None
