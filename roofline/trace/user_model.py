"""Load a user's model from ``path/to/file.py:factory`` or ``package.module:factory``."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

from torch import nn

from ..core.errors import TraceError, describe_exception
from ..core.interrupts import Terminated, is_real


def _reraise_real_interrupt(e: BaseException) -> None:
    if isinstance(e, (KeyboardInterrupt, Terminated)) and is_real(e):
        raise e


def user_output():
    """While a user's code runs, what it prints goes to stderr: machine-readable output on stdout
    (``--format json``) stays valid."""
    import contextlib

    return contextlib.redirect_stdout(sys.stderr if sys.stderr is not None else None)


USER_MODEL_RESOLUTION = 224  # a model file given no shape or resolution runs on one 224-pixel RGB image


def is_model_spec(name: str) -> bool:
    """Whether ``name`` names a user's model (``file.py:factory``, ``package.module:factory``), not a zoo
    or library model (``timm:resnet18``) or a graph file (``onnx:PATH``, ``PATH.onnx``, ``tflite:PATH``,
    ``PATH.tflite``: data, read by :func:`roofline.trace.trace`, never run as code)."""
    from ..zoo.libraries import is_library_name
    from .graph_file import is_graph_file

    return ":" in name and not is_library_name(name) and not is_graph_file(name)


def load_factory(spec: str) -> nn.Module:
    """Import ``spec``'s module, call its factory with no arguments, and return the Module."""
    with user_output():
        return _load_factory(spec)


def check_spec(spec: str) -> tuple[str, str]:
    """``spec``'s module (or file) and factory, checked without importing anything: a malformed spec or a
    missing file fails before any work starts."""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr:
        raise TraceError(f"model spec {spec!r} must look like path/to/file.py:factory or package.module:factory")
    if _is_path(target) and not Path(target).is_file():
        raise TraceError(f"model file {target} does not exist")
    return target, attr


def check_data_spec(spec: str, where: str) -> tuple[str, str]:
    """``spec`` as a data file (a table, a report) may name it: only a model file given by its path
    (``path/to/file.py:factory``, the file existing), never a module to import (``os:abort`` would run
    whatever that module's function does). ``where`` (``t.csv: line 3``) starts the message. A graph file
    (``onnx:PATH``, ``PATH.onnx``, ``tflite:PATH``, ``PATH.tflite``) is data: named as it is, the file existing."""
    from .graph_file import graph_path, is_graph_file

    if is_graph_file(spec):
        try:
            graph_path(spec)
        except TraceError as e:
            raise TraceError(f"{where}: {e}") from None
        return spec, ""
    target, sep, attr = spec.rpartition(":")
    if not sep or not target or not attr or not target.endswith(".py"):
        raise TraceError(f"{where}: model {spec!r} names a module to import; a data file runs code only from a "
                         f"model file named by its path (path/to/file.py:factory); give module:factory models "
                         f"on the command line (--model)")
    if not Path(target).is_file():
        raise TraceError(f"{where}: model file {target} does not exist")
    return target, attr


def _is_path(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


def _load_factory(spec: str) -> nn.Module:
    target, attr = check_spec(spec)
    try:
        if _is_path(target):
            path = Path(target)
            mod_name = f"_roofline_user_{abs(hash(str(path.resolve())))}"
            loader_spec = importlib.util.spec_from_file_location(mod_name, path)
            if loader_spec is None or loader_spec.loader is None:
                raise TraceError(f"cannot import {target}")
            module = importlib.util.module_from_spec(loader_spec)
            sys.modules[mod_name] = module
            loader_spec.loader.exec_module(module)
        else:
            module = importlib.import_module(target)
    except TraceError:
        raise
    except BaseException as e:  # the user's code: report its error, whatever it is, in one line
        _reraise_real_interrupt(e)
        raise TraceError(f"importing {target} failed: {describe_exception(e)}") from e
    factory = getattr(module, attr, None)
    if factory is None:
        raise TraceError(f"{target} has no attribute {attr!r}")
    if isinstance(factory, nn.Module):
        return factory
    if not callable(factory):
        raise TraceError(f"{target}:{attr} is not callable")
    try:
        model = factory()
    except BaseException as e:
        _reraise_real_interrupt(e)
        raise TraceError(f"{target}:{attr}() raised {describe_exception(e)}") from e
    if not isinstance(model, nn.Module):
        raise TraceError(f"{target}:{attr}() returned {type(model).__name__}, not a torch.nn.Module")
    return model
