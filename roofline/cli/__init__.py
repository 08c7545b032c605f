"""The ``roofline`` command line: a thin view over the Python API.

Every user error is a :class:`RooflineError` (or a click usage error), printed
as one line on stderr with exit code 2. One module per kind of command (models,
hardware, reports, measuring), the shared options and consoles in ``app``, how
results look in ``views``, the entry point in ``entry``.
"""

import gc

# the package (torch, pandas) is imported by now, and what it made lives as long as this process:
# frozen, it is not scanned again by every later collection (one cost ~90 ms during start-up)
gc.freeze()

# each module registers its commands on ``app``, in the order --help lists them
from . import models  # noqa: F401  (models, trace)
from . import hardware  # noqa: F401  (hw, analyze, derive)
from . import reports  # noqa: F401  (report, sweep, pareto, reproduce)
from . import measuring  # noqa: F401  (fit, profile, validate)
from . import space  # noqa: F401  (space, lut)
from . import cache  # noqa: F401  (cache)
from .app import app
from .entry import main, run

__all__ = ["app", "main", "run"]
