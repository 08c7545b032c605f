"""The Typer app, its consoles and output formats, and the options every command shares (one spelling,
one help text)."""

from __future__ import annotations

import io
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from .. import __version__
from ..core.errors import OutputError, RooflineError
from ..core.reading import Mode
from ..core.io import write_atomic


def _untyped_help(cls):
    """``cls`` whose --help, like every other flag here, shows no type (typer labels flags <bool>)."""

    class Untyped(cls):
        def get_help_option(self, ctx):
            opt = super().get_help_option(ctx)
            if opt is not None:
                opt.metavar = ""
            return opt

    return Untyped


_Command = _untyped_help(typer.core.TyperCommand)


_Group = _untyped_help(typer.core.TyperGroup)


app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, cls=_Group,
                  help="Roofline latency analysis for mobile vision networks (MobileNetV4 paper, Eq. 1).")


class _LazyConsole:
    """A rich Console made on first use, not at import (stdout may be closed or replaced by then). No
    markup or emoji codes: what is printed holds user text (model and profile names, file names), and
    ``[/]`` or ``:smile:`` in it prints as written."""

    def __init__(self, stderr: bool) -> None:
        self._stderr = stderr
        self._console: Console | None = None

    def __getattr__(self, name: str):
        if self._console is None:
            if self._stderr:
                self._console = Console(stderr=True, highlight=False, soft_wrap=True, markup=False, emoji=False)
            else:
                tty = sys.stdout is not None and sys.stdout.isatty()
                self._console = Console(highlight=False, width=None if tty else _piped_width(), markup=False,
                                        emoji=False)
        return getattr(self._console, name)


def _piped_width() -> int:
    """Columns for output that goes to a pipe or file: $COLUMNS where set (20 to 1000), else 100."""
    text = os.environ.get("COLUMNS", "")
    return int(text) if text.isdigit() and 20 <= int(text) <= 1000 else 100


out = _LazyConsole(stderr=False)


err = _LazyConsole(stderr=True)


class _ClosedStdout(io.TextIOBase):
    """Standard output when it was closed: writing is a user error, not a traceback."""

    def writable(self) -> bool:
        return True

    def write(self, s: str) -> int:
        raise OutputError("standard output is closed: give -o FILE, or do not close it")

    def isatty(self) -> bool:
        return False


class Fmt(str, Enum):
    table = "table"
    csv = "csv"
    json = "json"
    markdown = "markdown"


class ValidateFmt(str, Enum):  # validate's result is a table of models plus summary figures: no markdown page
    table = "table"
    csv = "csv"
    json = "json"


