"""Model names, aliases, width suffixes and model cards."""

from __future__ import annotations

import contextlib
import functools
import re
from dataclasses import dataclass

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from ..core.checks import MAX_WIDTH, MIN_WIDTH, integer, number, show
from ..core.errors import InvalidInputError, RooflineError, UnknownModelError, closest
from . import libraries
from .builder import build_arch
from .libraries import is_library_name, split
from .published import PUBLISHED, published, source
from .specs import ARCHS

BASE_NAMES: tuple[str, ...] = tuple(ARCHS)

_ALIASES: dict[str, str] = {
    "mobilenet-v1": "mnv1", "mobilenetv1": "mnv1", "mobilenet-v1-100": "mnv1",
    "mobilenet-v2": "mnv2", "mobilenetv2": "mnv2",
    "mobilenet-v3-large": "mnv3-l", "mobilenetv3-large": "mnv3-l", "mnv3-large": "mnv3-l",
    "mnv3": "mnv3-l", "mobilenet-v3": "mnv3-l",
    "mobilenet-v3-small": "mnv3-s", "mobilenetv3-small": "mnv3-s", "mnv3-small": "mnv3-s",
    "mobilenetv4-conv-small": "mnv4-conv-s", "mnv4-conv-small": "mnv4-conv-s",
    "mobilenetv4-conv-medium": "mnv4-conv-m", "mnv4-conv-medium": "mnv4-conv-m",
    "mobilenetv4-conv-large": "mnv4-conv-l", "mnv4-conv-large": "mnv4-conv-l",
    "mobilenetv4-hybrid-medium": "mnv4-hybrid-m", "mnv4-hybrid-medium": "mnv4-hybrid-m",
    "mobilenetv4-hybrid-large": "mnv4-hybrid-l", "mnv4-hybrid-large": "mnv4-hybrid-l",
}
for _b in BASE_NAMES:  # mobilenet-v4-conv-s and friends
    _ALIASES.setdefault(_b.replace("mnv", "mobilenetv", 1), _b)

_WIDTH_SUFFIX = re.compile(r"^(?P<base>.+?)[-_ ]?(?P<w>\d+(?:\.\d+)?)x$")
_TIMM_SUFFIX = re.compile(r"^(?P<base>.+?)-(?P<w>\d{3})$")  # timm style: mobilenetv2-140




@dataclass(frozen=True)
class ModelCard:
    """What the zoo knows about one model: its build facts and the published figures."""

    name: str
    base: str
    family: str
    width: float
    resolution: int
    params: int
    params_exact_published: int | None
    paper_params_m: float | None
    paper_macs_m: float | None
    top1_original: float | None
    top1_mnv4: float | None
    top1_mnv4_approx: bool
    source: str

    @property
    def top1(self) -> float | None:
        """Best known top-1 (%): the MobileNetV4 paper's retraining, else the original paper."""
        return self.top1_mnv4 if self.top1_mnv4 is not None else self.top1_original

    def rows(self) -> list[tuple[str, str]]:
        """(field, value) pairs for people: counts in k/M, accuracy in %, missing figures as '-'."""
        from ..core import units

        def opt(v: float | None, fmt: str) -> str:
            return "-" if v is None else format(v, fmt)

        top1 = "-" if self.top1 is None else (f"{self.top1:.1f} %" + (" (approx.)" if self.top1_mnv4_approx
                                                                      and self.top1_mnv4 is not None else ""))
        return [("family", self.family), ("width multiplier", f"{self.width:g}"),
                ("resolution", f"{self.resolution} px"), ("params (counted here)", f"{self.params:,}"),
                ("params (published, exact)", "-" if self.params_exact_published is None
                 else f"{self.params_exact_published:,}"),
                ("params (paper)", opt(self.paper_params_m, ".1f") + (" M" if self.paper_params_m else "")),
                ("MACs (paper)", "-" if self.paper_macs_m is None else units.count(self.paper_macs_m * 1e6)),
                ("top-1 on ImageNet-1k", top1), ("source", self.source)]

    def __str__(self) -> str:
        return f"{self.name}\n" + "\n".join(f"  {k}: {v}" for k, v in self.rows())

    def _repr_html_(self) -> str:
        from ..present.html import model_card_html

        return model_card_html(self)


def model_name(base: str, width: float) -> str:
    """Canonical name: ``mnv2`` at width 1, ``mnv2-1.5x`` otherwise."""
    if abs(width - 1.0) < 1e-9:
        return base
    w = f"{width:g}"
    return f"{base}-{w if '.' in w else w + '.0'}x"


def _normalise(name: str) -> str:
    return name.strip().lower().replace("_", "-")


def _base(name: str) -> str | None:
    return name if name in ARCHS else _ALIASES.get(name)


