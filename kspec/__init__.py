"""kspec: a declarative model-spec compiler for Keras.

Checking (`load_spec`, `check`, `json_schema`) never imports TensorFlow or Keras.
"""

from .check import Report, check, load_spec
from .diagnostics import Diagnostic, SpecError
from .spec import Spec, json_schema

__version__ = "0.1.0"
__all__ = ["Diagnostic", "Report", "Spec", "SpecError", "check", "json_schema", "load_spec", "__version__"]
