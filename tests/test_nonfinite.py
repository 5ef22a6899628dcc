"""Non-finite values: refused in loaded data (kspec.train.data), and caught in the weights during training
(kspec.train.callbacks: NanGuard, Checkpointer)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import kspec
from kspec.infer import infer
from kspec.train.data import DataError, Split, check_split, load_data

CSV_SPEC = """
kspec: 1
name: tab
model:
  input: {shape: [2]}
  layers:
    - {type: Dense, units: 2, activation: softmax}
training: {loss: sparse_categorical_crossentropy}
data:
  source: {type: csv, path: t.csv}
"""

NPZ_SPEC = """
kspec: 1
name: grid
model:
  input: {name: image, shape: [6, 6, 1]}
  layers:
    - {type: Flatten}
    - {type: Dense, units: 1, name: value}
training: {loss: mse}
data:
  source: {type: npz, path: data.npz}
"""

FINITE = "expected finite numbers (NaN, inf and -inf cannot be trained on)."


def build(text: str):
    spec = kspec.load_spec(text)
    return spec, infer(spec)


def refusal(tmp_path, text: str) -> str:
    spec, inf = build(text)
    with pytest.raises(DataError) as err:
        load_data(spec, inf, base_dir=tmp_path, seed=0)
    message = str(err.value)
    assert "\n" not in message
    return message


# ---- data --------------------------------------------------------------------------------------------------


def test_a_csv_nan_cell_names_row_line_and_column(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,0\n3,NaN,1\n")
    assert refusal(tmp_path, CSV_SPEC) == (
        f"Row 2 (line 3) of {tmp_path / 't.csv'} holds 'NaN' in column 'b', which is not a finite number; every "
        "column used as an input or a label must hold finite numbers (NaN, inf and -inf cannot be trained on)."
    )


def test_a_csv_inf_cell_names_row_line_and_column(tmp_path):
    (tmp_path / "t.csv").write_text("a,b,label\n\n1,2,0\n-inf,4,1\n")  # the blank line counts as a line
    assert refusal(tmp_path, CSV_SPEC) == (
        f"Row 2 (line 4) of {tmp_path / 't.csv'} holds '-inf' in column 'a', which is not a finite number; every "
        "column used as an input or a label must hold finite numbers (NaN, inf and -inf cannot be trained on)."
    )


@pytest.mark.parametrize("cell", ["nan", "Infinity", " +inf ", "1e999"])
def test_every_spelling_of_a_non_finite_csv_cell_is_refused(tmp_path, cell):
    (tmp_path / "t.csv").write_text(f"a,b,label\n1,2,0\n3,4,{cell}\n")
    assert refusal(tmp_path, CSV_SPEC).startswith(
        f"Row 2 (line 3) of {tmp_path / 't.csv'} holds {cell!r} in column 'label', which is not a finite number;"
    )


def test_an_npz_nan_in_x_names_the_example_and_the_position(tmp_path):
    x = np.zeros((20, 6, 6), np.float32)
    x[17, 3, 2] = np.nan
    np.savez(tmp_path / "data.npz", x=x, y=np.zeros(20, np.float32))
    assert refusal(tmp_path, NPZ_SPEC) == (
        "Example 17 (counting from 0) of field 'x' of data.npz holds nan at position [3, 2] of the example, which "
        f"is not a finite number; {FINITE}"
    )


def test_an_npz_inf_in_the_labels_names_the_array(tmp_path):
    y = np.zeros(20, np.float64)
    y[4] = np.inf
    y_test = np.zeros(3)
    y_test[1] = -np.inf
    np.savez(tmp_path / "data.npz", x_train=np.zeros((20, 6, 6)), y_train=y, x_test=np.zeros((3, 6, 6)), y_test=y_test)
    assert refusal(tmp_path, NPZ_SPEC) == (
        f"Example 4 (counting from 0) of field 'y' (y_train) of data.npz holds inf, which is not a finite number; {FINITE}"
    )
    y[4] = 0.0
    np.savez(tmp_path / "data.npz", x_train=np.zeros((20, 6, 6)), y_train=y, x_test=np.zeros((3, 6, 6)), y_test=y_test)
    assert refusal(tmp_path, NPZ_SPEC) == (
        f"Example 1 (counting from 0) of field 'y' (y_test) of data.npz holds -inf, which is not a finite number; {FINITE}"
    )


def test_check_split_refuses_non_finite_arrays_from_any_source():
    spec, inf = build(NPZ_SPEC)
    x = np.zeros((5, 6, 6, 1), np.float32)
    x[3, 0, 1, 0] = np.nan
    split = Split({"image": x}, {"value": np.zeros((5, 1), np.float32)}, {"inputs.image": "my arrays"})
    with pytest.raises(DataError) as err:
        check_split(split, inf, spec.training, where="training split")
    assert str(err.value) == (
        "Example 3 (counting from 0) of `data.inputs.image` (my arrays) in the training split holds nan at position "
        f"[0, 1, 0] of the example, which is not a finite number; {FINITE}"
    )
    labels = np.zeros((5, 1))
    labels[2, 0] = np.inf
    split = Split({"image": np.zeros((5, 6, 6, 1))}, {"value": labels})
    with pytest.raises(DataError) as err:
        check_split(split, inf, spec.training, where="validation split")
    assert str(err.value) == (
        "Example 2 (counting from 0) of `data.labels.value` (validation split) in the validation split holds inf at "
        f"position [0] of the example, which is not a finite number; {FINITE}"
    )


def test_a_value_the_cast_to_float32_overflows_is_refused():
    spec, inf = build(NPZ_SPEC)
    x = np.zeros((2, 6, 6, 1))
    x[1, 5, 5, 0] = -1e300
    with pytest.raises(DataError) as err:
        check_split(Split({"image": x}, {"value": np.zeros((2, 1))}), inf, spec.training, where="training split")
    assert str(err.value) == (
        "Example 1 (counting from 0) of `data.inputs.image` (training split) in the training split holds -1e+300 at "
        "position [5, 5, 0] of the example, which is outside the range of float32 (it would become -inf); expected "
        "finite numbers of at most 3.40282e+38 in magnitude."
    )


def test_integer_and_finite_data_still_load(tmp_path):
    np.savez(tmp_path / "data.npz", x=np.arange(20 * 36, dtype=np.uint8).reshape(20, 6, 6), y=np.ones(20))
    spec, inf = build(NPZ_SPEC)
    data = load_data(spec, inf, base_dir=tmp_path, seed=0)
    assert data.train.x["image"].dtype == np.float32 and np.isfinite(data.train.y["value"]).all()


# ---- weights during training --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def bn_model(keras):
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4, name="hidden"),
            keras.layers.BatchNormalization(name="norm"),
            keras.layers.Dense(1, name="head"),
        ]
    )
    model.compile(optimizer="sgd", loss="mse")
    return model


def poison_at(keras, epoch: int):
    """At the start of `epoch` the moving mean of 'norm' becomes NaN: training uses batch statistics, so the
    loss stays finite, but the model's weights (and its predictions) are broken."""

    class Poison(keras.callbacks.Callback):
        def on_epoch_begin(self, e, logs=None):
            if e == epoch:
                layer = self.model.get_layer("norm")
                layer.moving_mean.assign(np.full((4,), np.nan, np.float32))

    return Poison()