def resolve(name: str, width: float | None = None) -> tuple[str, float]:
    """Resolve a model name (alias, width suffix) and optional width to ``(base, width)``."""
    if not isinstance(name, str) or not name.strip():
        raise UnknownModelError(f"model name must be a non-empty string, got {show(name)}")
    if width is not None:
        width = number(width, "width multiplier")
    if is_library_name(name):
        if width is not None and width != 1.0:
            raise RooflineError(f"{name}: width multipliers are for zoo models; give the library's own name")
        source, model = split(name)
        return f"{source}:{model}", 1.0
    key = _normalise(name)
    base, suffix_width = _base(key), None
    if base is None:
        for pattern, scale in ((_WIDTH_SUFFIX, 1.0), (_TIMM_SUFFIX, 100.0)):
            m = pattern.match(key)
            if m and not m["base"].endswith(("-", "_", " ")) and _base(m["base"]) is not None:
                base, suffix_width = _base(m["base"]), float(m["w"]) / scale
                break
    suffix = name.strip().lower().rpartition(".")[2]
    if base is None and suffix in ("onnx", "tflite"):  # a graph file where a zoo name is read
        label = {"onnx": "an ONNX", "tflite": "a TFLite"}[suffix]
        raise UnknownModelError(f"{name!r} is {label} file: it is read where a model is traced (trace, analyze, "
                                f"report, sweep, pareto; {suffix}:PATH in a fit table), not built or run")
    if base is None:
        raise UnknownModelError(f"unknown model {name!r}{closest(key, list_models() + list(_ALIASES))}; "
                                f"'roofline models' lists them")
    if width is not None and suffix_width is not None and abs(width - suffix_width) > 1e-9:
        raise RooflineError(f"model {name!r} names width {suffix_width:g} but width={width:g} was given")
    w = width if width is not None else (suffix_width if suffix_width is not None else 1.0)
    if not (MIN_WIDTH <= w <= MAX_WIDTH):
        raise InvalidInputError(f"width multiplier must be from 1/64 to {MAX_WIDTH:g}, got {w:g}")
    return base, float(w)


def list_models() -> list[str]:
    """Every base model plus each width variant with published figures."""
    names = list(BASE_NAMES)
    names += [model_name(p.base, p.width) for p in PUBLISHED if abs(p.width - 1.0) > 1e-9]
    return names


class _SkipInit(TorchFunctionMode):
    """Skip weight initialisation: on the meta device there are no values to fill."""

    OPS = frozenset({torch.Tensor.uniform_, torch.Tensor.normal_, torch.Tensor.fill_, torch.Tensor.zero_,
                     nn.init.kaiming_uniform_, nn.init.kaiming_normal_, nn.init.uniform_, nn.init.normal_,
                     nn.init.zeros_, nn.init.ones_, nn.init.trunc_normal_})

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in self.OPS:
            return args[0] if args else next(iter((kwargs or {}).values()))
        return func(*args, **(kwargs or {}))


def build_model(name: str, width: float | None = None, num_classes: int = 1000,
                device: str | torch.device | None = None) -> nn.Module:
    """Build a zoo model as an ordinary ``nn.Module`` (eval mode).

    ``device="meta"`` builds without allocating weights: the tracer builds there.
    """
    base, w = resolve(name, width)
    num_classes = integer(num_classes, "num_classes", 1, 1 << 24)
    if is_library_name(base):
        return libraries.build(base, device if device is not None else "cpu")
    try:
        dev = torch.device(device if device is not None else "cpu")
    except (RuntimeError, TypeError):
        raise InvalidInputError(f"unknown device {show(device)}; use cpu, cuda or meta") from None
    try:
        with dev, (_SkipInit() if dev.type == "meta" else contextlib.nullcontext()):
            model = build_arch(ARCHS[base], w, num_classes)
    except (RuntimeError, AssertionError) as e:
        if dev.type in ("cpu", "meta"):
            raise
        raise InvalidInputError(f"cannot build on device {dev}: {str(e).splitlines()[0] if str(e) else 'unavailable'}"
                                ) from None
    return model.eval()


@functools.lru_cache(maxsize=None)
def _param_count(base: str, width: float) -> int:
    model = build_model(base, width, device="meta")
    return sum(p.numel() for p in model.parameters())


def native_resolution(name: str, width: float | None = None) -> int:
    """The input resolution ``name`` was trained at (its model card's, without building the model)."""
    base, _ = resolve(name, width)
    if is_library_name(base):
        return libraries.default_resolution(base)
    return ARCHS[base].resolution


def model_card(name: str, width: float | None = None) -> ModelCard:
    """The model card of ``name``: family, width, native resolution, exact params, published figures."""
    base, w = resolve(name, width)
    if is_library_name(base):
        lib, _ = split(base)
        return ModelCard(name=base, base=base, family=lib, width=1.0, resolution=libraries.default_resolution(base),
                         params=libraries.param_count(base), params_exact_published=None, paper_params_m=None,
                         paper_macs_m=None, top1_original=None, top1_mnv4=None, top1_mnv4_approx=False,
                         source=f"{lib} (built without weights)")
    spec, pub = ARCHS[base], published(base, w)
    return ModelCard(
        name=model_name(base, w), base=base, family=spec.family, width=w,
        resolution=spec.resolution, params=_param_count(base, w),
        params_exact_published=pub.params_exact if pub else None,
        paper_params_m=pub.paper_params_m if pub else None,
        paper_macs_m=pub.paper_macs_m if pub else None,
        top1_original=pub.top1_original if pub else None,
        top1_mnv4=pub.top1_mnv4 if pub else None,
        top1_mnv4_approx=pub.top1_mnv4_approx if pub else False,
        source=source(base),
    )
