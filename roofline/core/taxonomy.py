"""The op taxonomy: every op kind a trace emits, and how the engine, the fit, the profiler and
the figures read it. One table (:data:`OPS`); everything else reads it.

An op kind (``conv2d``, ``dwconv2d``, ``gelu``, ``pool``, ...) is what a counting rule
(``roofline.trace.rules``) names an aten op. The table says, per kind:

- ``categories``: how the rules count it (``compute``: MACs, starts a layer; ``elementwise``: folds
  into its producer's epilogue when it has one activation input; ``memory``: a row of its own);
- ``efficiency``: its efficiency class (``roofline.engine.efficiency``: the fraction of its roofline
  a fitted profile says it attains), one of :data:`COMPUTE_CLASSES` or :data:`MEMORY_CLASSES`;
- ``candidates``: the measured (calibrated) classes a layer of the kind may run at, most specific
  first: a profile's ceilings use the first they have (``roofline.measure.probes`` measures them);
- ``group``: the op type views and figures group layers by (:data:`VIEW_GROUPS`).

:data:`VARIANTS` are kinds told apart further for measured ceilings only (:func:`measured_ops`):
a max pool and a spatial mean are both ``pool`` rows, but CPU kernels for them differ 50-fold.

Op names not in the table (a user's own rules, ops without a rule) are memory-only ``elementwise``
rows in the ``memory`` group, measured as their own name.

Also the model families a fit's whole-model multipliers belong to (:data:`FAMILY_ALIASES`,
:func:`canonical_family`; :mod:`roofline.zoo.families` resolves a model's).
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

import pandas as pd

from .errors import InvalidInputError, RooflineError

# how rules count an op (roofline.trace.rules.Count.category)
COMPUTE, ELEMENTWISE, MEMORY = "compute", "elementwise", "memory"

# efficiency classes (roofline.engine.efficiency): the fraction of its roofline a layer attains
COMPUTE_CLASSES = ("conv", "dwconv", "grouped", "matmul", "attention")
MEMORY_CLASSES = ("norm", "activation", "elementwise", "movement")
EFFICIENCY_CLASSES = COMPUTE_CLASSES[1:] + MEMORY_CLASSES  # the ones a fit may give a factor
CLASS_TEXT = {"dwconv": "depthwise conv", "grouped": "grouped conv", "matmul": "matmul/linear",
              "attention": "attention", "norm": "normalisation", "activation": "activation",
              "elementwise": "elementwise",
              "movement": "data movement", "conv": "dense conv"}
GROUPED = "grouped"  # the efficiency class, and the measured class, of a conv with groups > 1

# the op types views and figures group layers by (roofline.present.plots.OP_GROUPS gives them colours)
VIEW_GROUPS = ("conv", "dwconv", "fc", "attention", "memory")


@dataclass(frozen=True)
class OpKind:
    """What one op kind is, to each reader of the taxonomy (see the module docstring)."""

    categories: tuple[str, ...]   # how rules count it; more than one where the aten op decides
    efficiency: str               # efficiency class (with groups 1)
    candidates: tuple[str, ...]   # measured classes, most specific first
    group: str                    # view group
    grouped: bool = False         # groups > 1 makes it a grouped conv (efficiency class GROUPED)
    # the measured classes of a 1x1 (or unknown) kernel; a kind that has them runs as GROUPED first
    # where groups > 1 (a 2-d conv: pointwise, dense and grouped kernels are measured apart)
    pointwise: tuple[str, ...] = ()

    @property
    def category(self) -> str:
        return self.categories[0]


def _conv(candidates: tuple[str, ...] = (), pointwise: tuple[str, ...] = ()) -> OpKind:
    return OpKind((COMPUTE,), "conv", candidates, "conv", grouped=True, pointwise=pointwise)


def _elementwise(efficiency: str, *candidates: str) -> OpKind:
    return OpKind((ELEMENTWISE,), efficiency, candidates, "memory")


def _memory(efficiency: str, *candidates: str) -> OpKind:
    return OpKind((MEMORY,), efficiency, candidates, "memory")


# measured classes of activations: piecewise-linear ones (relu, clamp, MobileNetV3's hard-swish and
# hard-sigmoid, Howard et al. 2019, sec. 5.2) run at ReLU's rate (``activation``); smooth ones (a
# transcendental per element: their efficiency class is ``activation``) at SiLU's where the profile
# has no class of their own
_PIECEWISE = ("activation",)


def _smooth(op: str) -> tuple[str, ...]:
    return (op, "silu", "activation")


OPS: dict[str, OpKind] = {
    # compute: MACs (conv_transpose and 1-d / 3-d convs are measured as their own name)
    "conv1d": _conv(("conv1d",)),
    "conv2d": _conv(("conv2d",), pointwise=("conv1x1", "conv2d")),
    "conv3d": _conv(("conv3d",)),
    "conv_transpose1d": _conv(("conv_transpose1d",)),
    "conv_transpose2d": _conv(("conv_transpose2d",)),
    "conv_transpose3d": _conv(("conv_transpose3d",)),
    "dwconv2d": OpKind((COMPUTE,), "dwconv", ("dwconv2d",), "dwconv"),
    "fc": OpKind((COMPUTE,), "matmul", ("fc",), "fc"),
    "matmul": OpKind((COMPUTE,), "matmul", ("matmul",), "attention"),
    "attention": OpKind((COMPUTE,), "attention", ("attention",), "attention"),
    # elementwise: arithmetic, batch norm and cheap activations
    "add": _elementwise("elementwise", "add"),
    "mul": _elementwise("elementwise", "mul"),
    "bn": _elementwise("elementwise", "bn"),
    "sqrt": _elementwise("elementwise", "sqrt"),
    "neg": _elementwise("elementwise", "neg"),
    "pow": _elementwise("elementwise", "pow"),
    "addcmul": _elementwise("elementwise", "addcmul"),
    "compare": _elementwise("elementwise", "compare"),
    "relu": _elementwise("elementwise", *_PIECEWISE),
    "relu6": _elementwise("elementwise", *_PIECEWISE),
    "hardtanh": _elementwise("elementwise", *_PIECEWISE),
    "clamp": _elementwise("elementwise", *_PIECEWISE),
    "leaky_relu": _elementwise("elementwise", *_PIECEWISE),
    "hsigmoid": _elementwise("elementwise", *_PIECEWISE),
    "hswish": _elementwise("elementwise", "hswish", "activation"),
    # elementwise: activations that evaluate a transcendental per element
    "gelu": _elementwise("activation", "gelu", "activation"),
    "silu": _elementwise("activation", "silu", "activation"),
    "sigmoid": _elementwise("activation", *_smooth("sigmoid")),
    "tanh": _elementwise("activation", *_smooth("tanh")),
    "elu": _elementwise("activation", *_smooth("elu")),
    "mish": _elementwise("activation", *_smooth("mish")),
    "exp": _elementwise("activation", *_smooth("exp")),
    "trig": _elementwise("activation", *_smooth("trig")),
    "masked_fill": _elementwise("movement", "masked_fill"),
    # layer and group norm fold into an epilogue (elementwise); reductions counted as norms (vector
    # norm, variance) are rows of their own (memory)
    "norm": OpKind((ELEMENTWISE, MEMORY), "norm", ("norm",), "memory"),
    # memory: rows of their own
    "pool": _memory("norm", "pool"),
    "softmax": _memory("norm", "softmax", "norm"),
    "cumsum": _memory("norm", "cumsum"),
    "concat": _memory("movement", "concat"),
    "stack": _memory("movement", "stack"),
    "pad": _memory("movement", "pad"),
    "gather": _memory("movement", "gather"),
    "scatter": _memory("movement", "scatter"),
    "interpolate": _memory("movement", "interpolate"),
    "roll": _memory("movement", "roll"),
    "copy": _memory("movement", "copy"),
    "repeat": _memory("movement", "repeat"),
    "unfold": _memory("elementwise", "unfold"),
    "minmax": _memory("elementwise", "minmax"),
}

COMPUTE_KINDS = frozenset(k for k, v in OPS.items() if COMPUTE in v.categories)


# a grouped conv with fewer channels per group (in or out) than this is a ``grouped_narrow`` layer
NARROW_GROUP = 16


@dataclass(frozen=True)
class Variant:
    """A kind told apart further for measured ceilings (:func:`measured_ops`): measured as its own
    name, else as the kind it refines."""

    of: str     # the op kind it refines
    text: str   # what tells it apart


VARIANTS: dict[str, Variant] = {
    # a 3x3 max pool over 64 x 112 x 112 took 3.5 ms on CPU, 50 times a global average pool
    "maxpool": Variant("pool", "a max pool"),
    # a spatial mean (``aten.mean``, timm's squeeze-excitation pooling)
    "mean": Variant("pool", "a spatial mean (aten.mean)"),
    # FastViT's 7x7 downsampling, 48 -> 96 channels, took 1.2 ms where a plain depthwise conv took 0.17 ms
    "dwconv_mult": Variant("dwconv2d", "a depthwise conv with more output than input channels"),
    # squeeze-excitation's FC layers
    "fc_conv": Variant("fc", "an FC layer run as a 1x1 conv on a 1 x 1 map"),
    # LiteRT 2.3's XNNPACK ran int8 7x7 depthwise convs at 0.3 GMAC/s, 3x3 and 5x5 ones at 15-18 GMAC/s (56 x 56 x
    # 64, one thread, the project's 2-core VM): one rate per class cannot hold both
    "dwconv_large": Variant("dwconv2d", "a depthwise conv of 7x7 taps or more"),
    # a windowed average pool (3x3, stride 1: NASNet, Inception); LiteRT runs an int8 one on a reference kernel,
    # 7x a global average pool's time per byte
    "avgpool": Variant("pool", "an average pool with a window (its output larger than 1 x 1)"),
    # ONNX Runtime 1.32 (CPU provider, one thread, the project's AMD EPYC VM with AVX-512) ran 3x3 grouped convs of 8
    # channels per group at 7.8-21 GMAC/s as plain Conv kernels, those of 16 to 64 at 50-61 GMAC/s as blocked NCHWc
    # kernels (its MLAS blocks 16 channels on AVX-512, 8 on AVX2; 24 per group, unblocked there, ran at 32-34 and
    # counts with the wide ones); PyTorch 2.14 ran widths 8 at 15-33, 4 at 5.5 and 16-64 at 35-45 GMAC/s: one rate
    # per class cannot hold both
    "grouped_narrow": Variant("conv2d", f"a grouped conv of fewer than {NARROW_GROUP} channels per group"),
}



def _measured(k: OpKind) -> tuple[str, ...]:
    return k.candidates + k.pointwise + ((GROUPED,) if k.pointwise else ())


# every measured class a layer may run as (:func:`class_candidates`, any kernel and groups), and those
# timed as a byte rate (B/s): the classes of memory-only kinds; the others are MAC rates
MEASURED_CLASSES = frozenset({c for k in OPS.values() for c in _measured(k)} | set(VARIANTS))
BYTE_RATE_CLASSES = frozenset({c for k in OPS.values() if COMPUTE not in k.categories for c in _measured(k)}
                              | {n for n, v in VARIANTS.items() if COMPUTE not in OPS[v.of].categories})


def kind(op: str, category: str) -> str:
    """``op``, checked: a kind the table lists, counted in ``category`` (rules register through it)."""
    k = OPS.get(op)
    if k is None or category not in k.categories:
        raise RooflineError(f"op kind {op!r} ({category}) is not in roofline.core.taxonomy.OPS"
                            + (f" (it is counted as {', '.join(k.categories)})" if k else ""))
    return op


def _groups(groups: Any) -> int:
    return 1 if groups is None or pd.isna(groups) else int(groups)


# --- efficiency classes ----------------------------------------------------------------------------

def compute_class(op: str, groups: int | float | None = 1) -> str:
    """The compute class of a layer with MACs: dense, depthwise or grouped conv, matmul, attention
    (``matmul`` for ops the table does not count as compute)."""
    k = OPS.get(op)
    if k is None or COMPUTE not in k.categories:
        return "matmul"
    return GROUPED if k.grouped and _groups(groups) > 1 else k.efficiency


def memory_class(op: str) -> str:
    """The memory class of a memory-only layer (``elementwise`` for ops the table does not list)."""
    k = OPS.get(op)
    return k.efficiency if k is not None and COMPUTE not in k.categories else "elementwise"


def op_group(op: str) -> str:
    """The op type views and figures group layers by: conv, dwconv, fc, attention or memory."""
    k = OPS.get(op)
    return k.group if k is not None else "memory"


# --- measured (calibrated) classes -------------------------------------------------------------------

def op_class(op: str, kernel: str) -> str:
    """The per-op-class ceiling a layer runs at in calibrated mode (profiles without a grouped class)."""
    k = OPS.get(op)
    return k.pointwise[0] if k is not None and k.pointwise and kernel in ("1x1", "") else op


def class_candidates(op: str, kernel: str = "", groups: Any = 1) -> tuple[str, ...]:
    """The measured op classes a layer may run as, most specific first: a profile uses the first it
    has (a memory-only layer falls back to ``elementwise`` after these)."""
    v = VARIANTS.get(op)
    if v is not None:
        return (op,) + class_candidates(v.of, kernel, groups)
    k = OPS.get(op)
    if k is None:
        return (op,)
    if k.pointwise:
        dense = op_class(op, kernel)
        if _groups(groups) > 1:
            return (GROUPED, dense)
        return k.pointwise if dense != op else k.candidates
    return k.candidates


def measured_class(available: Collection[str], op: str, kernel: str = "", groups: Any = 1,
                   memory_only: bool = False) -> str | None:
    """The first of the layer's candidate classes ``available`` has (``elementwise`` for a
    memory-only layer with none), or None."""
    for c in class_candidates(op, kernel, groups):
        if c in available:
            return c
    return "elementwise" if memory_only and "elementwise" in available else None


def measured_ops(layers: pd.DataFrame) -> list[str]:
    """Each layer's op, or the :data:`VARIANTS` name where kernels of one op differ on CPU (profiles
    without these classes fall back to the op's own)."""
    n = len(layers)
    aten = layers["aten"] if "aten" in layers else [""] * n
    ins = layers["in_shape"] if "in_shape" in layers else [""] * n
    outs = layers["out_shape"] if "out_shape" in layers else [""] * n
    kernels = layers["kernel"] if "kernel" in layers else [""] * n
    groups = layers["groups"] if "groups" in layers else [1] * n
    return [_variant(op, str(a), i, o, str(k), g)
            for op, a, i, o, k, g in zip(layers["op"], aten, ins, outs, kernels, groups)]