def test_nonfinite_weight_names_the_layer_and_the_variable(keras):
    from kspec.train.callbacks import nonfinite_weight

    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="inner_dense")], name="block")
    model = keras.Sequential([keras.Input((3,)), inner, keras.layers.Dense(1, name="out")])
    assert nonfinite_weight(model) is None
    model.get_layer("block").get_layer("inner_dense").bias.assign(np.array([0.0, -np.inf], np.float32))
    assert tuple(nonfinite_weight(model)) == ("inner_dense", "bias", -math.inf)


def test_the_guard_stops_at_non_finite_weights_and_no_checkpoint_is_written(keras, tmp_path):
    from kspec.train.callbacks import Checkpointer, NanGuard

    model = bn_model(keras)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    guard = NanGuard()
    history: dict[str, list[float]] = {}
    checkpointer = Checkpointer(run_dir, history, {"epochs_done": 0}, guard)
    x, y = np.ones((8, 3), np.float32), np.ones((8, 1), np.float32)
    model.fit(x, y, batch_size=4, epochs=4, verbose=0, callbacks=[guard, checkpointer, poison_at(keras, 1)])
    epoch, step, value = guard.bad  # still unpacks as run.py does
    assert (epoch, step) == (1, 1) and math.isnan(value)
    assert guard.reason == "the weights of layer 'norm' became non-finite (its moving_mean holds nan)"
    assert checkpointer.epochs_done == 1 and len(history["loss"]) == 1  # epoch 2 is neither recorded nor saved
    state = json.loads((run_dir / "checkpoint" / "state.json").read_text())
    assert state["epochs_done"] == 1
    assert math.isfinite(history["loss"][0])


