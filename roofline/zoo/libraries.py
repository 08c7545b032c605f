"""Models from timm and torchvision by name: ``timm:convnext_small``, ``torchvision:resnet18``.

They are built without weights (pretrained off; on the meta device when tracing)
and in inference form: timm's reparameterizable models (MobileOne, FastViT,
RepVGG, ...) are reparameterized as deployment does. The default resolution is
the model's own: timm's pretrained config input size, torchvision's default
weights' crop size (299 for inception_v3). Both libraries are optional extras.
"""

from __future__ import annotations

import fnmatch
import functools
import importlib
import inspect
from typing import Any

import torch
from torch import nn

from ..core.errors import RooflineError, TraceError, UnknownModelError, closest

SOURCES = ("timm", "torchvision")


def is_library_name(name: object) -> bool:
    return isinstance(name, str) and ":" in name and name.split(":", 1)[0] in SOURCES


def split(name: str) -> tuple[str, str]:
    source, _, model = name.partition(":")
    if source not in SOURCES:
        raise UnknownModelError(f"unknown model source {source!r}; use {', '.join(s + ':NAME' for s in SOURCES)}")
    if not model.strip():
        raise UnknownModelError(f"model name {name!r} names no model after '{source}:'")
    return source, model.strip()


@functools.cache
def library(source: str) -> Any:
    """The imported library, or a one-line error naming the extra to install."""
    try:
        return importlib.import_module(source)
    except ImportError:
        raise RooflineError(f"{source} models need the {source} extra: pip install \"roofline[{source}]\"") from None
    except Exception as e:  # noqa: BLE001  a library that is installed but broken (a torch mismatch)
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise RooflineError(f"{source} is installed but cannot be imported here ({first}); it must match the "
                            f"installed torch {torch.__version__}") from None


def available(source: str, pattern: str = "*") -> list[str]:
    """``source:NAME`` for every classification model the library builds whose name matches ``pattern``."""
    lib = library(source)
    if source == "timm":
        names = lib.list_models(pattern)
    else:
        names = [n for n in lib.models.list_models(module=lib.models) if fnmatch.fnmatch(n, pattern)]
    return [f"{source}:{n}" for n in sorted(names)]


def build(name: str, device: str | torch.device = "meta") -> nn.Module:
    """Build ``name`` without weights, in inference form (eval, reparameterized)."""
    source, model = split(name)
    lib = library(source)

    def make(dev: str | torch.device) -> nn.Module:
        with torch.device(dev):
            if source == "timm":
                return lib.create_model(model, pretrained=False)
            builder = lib.models.get_model_builder(model)
            extra = {"weights_backbone": None} if "weights_backbone" in inspect.signature(builder).parameters else {}
            return builder(weights=None, **extra)  # no download: detection and segmentation backbones too

    try:
        try:
            m = make(device)
        except (RuntimeError, NotImplementedError) as e:
            if torch.device(device).type != "meta" or "meta" not in str(e):
                raise
            m = make("cpu")  # its initialisation reads weight values: build it for real (traced on meta)
    except (RuntimeError, KeyError, ValueError) as e:
        known = [n.split(":", 1)[1] for n in available(source)]
        if model not in known:
            raise UnknownModelError(f"unknown {source} model {model!r}{closest(model, known)}; "
                                    f"'roofline models --source {source}' lists them") from None
        raise RooflineError(f"{name} cannot be built: {str(e).splitlines()[0] if str(e) else type(e).__name__}"
                            ) from None
    m.eval()
    if source == "timm":
        from timm.utils.model import reparameterize_model

        where = next((p.device for p in m.parameters()), torch.device(device))
        with torch.device(where):  # the fused layers it creates live where the model does
            m = reparameterize_model(m, inplace=True)
    return m


@functools.cache
def default_resolution(name: str) -> int:
    """The model's own input size: timm's pretrained config, torchvision's default weights' crop."""
    source, model = split(name)
    lib = library(source)
    if source == "timm":
        cfg = lib.get_pretrained_cfg(model)
        size = getattr(cfg, "input_size", None) if cfg is not None else None
        if size is None:
            size = build(name).pretrained_cfg.get("input_size", (3, 224, 224))
        return int(size[-1])
    try:
        weights = lib.models.get_model_weights(model).DEFAULT
    except (ValueError, KeyError, AttributeError):
        return 224
    t = weights.transforms()
    # classification and video weights crop; segmentation weights resize; detection and optical flow
    # weights take any size and say none
    for attr in ("crop_size", "resize_size"):
        size = getattr(t, attr, None)
        if size:
            return int(size[0] if isinstance(size, (list, tuple)) else size)
    raise TraceError(f"{name}: torchvision's {type(t).__name__} weights set no input size; give --resolution "
                     f"(or --input-shape; resolution= or input_shape= in Python)")


@functools.cache
def param_count(name: str) -> int:
    return sum(p.numel() for p in build(name).parameters())