def _variant(op: str, aten: str, in_shape: Any, out_shape: Any, kernel: str = "", groups: Any = 1) -> str:
    g = _groups(groups)
    if op == "conv2d" and g > 1 and 0 < min(_channels(in_shape), _channels(out_shape)) < NARROW_GROUP * g:
        return "grouped_narrow"
    if op == "pool" and "max_pool" in aten:
        return "maxpool"
    if op == "pool" and "mean" in aten:
        return "mean"
    if op == "pool" and ("avg_pool" in aten or "average_pool" in aten) and _spatial(out_shape) > 1:
        return "avgpool"
    if op == "dwconv2d" and _channels(out_shape) > _channels(in_shape) > 0:
        return "dwconv_mult"
    if op == "dwconv2d" and _taps(kernel) >= 49:
        return "dwconv_large"
    if op == "fc" and "conv" in aten:
        return "fc_conv"
    return op


def _spatial(shape: Any) -> int:
    """Height x width of an ``NxCxHxW`` shape string, 0 when there is none."""
    parts = str(shape).split("x")
    return int(parts[2]) * int(parts[3]) if len(parts) == 4 and all(p.isdigit() for p in parts[2:]) else 0


def _taps(kernel: str) -> int:
    """The taps of a ``KxK`` kernel string (49 for ``7x7``), 0 when there is none."""
    parts = kernel.split("x")
    return int(parts[0]) * int(parts[1]) if len(parts) == 2 and all(p.isdigit() for p in parts) else 0


