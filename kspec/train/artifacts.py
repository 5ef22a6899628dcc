"""Writers for the files of a training run directory.

Every file is written atomically: the bytes go to a temporary file in the same
directory, which is flushed, fsync'ed and then `os.replace`d onto the target.
A crash therefore never leaves a half-written file behind, and an older
complete file is only ever replaced by a newer complete one.

Only the standard library and NumPy are imported at module level; Matplotlib
(Agg canvas, no pyplot) and Keras are imported inside the functions that need
them.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..text import shape_str

__all__ = [
    "atomic_dir",
    "atomic_path",
    "atomic_write_bytes",
    "atomic_write_text",
    "model_dot",
    "parameter_lines",
    "plot_curves",
    "write_diagram",
    "write_history",
    "write_json",
    "write_summary",
]

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
DOT_TIMEOUT_S = 60.0

# ---- atomic primitives --------------------------------------------------------------------------


def _umask() -> int:
    """The process umask, read without changing it (Linux: /proc; elsewhere the usual 022)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _file_mode(path: Path) -> int:
    """Permissions for a new file at `path`: those of the file it replaces, else 0666 & ~umask.

    (mkstemp creates 0600 files; a run directory's files should look like normally written ones.)
    """
    try:
        return path.stat().st_mode & 0o7777
    except OSError:
        return 0o666 & ~_umask()


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    """Make a rename in `directory` durable. Best effort: not every platform can open a directory."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _temp_name(path: Path, suffix: str = "") -> Path:
    """A fresh, not yet existing name next to `path` (hidden, recognisable as a leftover temp)."""
    return path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp{suffix}"


def _remove(path: Path) -> None:
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink()
    except FileNotFoundError:
        pass


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (temp file in the same directory, fsync, os.replace)."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: Path, text: str) -> None:
    """Write `text` to `path` atomically, UTF-8 encoded, newlines written as given."""
    atomic_write_bytes(path, text.encode("utf-8"))


def save_model(model: Any, path: Path | None) -> None:
    """`model.save` to `path`, atomically. With no path (a multi-worker process that is not the chief)
    the model is saved to a temporary directory and dropped: under JAX's multi-process distribution,
    saving creates variables, which is a collective step every process must take together."""
    if path is not None:
        with atomic_path(path, suffix=".keras") as tmp:
            model.save(tmp)
        return
    import tempfile

    with tempfile.TemporaryDirectory(prefix="kspec-worker-") as scratch:
        model.save(Path(scratch) / "model.keras")


@contextlib.contextmanager
def atomic_path(path: Path, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path next to `path` for code that writes the file itself (`model.save`).

    The temporary path does not exist yet and ends with `suffix` (e.g. ".keras", which
    `keras.saving.save_model` insists on). On a clean exit the written file is fsync'ed and
    `os.replace`d onto `path`; if the body raises, the temporary is removed and `path` is left
    untouched. A body that exits cleanly without creating the file raises FileNotFoundError.
    """
    path = Path(path)
    tmp = _temp_name(path, suffix)
    mode = _file_mode(path)
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"atomic_path: nothing was written to the temporary file {tmp} for {path}")
        _fsync_file(tmp)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        _remove(tmp)
        raise
    _fsync_dir(path.parent)


@contextlib.contextmanager
def atomic_dir(path: Path) -> Iterator[Path]:
    """Yield a fresh temporary directory next to `path`, swapped in for `path` on a clean exit.

    Used for directories written by other code (a SavedModel export). On success every file
    in the temporary directory is fsync'ed; if `path` exists, it is renamed aside, the new
    directory is renamed in, and the old one is removed. If the body raises, the temporary
    directory is removed and `path` is left untouched. (A crash between the two renames leaves
    the old directory complete under its aside name, `.NAME.*.old`; it is never half-deleted.)
    """
    path = Path(path)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        for root, _dirs, files in os.walk(tmp):
            for name in files:
                file = Path(root) / name
                if file.is_file() and not file.is_symlink():
                    _fsync_file(file)
            _fsync_dir(Path(root))
        old: Path | None = None
        if path.exists() or path.is_symlink():
            old = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.old"
            os.rename(path, old)
        try:
            os.rename(tmp, path)
        except BaseException:
            if old is not None:
                os.rename(old, path)  # put the old one back
            raise
    except BaseException:
        _remove(tmp)
        raise
    _fsync_dir(path.parent)
    if old is not None:
        _remove(old)


# ---- JSON ---------------------------------------------------------------------------------------


