"""roofline: roofline latency analysis for mobile vision networks.

Data flows one way: zoo -> trace -> engine (with a hardware profile) -> sweep / report.
"""

from importlib.metadata import PackageNotFoundError, version

from .errors import RooflineError
from .trace import LayerTable, trace
from .zoo import ModelCard, build_model, list_models, model_card

try:
    __version__ = version("roofline")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["LayerTable", "ModelCard", "RooflineError", "__version__", "build_model", "list_models",
           "model_card", "trace"]