def _channels(shape: Any) -> int:
    """The channel count (dimension 1) of an ``NxCxHxW`` shape string, 0 when there is none."""
    parts = str(shape).split("x")
    return int(parts[1]) if len(parts) == 4 and parts[1].isdigit() else 0


# --- model families ----------------------------------------------------------------------------------
#
# A family is what a fit's whole-model multiplier belongs to (roofline.fit.terms): one architecture,
# whichever library builds it. roofline.zoo.families reads a model's *source key* from where its
# architecture is defined, never from the first word of its name:
#
#   zoo:FAMILY                   the zoo's family (ModelSpec.family): zoo:mobilenet_v2
#   timm:MODULE[.ARCH]           the timm module whose entrypoint builds it (timm:resnet, timm:fastvit);
#                                where one module holds several architectures, ARCH tells them apart: the
#                                generator the entrypoint calls (efficientnet.py's _gen_mobilenet_v2 ->
#                                timm:efficientnet.mobilenet_v2) or, in MIXED_MODULES, the architecture
#                                word of the name (byobnet.py's mobileone_s0 -> timm:byobnet.mobileone)
#   torchvision:MODULE[.ARCH]    the torchvision module of its builder (torchvision:mobilenetv2; quantized
#                                builds are their float architecture; video.resnet -> torchvision:video_resnet)
#
# FAMILY_ALIASES maps source keys to the canonical family, so one network from any source is one family
# (the zoo's mnv2 == timm's mobilenetv2_100 == torchvision's mobilenet_v2 == ``mobilenetv2``). A key it
# does not list is its last part in letters and digits (timm:fastvit -> ``fastvit``,
# timm:byobnet.mobileone -> ``mobileone``). Bare keys are what a user (``--family``, a measurements
# table's ``family`` column) or a profile written before families were resolved may say (``mnv4``).
# A model from a user's file has no family unless one is given.