def jsonable(obj: Any) -> Any:
    """A copy of `obj` that `json.dumps(allow_nan=False)` accepts: NaN/inf -> None, NumPy -> Python."""
    if isinstance(obj, np.ndarray):
        return jsonable(obj.tolist())
    if isinstance(obj, np.generic):
        return jsonable(obj.item())
    if isinstance(obj, bool) or obj is None or isinstance(obj, (int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {(k if isinstance(k, str) else _jsonable_key(k)): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj  # json.dumps raises TypeError for what it cannot write


def _jsonable_key(key: Any) -> Any:
    if isinstance(key, np.generic):
        key = key.item()
    if isinstance(key, os.PathLike):
        return os.fspath(key)
    return key


def write_json(path: Path, obj: Any) -> None:
    """Write `obj` as JSON (indent 2, keys in the given order, trailing newline), atomically.

    NaN and ±inf become null (strict JSON has no such numbers); NumPy scalars and arrays become
    Python numbers and lists; paths become strings.
    """
    text = json.dumps(jsonable(obj), indent=2, sort_keys=False, allow_nan=False, ensure_ascii=False)
    atomic_write_text(path, text + "\n")


# ---- history ------------------------------------------------------------------------------------


def _float_or_none(value: Any) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _history_table(
    history: Mapping[str, Sequence[Any]], epochs: Sequence[int] | None
) -> tuple[list[int], dict[str, list[float | None]]]:
    if "epoch" in history:
        raise ValueError("history has a metric named 'epoch', which is the name of the epoch column")
    columns = {name: [_float_or_none(v) for v in values] for name, values in history.items()}
    if epochs is None:
        n = max((len(v) for v in columns.values()), default=0)
        epoch_list = list(range(1, n + 1))
    else:
        epoch_list = [int(e) for e in epochs]
    bad = {name: len(v) for name, v in columns.items() if len(v) != len(epoch_list)}
    if bad:
        raise ValueError(
            f"every history series must have one value per epoch ({len(epoch_list)}); received lengths {bad}"
        )
    return epoch_list, columns


def write_history(
    run_dir: Path, history: Mapping[str, Sequence[float]], *, epochs: Sequence[int] | None = None
) -> None:
    """Write `history.csv` and `history.json` in `run_dir`.

    Columns: `epoch`, then the metrics in the given order. Epochs are numbered from 1 unless
    `epochs` is given. Every series must have one value per epoch (ValueError otherwise).
    Missing or non-finite values (NaN, inf) are written as an empty CSV cell and as JSON null.
    """
    run_dir = Path(run_dir)
    epoch_list, columns = _history_table(history, epochs)
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["epoch", *columns])
    for i, epoch in enumerate(epoch_list):
        writer.writerow([epoch, *("" if v[i] is None else repr(v[i]) for v in columns.values())])
    atomic_write_text(run_dir / "history.csv", buf.getvalue())
    write_json(run_dir / "history.json", {"epoch": epoch_list, **columns})


# ---- training curves ----------------------------------------------------------------------------


def _metric_panels(names: Sequence[str]) -> list[tuple[str, str | None, str | None]]:
    """Group metric names into panels: (title, train series, validation series), first-seen order."""
    present = set(names)
    panels: dict[str, list[str | None]] = {}
    for name in names:
        if name.startswith("val_") and name[4:] in present:
            panels.setdefault(name[4:], [None, None])[1] = name
        elif name.startswith("val_"):
            panels.setdefault(name, [None, None])[1] = name  # validation-only series: its own panel
        else:
            panels.setdefault(name, [None, None])[0] = name
    return [(title, train, val) for title, (train, val) in panels.items()]


def plot_curves(
    path: Path,
    history: Mapping[str, Sequence[float]],
    *,
    title: str,
    epochs: Sequence[int] | None = None,
) -> None:
    """Write a PNG of the training curves: one panel per metric, `x` and `val_x` on the same axes.

    Per-output metrics (`out_a_loss`, `val_out_a_loss`) get their own panels. Points are marked
    (a single epoch still shows); NaN and inf are left out of the lines; a series with no finite
    value is skipped and an empty panel says so. x axis: epoch (1-based unless `epochs` is given).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    panels = _metric_panels(list(history))
    n = max(len(panels), 1)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(4.8 * cols, 3.4 * rows + 0.6), dpi=150)
    FigureCanvasAgg(fig)
    fig.suptitle(title)
    if not panels:
        ax = fig.add_subplot(1, 1, 1)
        ax.text(0.5, 0.5, "no metrics recorded", ha="center", va="center", transform=ax.transAxes)
        ax.set_axis_off()
    for i, (name, train, val) in enumerate(panels):
        ax = fig.add_subplot(rows, cols, i + 1)
        drawn = 0
        x_lo, x_hi = math.inf, -math.inf
        for series, label in ((train, "train"), (val, "validation")):
            if series is None:
                continue
            y = np.array([np.nan if v is None else float(v) for v in history[series]], dtype=float)
            y[~np.isfinite(y)] = np.nan
            if y.size == 0 or np.all(np.isnan(y)):
                continue
            if epochs is not None and len(epochs) == y.size:
                x = np.asarray(epochs, dtype=float)
            else:
                x = np.arange(1, y.size + 1, dtype=float)
            marker = "o" if y.size <= 50 else None
            ax.plot(x, y, marker=marker, markersize=3.5, linewidth=1.5, label=label)
            drawn += 1
            x_lo, x_hi = min(x_lo, float(x.min())), max(x_hi, float(x.max()))
        ax.set_title(name)
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(True, alpha=0.3)
        if drawn:
            ax.legend()
            if x_hi - x_lo < 10:  # short runs: whole-epoch ticks, the points off the frame
                ax.set_xlim(x_lo - 0.5, x_hi + 0.5)
                ax.set_xticks(range(math.ceil(x_lo), math.floor(x_hi) + 1))
        else:
            ax.text(0.5, 0.5, "no finite values", ha="center", va="center", transform=ax.transAxes)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=150)
    atomic_write_bytes(Path(path), buf.getvalue())


# ---- model diagram ------------------------------------------------------------------------------


def _dot_str(text: str) -> str:
    """A DOT double-quoted string: backslashes and quotes escaped, newlines as \\n."""
    text = str(text).replace("\\", "\\\\").replace('"', '\\"')
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{text}"'


def _label(*lines: str) -> str:
    """A multi-line DOT label: each line escaped, joined by DOT's centred line break."""
    escaped = [_dot_str(line)[1:-1] for line in lines]
    return '"' + "\\n".join(escaped) + '"'


def model_dot(inference: Any, *, title: str) -> str:
    """Graphviz DOT text for the model graph of a kspec `Inference`.

    One node per model input (ellipse) and per layer call (box): name, layer type, output shape
    and parameter count when > 0; model outputs drawn bold. Edges run from each call's inputs.
    A call that shares another node's layer says "shares NAME" and has a dashed edge from that
    node. Output is deterministic (inference order).
    """
    outputs = set(inference.outputs)
    lines = [
        f"digraph {_dot_str(title)} {{",
        f"  graph [label={_dot_str(title)}, labelloc=t, fontsize=16, rankdir=TB];",
        '  node [shape=box, style="rounded,filled", fillcolor="#eef3fb", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for name, tensor in inference.inputs.items():
        text = [name, "Input", shape_str(tensor.shape)]
        if getattr(tensor, "dtype", "float32") != "float32":
            text.append(str(tensor.dtype))
        lines.append(f'  {_dot_str(name)} [label={_label(*text)}, shape=ellipse, fillcolor="#e8f5e9"];')
    for node in inference.nodes:
        layer_type = node.layer.layer_type if node.layer is not None else "?"
        output = node.output.shape if node.output is not None else None
        text = [node.name, layer_type, shape_str(output)]
        if node.params > 0 and node.shares is None:  # a shared call's weights are counted at its layer
            text.append(f"params: {node.params:,}")
        if node.shares is not None:
            text.append(f"shares {node.shares}")
        attrs = [f"label={_label(*text)}"]
        style = ["rounded", "filled"]
        if node.shares is not None:
            style.append("dashed")
        if node.name in outputs:
            style.append("bold")
            attrs.append("penwidth=2")
        if len(style) > 2:
            attrs.append(f'style="{",".join(style)}"')
        lines.append(f"  {_dot_str(node.name)} [{', '.join(attrs)}];")
    for node in inference.nodes:
        for ref in node.inputs:
            lines.append(f"  {_dot_str(ref)} -> {_dot_str(node.name)};")
        if node.shares is not None:
            lines.append(
                f"  {_dot_str(node.shares)} -> {_dot_str(node.name)} "
                '[style=dashed, arrowhead=none, constraint=false, color="#888888", label="shared weights"];'
            )
    lines.append("}")
    return "\n".join(lines) + "\n"


def write_diagram(run_dir: Path, inference: Any, *, title: str) -> Path:
    """Write `model.dot` in `run_dir`; render `model.png` too when Graphviz `dot` is on PATH.

    Returns the PNG's path if one was rendered, else the .dot's. A missing, failing or hanging
    `dot` never raises: the .dot is the fallback (an existing model.png is left as it was).
    """
    run_dir = Path(run_dir)
    dot_path = run_dir / "model.dot"
    atomic_write_text(dot_path, model_dot(inference, title=title))
    dot = shutil.which("dot")
    if dot is None:
        return dot_path
    png_path = run_dir / "model.png"
    try:
        with atomic_path(png_path, ".png") as tmp:
            result = subprocess.run(
                [dot, "-Tpng", "-o", str(tmp), str(dot_path)],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=DOT_TIMEOUT_S,
                check=False,
            )
            if result.returncode != 0:
                raise RuntimeError(f"dot exited with status {result.returncode}")
            with open(tmp, "rb") as f:
                if f.read(len(PNG_SIGNATURE)) != PNG_SIGNATURE:
                    raise RuntimeError("dot did not write a PNG")
    except (OSError, subprocess.SubprocessError, RuntimeError):
        return dot_path
    return png_path


# ---- model summary ------------------------------------------------------------------------------

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")


#: Keras's footer lines: its total counts the optimizer's variables, so write_summary puts the model's own figures
_KERAS_TOTALS = re.compile(r"^\s*(Total|Trainable|Non-trainable|Optimizer) params: ")


def _values(variables: Sequence[Any]) -> int:
    return int(sum(math.prod(int(d) for d in v.shape) for v in variables))


def parameter_lines(model: Any) -> tuple[str, list[str]]:
    """The header line and the totals of summary.txt: the model's parameters as `kspec summary` counts them.

    Total = `model.count_params()` (every weight, trainable or not); trainable and non-trainable split it as
    Keras's `trainable_weights` and `non_trainable_weights` do. The optimizer's state is named, never counted.
    """
    total = int(model.count_params())
    trainable = _values(model.trainable_weights)
    non_trainable = _values(model.non_trainable_weights)
    optimizer = getattr(model, "optimizer", None)
    variables = list(optimizer.variables) if optimizer is not None and getattr(optimizer, "built", False) else []
    head = (
        f"Parameters: {total:,} ({trainable:,} trainable, {non_trainable:,} non-trainable): the model's weights; "
        + (
            f"the optimizer's state ({len(variables):,} variables, {_values(variables):,} values) is not counted."
            if variables
            else "there is no optimizer state."
        )
    )
    totals = [
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {non_trainable:,}",
    ]
    if variables:
        totals.append(
            f"Optimizer state (not counted above): {len(variables):,} variables, {_values(variables):,} values"
        )
    return head, totals


def write_summary(path: Path, model: Any, *, line_length: int | None = None) -> None:
    """Write the model's summary as plain text (no ANSI escapes, no rich markup), atomically.

    First a line with the model's parameters (the figures of `kspec summary`: `parameter_lines`), then
    Keras's `model.summary()` layer table, then the totals in `kspec summary`'s words. Keras's own totals
    are left out: its "Total params" adds the optimizer's variables to the model's weights.

    Keras 3 renders the summary with rich into a plain capture when given a `print_fn`, and calls
    it with the whole text (its own printer also gets `line_break=`), so the collector accepts
    any keyword arguments. `line_length` None keeps Keras's default widths (88 columns, 108 for
    graph models). Rich sizes its console from `COLUMNS` (else the terminal, else 80), which would
    crop the table, so `COLUMNS` is set wide enough for the duration of the call and restored.
    """
    chunks: list[str] = []

    def collect(text: Any = "", *args: Any, **kwargs: Any) -> None:
        chunks.append(str(text))
        if kwargs.get("line_break", True) and not str(text).endswith("\n"):
            chunks.append("\n")

    saved = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(max(line_length or 0, 120) + 4)
    try:
        model.summary(print_fn=collect, line_length=line_length)
    finally:
        if saved is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = saved
    text = _ANSI.sub("", "".join(chunks))
    lines = [line.rstrip() for line in text.splitlines() if not _KERAS_TOTALS.match(line)]
    while lines and not lines[-1]:
        lines.pop()
    head, totals = parameter_lines(model)
    atomic_write_text(path, "\n".join([head, *lines, *totals]) + "\n")
