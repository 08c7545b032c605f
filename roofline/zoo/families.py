"""A model's family, from where its architecture is defined, not from its name's first word.

- a zoo model: the zoo's family (``mnv4-conv-s`` -> ``mobilenetv4``);
- ``timm:NAME``: the timm module whose entrypoint builds it, and where one module holds several
  architectures the generator its entrypoint calls (``timm:mobilenetv2_100`` is
  ``efficientnet.py``'s ``_gen_mobilenet_v2``: ``mobilenetv2``; ``tf_efficientnet_b0`` and
  ``efficientnet_b0`` are both ``_gen_efficientnet``: ``efficientnet``; ``resnet50`` and ``resnet101``
  are both ``resnet.py``: ``resnet``);
- ``torchvision:NAME``: the torchvision module of its builder (``mobilenet_v2`` -> ``mobilenetv2``).

The source key is mapped to a canonical family by :data:`roofline.core.taxonomy.FAMILY_ALIASES`, so one
network from any source is one family. Anything else has none: a user's model file
(``file.py:factory``), a user's ``nn.Module`` (its class name, ``TinyNet``, is not a zoo name), an unknown
name, or a library that is not installed. Both libraries are optional and imported only for their own
names; answers are cached per name.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import re

from ..core.errors import RooflineError
from ..core.taxonomy import MIXED_MODULES, canonical_family
from .libraries import SOURCES
from .registry import resolve
from .specs import ARCHS


def model_family(name: object) -> str | None:
    """The canonical family of a zoo or library model ``name``, or None (see the module docstring)."""
    key = source_key(name) if isinstance(name, str) else None
    return None if key is None else canonical_family(key)


@functools.lru_cache(maxsize=8192)
def source_key(name: str) -> str | None:
    """Where ``name``'s architecture comes from: ``zoo:mobilenet_v2``, ``timm:efficientnet.mobilenet_v2``,
    ``torchvision:mobilenetv2``; None for a name with no family."""
    name = name.strip()
    source, sep, model = name.partition(":")
    if sep:
        if source not in SOURCES or not model.strip():
            return None  # a model file (path/to/file.py:factory) or no model at all
        try:
            tail = (_timm if source == "timm" else _torchvision)(model.strip())
        except Exception:  # noqa: BLE001  a library missing or broken: no family, never a failure
            tail = None
        return None if tail is None else f"{source}:{tail}"
    if name != name.lower():
        return None  # zoo names are lower case; a user's class name (MobileNetV2, TinyNet) is not one
    try:
        base, _ = resolve(name)
    except RooflineError:
        return None
    return f"zoo:{ARCHS[base].family}"


def _arch_word(name: str) -> str:
    """The architecture word of a model name inside a module that holds several: its first word, without
    the digits of a size, with a version word kept (``mobileone_s0`` -> ``mobileone``, ``resnet51q`` ->
    ``resnet``, ``convnextv2_atto`` -> ``convnextv2``, ``efficientnet_v2_s`` -> ``efficientnetv2``)."""
    parts = name.lower().split(".", 1)[0].split("_")
    word = parts[0]
    if not re.search(r"v\d+$", word):
        word = re.sub(r"(?<=[a-z])\d+[a-z]{0,2}$", "", word)
    if len(parts) > 1 and re.fullmatch(r"v\d+", parts[1]):
        word += parts[1]
    return word


def _timm(model: str) -> str | None:
    timm_models = importlib.import_module("timm.models")
    arch = timm_models.get_arch_name(model)  # without the pretrained tag (efficientvit_b1.r224_in1k)
    if not timm_models.is_model(arch):
        return None
    entry = inspect.unwrap(timm_models.model_entrypoint(arch))
    module = entry.__module__.rsplit(".", 1)[-1]
    code = getattr(entry, "__code__", None)
    gens = [n for n in (code.co_names if code is not None else ()) if n.startswith("_gen_")]
    if gens:
        return f"{module}.{gens[0][len('_gen_'):]}"
    if module in MIXED_MODULES["timm"]:
        return f"{module}.{_arch_word(arch)}"
    return module


def _torchvision(model: str) -> str | None:
    models = importlib.import_module("torchvision.models")
    try:
        builder = models.get_model_builder(model)
    except (ValueError, KeyError):
        return None
    path = builder.__module__.removeprefix("torchvision.models.").split(".")
    module = "_".join(p for p in path if p != "quantization")  # a quantized build is its float architecture
    if module in MIXED_MODULES["torchvision"]:
        return f"{module}.{_arch_word(model)}"
    return module