def _version(value: bool) -> None:
    if value:
        print(f"roofline {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                                help="Print the version and exit.", metavar="")] = False) -> None:
    """Roofline latency analysis for mobile vision networks."""


def _emit(text: str, output: Optional[Path]) -> None:
    """Print ``text`` or write it atomically to ``output``."""
    if output is None or str(output) == "-":
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        write_atomic(output, text)
        err.print(f"wrote {output}")


_SUFFIX_FORMATS = {".csv": "csv", ".json": "json", ".md": "markdown", ".markdown": "markdown", ".txt": "table"}


_FIGURE_SUFFIXES = (".png", ".svg", ".pdf")


def _output_format(output: Optional[Path], fmt: "Fmt", figure_option: str = "") -> "Fmt":
    """The format of a text output: the file's suffix picks it (.csv, .json, .md) unless --format says
    otherwise; an image name is refused, never filled with text."""
    if output is None or str(output) == "-":
        return fmt
    suffix = output.suffix.lower()
    if suffix in _FIGURE_SUFFIXES:
        hint = f"; {figure_option} FILE{suffix} writes a figure" if figure_option else ""
        raise RooflineError(f"-o {output}: this command writes text (table, csv, json or markdown), not a "
                            f"{suffix[1:]} image{hint}")
    want = _SUFFIX_FORMATS.get(suffix)
    if want is not None and fmt is Fmt.table and want != "table":
        return Fmt(want)
    if want is not None and fmt is not Fmt.table and want not in (fmt.value, "table"):
        raise RooflineError(f"-o {output} names a {want} file but --format is {fmt.value}")
    return fmt


# One model argument everywhere: a positional MODEL or --model, with the same meaning in every command.
MODEL_HELP = ("a zoo name or alias (mnv4-conv-s, mnv2-1.5x), timm:NAME, torchvision:NAME, an ONNX file "
              "PATH.onnx (or onnx:PATH), a TFLite file PATH.tflite (or tflite:PATH), or a model file "
              "FILE.py:FACTORY (a function that returns the nn.Module; FILE a path)")


ModelsArg = Annotated[Optional[list[str]], typer.Argument(help=f"Models: {MODEL_HELP}.")]


UserModelsOpt = Annotated[Optional[list[str]], typer.Option("--model", help=f"A model, as a positional MODEL: "
                                                           f"{MODEL_HELP}; or MODULE:FACTORY. Repeat for "
                                                           f"several.")]


GroupOpt = Annotated[Optional[list[str]], typer.Option("--group", "--models", help="A model group: paper-fig2, "
                                                       "paper-fig3 or zoo.")]


FamilyOpt = Annotated[Optional[list[str]], typer.Option("--family", help="A family: mnv1, mnv2, mnv3, mnv4.")]


ModelFamilyOpt = Annotated[Optional[str], typer.Option(
    "--family", help="The model's family, for a fitted profile's family multipliers (mobilenetv2, resnet, "
    "fastvit); default: its architecture's (zoo, timm or torchvision); a model file has none unless given.")]


# The options every command that predicts shares, with one meaning everywhere.
def _one_hw(value: Optional[str]) -> Optional[str]:
    """A one-profile --hw: a pattern (all, kind:npu, 'pixel*') is the one profile it matches, else one
    error naming the profiles it matches."""
    from ..hardware.patterns import is_pattern, single_hardware

    return single_hardware(value) if value and is_pattern(value) else value


HwOpt = Annotated[Optional[str], typer.Option("--hw", callback=_one_hw, help="One hardware profile: a name "
                                             "('roofline hw' lists them) or a YAML file.")]


HwListOpt = Annotated[Optional[list[str]], typer.Option("--hw", help="Hardware profiles: a name or YAML file; "
                                                        "repeat for several, or give all, kind:cpu|gpu|dsp|npu "
                                                        "(every shipped profile of that kind) or a glob such "
                                                        "as 'pixel*'.")]


def _hw_list(names: Optional[list[str]]) -> list[str]:
    """The profiles of a repeatable --hw, its patterns (all, kind:npu, 'pixel*') expanded."""
    from ..hardware import expand_hardware

    if not names:
        raise RooflineError("missing --hw (one or more profiles; 'roofline hw' lists them)")
    return expand_hardware(names)


FittedOpt = Annotated[Optional[bool], typer.Option("--fitted/--spec", help="The profile's fitted roofline "
                                                   "(default where it has one) or its spec-sheet one.", metavar="")]


CalibratedOpt = Annotated[bool, typer.Option("--calibrated", help="The profile's measured per-op-class "
                                             "ceilings (at the batch nearest --batch; the default for a "
                                             "measured profile without a fit).", metavar="")]


DtypeOpt = Annotated[Optional[str], typer.Option(help="int8, fp16, bf16 or fp32 (default: the profile's; "
                                                 "int8 without one).")]


ConventionOpt = Annotated[Optional[str], typer.Option(help="Counting convention: default, mnv4-paper or unfused "
                                                      "(default: the one the execution mode implies).")]


ResolutionOpt = Annotated[Optional[int], typer.Option(help="Input height = width in pixels (default: each "
                                                      "model's native resolution).")]


WidthOpt = Annotated[Optional[float], typer.Option(help="Width multiplier (alpha).")]


BatchOpt = Annotated[int, typer.Option(help="Batch size.")]


ExecOpt = Annotated[Optional[str], typer.Option("--exec", help="fused (a deployed engine, default), eager "
                                                "(PyTorch eager) or graph (CUDA graphs): which kernels run and "
                                                "which per-kernel cost applies.")]


OverheadOpt = Annotated[bool, typer.Option("--overhead/--no-overhead", help="Add the profile's per-kernel and "
                                           "per-inference costs (default) or give Eq. 1 alone.", metavar="")]


OnChipOpt = Annotated[bool, typer.Option("--on-chip", help="Weights that fit in on-chip memory are not "
                                         "re-read from DRAM.", metavar="")]


UserModelOpt = Annotated[Optional[str], typer.Option("--model", help=f"A model, as a positional MODEL: "
                                                    f"{MODEL_HELP}; or MODULE:FACTORY.")]
InputShapeOpt = Annotated[Optional[list[str]], typer.Option("--input-shape", help="Full input shape, comma-separated, "
                                                            "e.g. 1,3,224,224; repeat it for each input of a "
                                                            "model with several.")]


VaryOpt = Annotated[str, typer.Option(help="What the ridge point varies: peak (PeakMACs = RP x bandwidth, the "
                                      "paper's) or bandwidth (bandwidth = PeakMACs / RP).")]


PeakOpt = Annotated[Optional[str], typer.Option("--peak", help="Peak MAC/s held fixed with --vary bandwidth: "
                                                "dtype=MAC/s as in derive (fp16=3.5e13, which also sets --dtype), "
                                                "or a bare MAC/s (default: the --hw profile's).")]


def _sweep_peak(text: Optional[str], dtype: Optional[str]) -> tuple[Optional[float], Optional[str]]:
    """sweep's and pareto's --peak: (MAC/s, dtype), from ``fp16=3.5e13`` (derive's spelling) or ``3.5e13``."""
    if text is None:
        return None, dtype
    dt, sep, value = text.rpartition("=") if "=" in text else ("", "", text)
    dt = dt.strip()
    try:
        peak = float(value)
    except ValueError:
        raise RooflineError(f"--peak must look like fp16=3.5e13 or 3.5e13, got {text!r}") from None
    if sep and not dt:
        raise RooflineError(f"--peak {text!r} names no dtype before '='; give fp16=3.5e13 or 3.5e13")
    if dt and dtype is not None and dt != dtype:
        raise RooflineError(f"--peak {text} is a {dt} peak but --dtype is {dtype}: give one dtype")
    return peak, (dt or dtype)


BwOpt = Annotated[Optional[float], typer.Option("--bw", help="Bandwidth held fixed, B/s (default: the --hw "
                                                "profile's, else 40e9, the paper's).")]


ModelArg = Annotated[Optional[str], typer.Argument(help=f"Model: {MODEL_HELP}.")]


def _mode(fitted: Optional[bool], calibrated: bool) -> Mode:
    """The roofline mode of --calibrated and --fitted/--spec (neither: auto)."""
    if calibrated and fitted is not None:
        raise RooflineError("give --calibrated or --fitted/--spec, not both")
    return Mode.CALIBRATED if calibrated else Mode.AUTO if fitted is None else (Mode.FITTED if fitted else Mode.SPEC)


def _parse_ints(text: str, option: str) -> tuple[int, ...]:
    try:
        values = tuple(int(p) for p in text.split(",") if p.strip())
    except ValueError:
        raise RooflineError(f"{option} must be integers separated by commas, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise RooflineError(f"{option} must be positive integers, got {text!r}")
    return values


def _parse_shape(text) -> Optional[tuple]:
    """``--input-shape 1,3,224,224`` (one input) or the option repeated (one shape per input)."""
    if text is None or (isinstance(text, list) and not text):
        return None
    texts = text if isinstance(text, list) else [text]
    shapes = []
    for t in texts:
        try:
            shapes.append(tuple(int(p) for p in t.replace("x", ",").split(",") if p.strip()))
        except ValueError:
            raise RooflineError(f"--input-shape must be integers separated by commas, got {t!r}") from None
    return shapes[0] if len(shapes) == 1 else tuple(shapes)


def _canonical_name(name: str) -> str:
    from ..zoo import model_name, resolve

    return model_name(*resolve(name))