def test_the_checkpointer_checks_the_weights_itself_without_a_guard(keras, tmp_path):
    from kspec.train.callbacks import Checkpointer

    model = bn_model(keras)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    checkpointer = Checkpointer(run_dir, {}, {"epochs_done": 0})
    model.fit(
        np.ones((8, 3)),
        np.ones((8, 1)),
        batch_size=4,
        epochs=1,
        verbose=0,
        callbacks=[poison_at(keras, 0), checkpointer],
    )
    assert checkpointer.epochs_done == 0 and not (run_dir / "checkpoint").exists()


def test_the_guard_records_the_first_non_finite_loss(keras):
    from kspec.train.callbacks import NanGuard

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=1e6), loss="mse")
    guard = NanGuard()
    x = np.random.default_rng(0).standard_normal((64, 2)).astype(np.float32) * 100
    model.fit(x, x[:, :1] * 1e3, batch_size=8, epochs=3, verbose=0, callbacks=[guard])
    assert guard.bad is not None and guard.bad.epoch == 0
    assert not math.isfinite(guard.bad.value) and guard.reason == f"the loss became {guard.bad.value}"


# ---- a whole run ---------------------------------------------------------------------------------------------

HUGE_INPUTS = """\
kspec: 1
name: huge
model:
  input: {shape: [4]}
  layers:
    - {type: Dense, units: 8}
    - {type: BatchNormalization}
    - {type: Dense, units: 1}
training:
  optimizer: {type: SGD, learning_rate: 0.01}
  loss: mse
  epochs: 3
  batch_size: 4
  seed: 1
data:
  source: {type: npz, path: huge.npz}
  shuffle: false
"""


def test_a_run_whose_weights_become_non_finite_fails_though_the_loss_is_finite(tmp_path):
    """Inputs of ±1e20 are finite, but their batch variance overflows float32: BatchNormalization's moving
    variance becomes inf while the normalised outputs, and so the loss, stay finite."""
    pytest.importorskip("keras")
    from kspec.train.run import TrainError, TrainOptions, build_and_train

    x = np.full((8, 4), 1e20, np.float32)
    x[::2] = -1e20
    np.savez(tmp_path / "huge.npz", x=x, y=np.ones((8, 1), np.float32))
    (tmp_path / "huge.yaml").write_text(HUGE_INPUTS)
    out = tmp_path / "run"
    with pytest.raises(TrainError) as err:
        build_and_train(str(tmp_path / "huge.yaml"), TrainOptions(output=str(out), verbose=0), echo=lambda _: None)
    assert str(err.value).startswith(
        "Training stopped: the weights of layer 'batch_normalization' became non-finite (its moving_variance holds "
        "inf) in epoch 1 (by step 2). No epoch completed, so there is no checkpoint; the final model was not written."
    )
    assert json.loads((out / "run.json").read_text())["status"] == "failed"
    assert not (out / "model.keras").exists() and not (out / "checkpoint").exists()