MIXED_MODULES: dict[str, frozenset[str]] = {
    # timm modules that build several architectures with one creator function
    "timm": frozenset({"byobnet", "byoanet", "metaformer", "maxxvit", "cspnet", "convnext", "mlp_mixer"}),
    # torchvision modules that hold two generations under one name
    "torchvision": frozenset({"efficientnet", "swin_transformer"}),
}

FAMILY_ALIASES: dict[str, str] = {
    # the zoo
    "zoo:mobilenet_v1": "mobilenetv1", "zoo:mobilenet_v2": "mobilenetv2",
    "zoo:mobilenet_v3": "mobilenetv3", "zoo:mobilenet_v4": "mobilenetv4",
    # timm: the architectures of efficientnet.py and mobilenetv3.py (generator functions)
    "timm:efficientnet.efficientnet": "efficientnet",
    "timm:efficientnet.efficientnetv2_base": "efficientnetv2", "timm:efficientnet.efficientnetv2_s": "efficientnetv2",
    "timm:efficientnet.efficientnetv2_m": "efficientnetv2", "timm:efficientnet.efficientnetv2_l": "efficientnetv2",
    "timm:efficientnet.efficientnetv2_xl": "efficientnetv2",
    "timm:efficientnet.mobilenet_v1": "mobilenetv1", "timm:efficientnet.mobilenet_v2": "mobilenetv2",
    "timm:efficientnet.mnasnet_b1": "mnasnet", "timm:efficientnet.mnasnet_small": "mnasnet",
    "timm:efficientnet.mnasnet_a1": "semnasnet",
    "timm:efficientnet.mixnet_s": "mixnet", "timm:efficientnet.mixnet_m": "mixnet",
    "timm:mobilenetv3.mobilenet_v3": "mobilenetv3", "timm:mobilenetv3.mobilenet_v3_rw": "mobilenetv3",
    "timm:mobilenetv3.mobilenet_v4": "mobilenetv4", "timm:mobilenetv5.mobilenet_v5": "mobilenetv5",
    # timm modules named otherwise than the same architecture in torchvision
    "timm:vision_transformer": "vit", "timm:vision_transformer_hybrid": "vithybrid",
    "timm:vision_transformer_relpos": "vitrelpos", "timm:vision_transformer_sam": "samvit",
    "timm:swin_transformer": "swin", "timm:swin_transformer_v2": "swinv2", "timm:swin_transformer_v2_cr": "swinv2cr",
    "timm:inception_v3": "inceptionv3", "timm:efficientvit_mit": "efficientvit",
    "timm:efficientvit_msra": "efficientvitmsra",
    # torchvision
    "torchvision:vision_transformer": "vit", "torchvision:inception": "inceptionv3",
    "torchvision:efficientnet.efficientnet": "efficientnet", "torchvision:efficientnet.efficientnetv2": "efficientnetv2",
    "torchvision:swin_transformer.swin": "swin", "torchvision:swin_transformer.swinv2": "swinv2",
    # bare keys: the zoo's short names (profiles fitted before families were resolved hold these)
    "mnv1": "mobilenetv1", "mnv2": "mobilenetv2", "mnv3": "mobilenetv3", "mnv4": "mobilenetv4",
}

