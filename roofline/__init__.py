"""roofline: roofline latency analysis for mobile vision networks.

Data flows one way: zoo -> trace -> engine (with a hardware profile) -> sweep / report.
"""

from importlib.metadata import PackageNotFoundError, version

from .conventions import CONVENTIONS, Convention
from .engine import Analysis, analyze
from .errors import RooflineError
from .hardware import HardwareProfile, list_hardware, load_hardware
from .trace import LayerTable, trace
from .zoo import ModelCard, build_model, list_models, model_card

try:
    __version__ = version("roofline")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["CONVENTIONS", "Analysis", "Convention", "HardwareProfile", "LayerTable", "ModelCard",
           "RooflineError", "__version__", "analyze", "build_model", "list_hardware", "list_models",
           "load_hardware", "model_card", "trace"]
