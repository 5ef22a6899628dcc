"""Layer types from installed packages (the `kspec.layers` entry point): in the schema, the checker
and the compiler like built-ins; a broken plugin is skipped with a warning, never a crash."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

PLUGIN = '''
from typing import Literal

from pydantic import Field

from kspec.spec.layers import Inferred, Layer, ShapeError, Tensor


class Scale(Layer):
    """Multiplies its input by one trainable scalar."""

    type: Literal["Scale"]
    initial_value: float = Field(1.0, description="The scalar's initial value.")

    def infer(self, inputs):
        (x,) = inputs
        if x.dtype not in ("float16", "bfloat16", "float32", "float64"):
            raise ShapeError(f"Scale needs a floating-point input. Received: dtype={x.dtype}")
        return Inferred(Tensor(x.shape, "float32"), params=1)

    @classmethod
    def keras_layer_class(cls):
        from kspec_demo_plugin.keras_layers import ScaleLayer

        return ScaleLayer


LAYERS = [Scale]
'''

KERAS_LAYERS = '''
import keras


class ScaleLayer(keras.layers.Layer):
    def __init__(self, initial_value=1.0, **kwargs):
        super().__init__(**kwargs)
        self.initial_value = initial_value

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(), initializer=keras.initializers.Constant(self.initial_value))

    def call(self, x):
        return x * self.scale

    def compute_output_shape(self, input_shape):
        return input_shape
'''

SPEC = """
kspec: 1
name: scaled
model:
  input: {shape: [4]}
  layers:
    - {type: Scale, initial_value: 2.0}
    - {type: Dense, units: 1}
training: {loss: mse}
data: {source: {type: synthetic, samples: 32, seed: 1}}
"""


def install(site: Path, entry: str = "kspec_demo_plugin:LAYERS") -> None:
    pkg = site / "kspec_demo_plugin"
    pkg.mkdir(parents=True, exist_ok=True)
    (pkg / "__init__.py").write_text(PLUGIN)
    (pkg / "keras_layers.py").write_text(KERAS_LAYERS)
    info = site / "kspec_demo_plugin-1.0.dist-info"
    info.mkdir(exist_ok=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: kspec-demo-plugin\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[kspec.layers]\ndemo = {entry}\n")


def run(site: Path, cache: Path, *args: str, code: str | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(site), KSPEC_CACHE_DIR=str(cache), TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("KSPEC_NO_PLUGINS", None)
    argv = [sys.executable, "-c", code] if code else [sys.executable, "-c", "from kspec.cli import entry; entry()", *args]
    return subprocess.run(argv, capture_output=True, text=True, env=env, cwd=cwd, timeout=240)


@pytest.fixture
def site(tmp_path):
    site = tmp_path / "site"
    install(site)
    (tmp_path / "scaled.yaml").write_text(SPEC)
    return site


def test_a_plugin_layer_is_in_the_schema_and_checked_like_a_builtin(site, tmp_path):
    cache = tmp_path / "cache"
    schema = run(site, cache, "schema")
    assert schema.returncode == 0, schema.stderr
    assert '"Scale"' in schema.stdout and "Multiplies its input by one trainable scalar." in schema.stdout
    ok = run(site, cache, "validate", str(tmp_path / "scaled.yaml"))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "ok, 6 parameters" in ok.stdout  # 1 (Scale) + 4 + 1 (Dense)
    (tmp_path / "typo.yaml").write_text(SPEC.replace("type: Scale", "type: Scael"))
    bad = run(site, cache, "validate", str(tmp_path / "typo.yaml"))
    assert bad.returncode == 1 and "Did you mean 'Scale'?" in bad.stdout
    (tmp_path / "int.yaml").write_text(SPEC.replace("shape: [4]}", "shape: [4], dtype: int32}"))
    refused = run(site, cache, "validate", str(tmp_path / "int.yaml"))
    assert refused.returncode == 1 and "Scale needs a floating-point input" in refused.stdout


def test_a_plugin_layer_builds_checks_against_keras_and_trains(site, tmp_path):
    code = textwrap.dedent(f"""
        import numpy as np, kspec
        model = kspec.build_model({str(tmp_path / 'scaled.yaml')!r}, compile=True)
        assert model.count_params() == 6, model.count_params()
        assert type(model.layers[0]).__name__ == "ScaleLayer"
        assert float(model.layers[0].scale.numpy()) == 2.0
        model.fit(np.ones((8, 4), "float32"), np.ones((8, 1), "float32"), epochs=1, verbose=0)
        assert float(model.layers[0].scale.numpy()) != 2.0  # trained
        print("built")
    """)
    done = run(site, tmp_path / "cache", code=code)
    assert done.returncode == 0 and "built" in done.stdout, done.stderr[-2000:]


def test_the_discovered_plugins_are_cached_and_the_cache_follows_installs(site, tmp_path):
    cache = tmp_path / "cache"
    assert run(site, cache, "validate", str(tmp_path / "scaled.yaml")).returncode == 0
    cached = [json.loads(p.read_text()) for p in cache.glob("plugins-*.json")]
    assert [c["entries"] for c in cached] == [[["demo", "kspec_demo_plugin:LAYERS"]]]
    # Uninstalling changes the directory's modification time: the cached list is not trusted.
    import shutil

    shutil.rmtree(site / "kspec_demo_plugin-1.0.dist-info")
    gone = run(site, cache, "validate", str(tmp_path / "scaled.yaml"))
    assert gone.returncode == 1 and "unknown-layer" in gone.stdout + run(site, cache, "validate", "--format", "json", str(tmp_path / "scaled.yaml")).stdout


def test_a_broken_plugin_is_skipped_with_a_warning_not_a_traceback(tmp_path):
    site = tmp_path / "site"
    install(site, entry="kspec_missing_module:LAYERS")
    (tmp_path / "plain.yaml").write_text(SPEC.replace("    - {type: Scale, initial_value: 2.0}\n", ""))
    result = run(site, tmp_path / "cache", "validate", str(tmp_path / "plain.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kspec: warning: Skipped the kspec plugin 'demo'" in result.stderr
    assert "ModuleNotFoundError" in result.stderr and "Traceback" not in result.stderr


def test_a_plugin_cannot_replace_a_builtin_layer_type(tmp_path):
    site = tmp_path / "site"
    install(site)
    (site / "kspec_demo_plugin" / "__init__.py").write_text(PLUGIN.replace('Literal["Scale"]', 'Literal["Dense"]'))
    (tmp_path / "plain.yaml").write_text(SPEC.replace("    - {type: Scale, initial_value: 2.0}\n", ""))
    result = run(site, tmp_path / "cache", "validate", str(tmp_path / "plain.yaml"))
    assert result.returncode == 0
    assert "layer type 'Dense' is already a built-in layer type" in result.stderr


def test_no_plugins_means_the_builtin_set_only():
    from kspec.spec.layers import BUILTIN_LAYER_CLASSES, LAYER_CLASSES

    assert LAYER_CLASSES[: len(BUILTIN_LAYER_CLASSES)] == BUILTIN_LAYER_CLASSES