MAX_FAMILY_KEY = 64  # characters


def canonical_family(key: str) -> str:
    """The canonical family of a source key (``timm:efficientnet.mobilenet_v2`` -> ``mobilenetv2``) or of
    a family as a person writes it (``mnv4``, ``MobileNet_V2`` -> ``mobilenetv4``, ``mobilenetv2``): the
    :data:`FAMILY_ALIASES` entry, else the key's last part in lower-case letters and digits."""
    k = str(key).strip().lower()
    if k in FAMILY_ALIASES:
        return FAMILY_ALIASES[k]
    word = re.sub(r"[^a-z0-9]", "", k.rsplit(":", 1)[-1].rsplit(".", 1)[-1])
    return FAMILY_ALIASES.get(word, word)


def is_family_key(key: object) -> bool:
    """Whether ``key`` can name a family: lower-case letters and digits, at most :data:`MAX_FAMILY_KEY`."""
    return isinstance(key, str) and 0 < len(key) <= MAX_FAMILY_KEY and re.fullmatch(r"[a-z0-9]+", key) is not None


def family_key(text: object, where: str = "family") -> str:
    """A family a person gave (``--family``, a ``family`` cell), canonical: ``mnv4`` -> ``mobilenetv4``."""
    written = isinstance(text, str) and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\- ]*", text.strip()) is not None
    fam = canonical_family(text) if written else ""
    if not is_family_key(fam):
        shown = repr(text) if isinstance(text, str) and len(text) <= 40 else type(text).__name__
        raise InvalidInputError(f"{where} {shown} is not a model family: give a word of letters and digits "
                            f"(mobilenetv2, resnet, fastvit), at most {MAX_FAMILY_KEY} characters")
    return fam
