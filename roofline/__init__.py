"""roofline: roofline latency analysis for mobile vision networks.

Data flows one way: zoo -> trace -> engine (with a hardware profile) -> sweep / report.
"""

import os as _os
import signal as _signal
import sys as _sys
import threading as _threading


def _interrupted_while_importing(signum, frame):  # noqa: ANN001
    _sys.stderr.write("error: interrupted\n" if signum == _signal.SIGINT else "error: terminated\n")
    _os._exit(130 if signum == _signal.SIGINT else 143)


# The command line imports torch through this package (2-14 s): Ctrl-C or SIGTERM then ends it with one
# line and the documented code, not a traceback or a silent kill. Only in the `roofline` command: a
# notebook's Ctrl-C stays a KeyboardInterrupt. Installed before any other import, importlib.metadata
# included.
_argv0 = _sys.argv[0] if getattr(_sys, "argv", None) else ""
_cli = (_os.path.basename(_argv0) in ("roofline", "roofline.exe") or _argv0 == "-m"
        or _argv0.endswith(_os.path.join("roofline", "cli.py")))
# Each signal on its own: one the process inherited as ignored stays ignored (a shell's background job
# ignores SIGINT, and SIGTERM must still end it with its line).
_guard = _cli and _threading.current_thread() is _threading.main_thread()
if _guard and _signal.getsignal(_signal.SIGINT) is _signal.default_int_handler:
    _signal.signal(_signal.SIGINT, _interrupted_while_importing)
if _guard and _signal.getsignal(_signal.SIGTERM) == _signal.SIG_DFL:
    _signal.signal(_signal.SIGTERM, _interrupted_while_importing)

from importlib.metadata import PackageNotFoundError, version  # noqa: E402

from .core.conventions import CONVENTIONS, Convention  # noqa: E402
from .engine import Analysis, analyze  # noqa: E402
from .core.errors import RooflineError  # noqa: E402
from .hardware import HardwareProfile, list_hardware, load_hardware  # noqa: E402
from .trace import LayerTable, trace  # noqa: E402
from .zoo import ModelCard, build_model, list_models, model_card  # noqa: E402
from .studies.space import SearchSpace, space  # noqa: E402  (architecture search: roofline.space)

# In the command line the handlers stay until roofline.cli.main installs its own (the CLI module's
# imports come after this package's): no window in which a signal ends it with a traceback.

try:
    __version__ = version("roofline")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = ["CONVENTIONS", "Analysis", "Convention", "HardwareProfile", "LayerTable", "ModelCard",
           "RooflineError", "SearchSpace", "__version__", "analyze", "build_model", "list_hardware",
           "list_models", "load_hardware", "model_card", "space", "trace"]
