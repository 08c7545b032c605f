"""roofline: roofline latency analysis for mobile vision networks.

Data flows one way: zoo -> trace -> engine (with a hardware profile) -> sweep / report.
"""

import os as _os
import signal as _signal
import sys as _sys
import threading as _threading
from importlib.metadata import PackageNotFoundError, version


def _interrupted_while_importing(signum, frame):  # noqa: ANN001
    _sys.stderr.write("error: interrupted\n")
    _os._exit(130)


# The command line imports torch through this package; a Ctrl-C then ends it with one line, not a
# traceback (only in the `roofline` command: a notebook's Ctrl-C stays a KeyboardInterrupt).
_argv0 = _sys.argv[0] if getattr(_sys, "argv", None) else ""
_cli = (_os.path.basename(_argv0) in ("roofline", "roofline.exe") or _argv0 == "-m"
        or _argv0.endswith(_os.path.join("roofline", "cli.py")))
_guard = (_cli and _threading.current_thread() is _threading.main_thread()
          and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler)
if _guard:
    _signal.signal(_signal.SIGINT, _interrupted_while_importing)

from .conventions import CONVENTIONS, Convention  # noqa: E402
from .engine import Analysis, analyze  # noqa: E402
from .errors import RooflineError  # noqa: E402
from .hardware import HardwareProfile, list_hardware, load_hardware  # noqa: E402
from .trace import LayerTable, trace  # noqa: E402
from .zoo import ModelCard, build_model, list_models, model_card  # noqa: E402

if _guard:
    _signal.signal(_signal.SIGINT, _signal.default_int_handler)

try:
    __version__ = version("roofline")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["CONVENTIONS", "Analysis", "Convention", "HardwareProfile", "LayerTable", "ModelCard",
           "RooflineError", "__version__", "analyze", "build_model", "list_hardware", "list_models",
           "load_hardware", "model_card", "trace"]
