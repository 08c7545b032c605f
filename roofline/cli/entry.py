"""The entry point: run a command, and turn every user error into one line and exit code 2."""

from __future__ import annotations

import os
import signal
import sys

import typer

from ..core import interrupts
from ..core.errors import RooflineError

from .app import app, _ClosedStdout


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and turn user errors into one line and exit code 2.

    Ctrl-C ends with ``error: interrupted`` and 130, SIGTERM with ``error: terminated`` and 143;
    temporary files are removed on the way out.
    """
    restore = interrupts.install()
    try:
        return _main(argv)
    finally:
        restore()


_ASCII = {"µ": "u", "×": "x", "–": "-", "—": "-", "…": "...", "≤": "<=", "≥": ">=", "→": "->", "±": "+/-",
          "²": "^2", "·": "."}


def _ascii_fallback(e: UnicodeError):
    if not isinstance(e, UnicodeEncodeError):
        raise e
    return "".join(_ASCII.get(c, "?") for c in e.object[e.start:e.end]), e.end


def _fit_terminal_encoding() -> None:
    """Where the terminal's encoding has no µ, × or – (PYTHONIOENCODING=ascii, a C locale), print
    ASCII stand-ins (u, x, -) instead of failing."""
    import codecs

    try:
        codecs.lookup_error("roofline-ascii")
    except LookupError:
        codecs.register_error("roofline-ascii", _ascii_fallback)
    for stream in (sys.stdout, sys.stderr):
        enc = getattr(stream, "encoding", None)
        if not enc or not hasattr(stream, "reconfigure"):
            continue
        try:
            "µ×–".encode(enc)
        except (UnicodeEncodeError, LookupError):
            try:
                stream.reconfigure(errors="roofline-ascii")
            except (ValueError, OSError):
                pass


def _main(argv: list[str] | None) -> int:
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    try:  # everything inside: a signal may arrive at any moment, building the command included
        _fit_terminal_encoding()
        _ascii_digits(sys.argv[1:] if argv is None else argv)
        command = typer.main.get_command(app)
        rv = command.main(args=argv, prog_name="roofline", standalone_mode=False)
    except RooflineError as e:
        _error_line(str(e))
        return 2
    except KeyboardInterrupt:
        _error_line("interrupted")
        return 130
    except interrupts.Terminated:
        _error_line("terminated")
        return 143
    except BrokenPipeError:
        return 141  # the reader went away (roofline ... | head): nothing to say
    except OSError as e:  # standard output or error closed or broken under us (a user's model closed fd 1)
        _error_line(f"cannot write the output: {e.strerror or e}")
        return 2
    except Exception as e:
        # click's exceptions (typer may vendor its own copy of click: match by class name)
        kinds = {c.__name__ for c in type(e).__mro__}
        if "NoArgsIsHelpError" in kinds:
            e.show()  # type: ignore[attr-defined]
            return 0
        if "Exit" in kinds:
            code = int(getattr(e, "exit_code", 0))
            if code == 130:  # typer's way of saying KeyboardInterrupt
                _error_line("interrupted")
            return code
        if "Abort" in kinds:
            _error_line("interrupted")
            return 130
        if "ClickException" in kinds:
            _error_line(e.format_message())  # type: ignore[attr-defined]
            return int(getattr(e, "exit_code", 2))
        raise
    if rv == 130:  # typer returns 130 (instead of raising) when Ctrl-C interrupted a command
        _error_line("interrupted")
    return rv if isinstance(rv, int) else 0


def _ascii_digits(args: list[str]) -> None:
    """One policy for numbers everywhere: ASCII digits only (Python's float() would take ٥ and ５)."""
    for a in args:
        if any(ch.isdigit() and not ch.isascii() for ch in str(a)):
            raise RooflineError(f"{str(a)!r}: write numbers with ASCII digits (0-9)")


def _error_line(message: str) -> None:
    """One line on stderr: ``error: <message>``."""
    text = " ".join(str(message).split())
    if sys.stderr is not None:
        sys.stderr.write(f"error: {text}\n")


def run() -> None:
    code = main()

    def quiet(signum, frame) -> None:  # noqa: ANN001 - the output is complete: end with the code, silently
        os._exit(130 if signum == signal.SIGINT else 143)

    interrupts.keep(signal.SIGINT, quiet)
    interrupts.keep(signal.SIGTERM, quiet)
    sys.exit(code)
