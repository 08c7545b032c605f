"""Ctrl-C and SIGTERM for the command line: end with one line and the conventional exit code.

The CLI installs handlers that record a real interrupt before raising, so code
that runs a user's model can tell a real Ctrl-C (which ends the program) from a
``KeyboardInterrupt`` or ``SystemExit`` raised by the user's own code (which is
an error of that model). Without the handlers (the Python API) every
``KeyboardInterrupt`` counts as real.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable

_installed = False
_interrupted = False


class Terminated(BaseException):
    """SIGTERM, raised like KeyboardInterrupt so that ``finally`` blocks remove temporary files."""


def _on_sigint(signum, frame) -> None:  # noqa: ANN001
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _on_sigterm(signum, frame) -> None:  # noqa: ANN001
    raise Terminated


def keep(sig: signal.Signals, handler: Callable) -> None:
    """Handle ``sig`` with ``handler`` unless the process inherited it as ignored (a shell's background job
    ignores SIGINT: Ctrl-C in that terminal is not meant for it), as Python itself does."""
    if signal.getsignal(sig) != signal.SIG_IGN:
        signal.signal(sig, handler)


def install() -> Callable[[], None]:
    """Install the CLI's handlers (main thread only); returns a function that restores the old ones."""
    global _installed, _interrupted
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    old = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM), _installed
    _interrupted = False
    keep(signal.SIGINT, _on_sigint)
    keep(signal.SIGTERM, _on_sigterm)
    _installed = True

    def restore() -> None:
        global _installed
        signal.signal(signal.SIGINT, old[0])
        signal.signal(signal.SIGTERM, old[1])
        _installed = old[2]

    return restore


def is_real(exc: BaseException) -> bool:
    """Whether ``exc`` (a KeyboardInterrupt or Terminated) came from a signal, not from user code."""
    if isinstance(exc, Terminated):
        return True
    return not _installed or _interrupted


def die_with_parent(parent: int) -> None:
    """In a child process (a timing process, a trace pool worker): be killed when the process
    ``parent`` that started it ends, however it ends (an interrupted ``validate`` or a killed
    ``fit -j`` leaves nothing running on the cores). Linux only; elsewhere a no-op."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, 9)  # PR_SET_PDEATHSIG, SIGKILL
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent ended before the request: end now
        os._exit(1)
