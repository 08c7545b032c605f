"""A search space for hardware-aware architecture search, as data in the zoo's block-spec style.

A :class:`SearchSpace` is a fixed stem and head (from a zoo family, :mod:`roofline.zoo.specs`) and,
per stage, the choices a search makes: the width (output channels), the depth (blocks), and per
block slot a block choice. Block choices are written as short names::

    extradw_k3_5_e4   UIB with a 3x3 start DW and a 5x5 middle DW, expansion 4 (ExtraDW)
    ib_k5_e6          UIB with a middle DW only (inverted bottleneck, MobileNetV2-style)
    convnext_k3_e4    UIB with a start DW only (ConvNext-like)
    ffn_e2            UIB with no DW (two 1x1 convs)
    fib_k3_e4         fused inverted bottleneck (k x k expand, 1x1 project)
    ir_k5_e6[_se][_relu|_hswish]   MobileNetV2/V3 inverted residual (optional SE, activation)
    skip              no block (not allowed in a stage's first slot: it sets stride and width)

and the input resolution is one more choice. A candidate is one row of a frame: ``resolution``,
then per stage ``<stage>.width``, ``<stage>.depth`` and ``<stage>.b0`` ... (slots past the depth hold
``-``). :meth:`SearchSpace.arch` turns a row into an :class:`~roofline.zoo.specs.ArchSpec` that the zoo
builder builds; latency never needs that: see :mod:`roofline.studies.space_cost`.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd

from ..core import checks
from ..core.errors import InvalidInputError, UnknownModelError
from ..zoo.specs import ARCHS, ArchSpec, Block

SKIP = "skip"
UNUSED = "-"
MAX_ENUMERATE = 1_000_000
_GRAMMAR = ("extradw_k<a>_<b>_e<x>, ib_k<k>_e<x>, convnext_k<k>_e<x>, ffn_e<x>, fib_k<k>_e<x>, "
            "ir_k<k>_e<x>[_se][_relu|_relu6|_hswish], skip")
_PATTERNS = (
    (re.compile(r"extradw_k(\d+)_(\d+)_e(\d+(?:\.\d+)?)"), lambda m: Block(
        "uib", kernel=0, expand=float(m[3]), start_k=int(m[1]), mid_k=int(m[2]))),
    (re.compile(r"ib_k(\d+)_e(\d+(?:\.\d+)?)"), lambda m: Block("uib", expand=float(m[2]), mid_k=int(m[1]))),
    (re.compile(r"convnext_k(\d+)_e(\d+(?:\.\d+)?)"), lambda m: Block("uib", expand=float(m[2]),
                                                                      start_k=int(m[1]))),
    (re.compile(r"ffn_e(\d+(?:\.\d+)?)"), lambda m: Block("uib", expand=float(m[1]))),
    (re.compile(r"fib_k(\d+)_e(\d+(?:\.\d+)?)"), lambda m: Block("fused_ib", kernel=int(m[1]),
                                                                 expand=float(m[2]))),
    (re.compile(r"ir_k(\d+)_e(\d+(?:\.\d+)?)(_se)?(?:_(relu6|relu|hswish))?"), lambda m: Block(
        "ir", kernel=int(m[1]), expand=float(m[2]), se=bool(m[3]), act=m[4] or "")),
)


def parse_choice(name: object, where: str = "") -> Block | None:
    """The block template (``out`` 0, ``stride`` 1) of a choice name; None for ``skip``."""
    text = str(name).strip().lower()
    if text == SKIP:
        return None
    for pattern, make in _PATTERNS:
        m = pattern.fullmatch(text)
        if m:
            b = make(m)
            kernels = [k for k in (b.kernel, b.start_k, b.mid_k) if k]
            if any(k % 2 == 0 or k > 9 for k in kernels) or not 0 < b.expand <= 16:
                raise InvalidInputError(f"block choice {name!r}{where}: kernels must be odd and at most 9, "
                                        f"the expansion above 0 and at most 16")
            return b
    raise InvalidInputError(f"unknown block choice {checks.show(name)}{where}; choices are written "
                            f"{_GRAMMAR}")


@dataclass(frozen=True)
class Stage:
    """One stage's choices: the stride of its first block, its widths, depths and block choices."""

    name: str
    stride: int
    widths: tuple[int, ...]
    depths: tuple[int, ...]
    choices: tuple[str, ...]

    @property
    def first_choices(self) -> tuple[str, ...]:
        """The choices of the first slot: no skip (the first block sets the stride and the width), and in a
        stride-2 stage no FFN (it has no depthwise conv to stride with)."""
        return tuple(c for c in self.choices if c != SKIP and not (self.stride == 2 and c.startswith("ffn")))

    @property
    def slots(self) -> int:
        return max(self.depths)

    def count(self) -> int:
        """Distinct configurations of this stage (a skip slot counts as a choice, as sampled)."""
        n = len(self.choices)
        return len(self.widths) * sum(len(self.first_choices) * n ** (d - 1) for d in self.depths)


@dataclass(frozen=True)
class SearchSpace:
    """Stem and head from a zoo family; per stage the choices; and the input resolutions."""

    name: str
    family: str              # the zoo family the candidates belong to (its fitted multiplier applies)
    base: ArchSpec           # stem rows (blocks before the stages), head and activation
    stem: tuple[Block, ...]
    stages: tuple[Stage, ...]
    resolutions: tuple[int, ...]
    templates: Mapping[str, Block | None] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.stages:
            raise InvalidInputError(f"search space {self.name!r} has no stages")
        temps: dict[str, Block | None] = {}
        prev = None
        for st in self.stages:
            where = f" in stage {st.name}"
            if not st.widths or not st.depths or not st.first_choices:
                raise InvalidInputError(f"stage {st.name}: give at least one width, one depth and one block "
                                        f"choice other than skip")
            for w in st.widths:
                if isinstance(w, bool) or not isinstance(w, (int, np.integer)) or w < 8 or w % 8 or w > 4096:
                    raise InvalidInputError(f"impossible width {checks.show(w)}{where}: widths are whole "
                                            f"multiples of 8 from 8 to 4096 (the zoo rounds channels to 8)")
            for d in st.depths:
                checks.integer(d, f"depth{where}", 1, 32)
            checks.integer(st.stride, f"stride{where}", 1, 2)
            for c in st.choices:
                temps[c] = parse_choice(c, where)
            if len(set(st.choices)) != len(st.choices) or len(set(st.widths)) != len(st.widths):
                raise InvalidInputError(f"stage {st.name}: a width or block choice is listed twice")
            if st.name == prev or st.name == "resolution":
                raise InvalidInputError(f"stage name {st.name!r} is used twice or reserved")
            prev = st.name
        if len({s.name for s in self.stages}) != len(self.stages):
            raise InvalidInputError("two stages share a name")
        for r in self.resolutions:
            checks.integer(r, "resolution", 32, checks.MAX_RESOLUTION)
        object.__setattr__(self, "templates", temps)

    # -- the description ---------------------------------------------------------------------------
    @property
    def columns(self) -> list[str]:
        cols = ["resolution"]
        for st in self.stages:
            cols += [f"{st.name}.width", f"{st.name}.depth"] + [f"{st.name}.b{i}" for i in range(st.slots)]
        return cols

    def size(self) -> int:
        """How many candidates the space holds (Python int: may be astronomically large)."""
        return len(self.resolutions) * math.prod(st.count() for st in self.stages)

    def describe(self) -> pd.DataFrame:
        """One row per stage: stride, widths, depths, block choices and the stage's configurations."""
        return pd.DataFrame([{"stage": s.name, "stride": s.stride, "widths": ",".join(map(str, s.widths)),
                              "depths": ",".join(map(str, s.depths)), "choices": ",".join(s.choices),
                              "configurations": s.count()} for s in self.stages])

    def __repr__(self) -> str:
        lines = [f"SearchSpace {self.name!r} ({self.family} family): {self.size():.3g} candidates, "
                 f"resolutions {', '.join(map(str, self.resolutions))}"]
        lines += [f"  {s.name}: stride {s.stride}, widths {s.widths}, depths {s.depths}, "
                  f"{len(s.choices)} choices" for s in self.stages]
        return "\n".join(lines)

    # -- candidates --------------------------------------------------------------------------------
    def sample(self, n: int, seed: int = 0) -> pd.DataFrame:
        """``n`` candidates drawn uniformly per choice (deterministic with ``seed``)."""
        n = checks.integer(n, "n", 1, 10_000_000)
        rng = np.random.default_rng(checks.integer(seed, "seed", 0))
        data: dict[str, Any] = {"resolution": rng.choice(np.array(self.resolutions), n)}
        for st in self.stages:
            data[f"{st.name}.width"] = rng.choice(np.array(st.widths), n)
            depth = rng.choice(np.array(st.depths), n)
            data[f"{st.name}.depth"] = depth
            for i in range(st.slots):
                pool = np.array(st.first_choices if i == 0 else st.choices, dtype=object)
                col = pool[rng.integers(0, len(pool), n)]
                data[f"{st.name}.b{i}"] = np.where(depth > i, col, UNUSED)
        return pd.DataFrame(data)

    def enumerate(self, limit: int = MAX_ENUMERATE) -> pd.DataFrame:
        """Every candidate, where the space holds at most ``limit`` (else an error: sample instead)."""
        if self.size() > limit:
            raise InvalidInputError(f"search space {self.name!r} holds {self.size():.3g} candidates, over the "
                                    f"{limit:,} that enumerate() lists; use sample(n)")
        per_stage = []
        for st in self.stages:
            opts = []
            for w, d in itertools.product(st.widths, st.depths):
                for blocks in itertools.product(st.first_choices, *[st.choices] * (d - 1)):
                    opts.append((w, d, *blocks, *[UNUSED] * (st.slots - d)))
            per_stage.append(opts)
        rows = [(r, *itertools.chain.from_iterable(p)) for r in self.resolutions
                for p in itertools.product(*per_stage)]
        return pd.DataFrame(rows, columns=self.columns)

    def check(self, candidates: Any) -> pd.DataFrame:
        """``candidates`` as a frame of this space's columns, every value one the space offers."""
        if isinstance(candidates, Mapping):
            candidates = pd.DataFrame([candidates])
        elif isinstance(candidates, Sequence) and not isinstance(candidates, (str, bytes)):
            candidates = pd.DataFrame(list(candidates))
        if not isinstance(candidates, pd.DataFrame):
            raise InvalidInputError(f"candidates must be a DataFrame (space.sample(n)), got "
                                    f"{type(candidates).__name__}")
        missing = [c for c in self.columns if c not in candidates.columns]
        if missing:
            raise InvalidInputError(f"candidates have no column {missing[0]!r} (space {self.name!r} needs "
                                    f"{', '.join(self.columns[:4])}, ...)")
        if candidates.empty:
            raise InvalidInputError("candidates: the frame has no rows")
        bad = ~candidates["resolution"].isin(self.resolutions)
        if bad.any():
            raise InvalidInputError(f"resolution {checks.show(candidates['resolution'][bad].iloc[0])} is not "
                                    f"one of space {self.name!r}'s ({', '.join(map(str, self.resolutions))})")
        for st in self.stages:
            for col, allowed, what in ((f"{st.name}.width", st.widths, "impossible width"),
                                       (f"{st.name}.depth", st.depths, "depth")):
                bad = ~candidates[col].isin(allowed)
                if bad.any():
                    raise InvalidInputError(f"{what} {checks.show(candidates[col][bad].iloc[0])} in stage "
                                            f"{st.name}: the space offers {', '.join(map(str, allowed))}")
            depth = candidates[f"{st.name}.depth"].to_numpy()
            for i in range(st.slots):
                col = candidates[f"{st.name}.b{i}"].astype(str)
                used = depth > i
                ok = col.isin(st.first_choices if i == 0 else st.choices).to_numpy()
                bad = (used & ~ok) | (~used & (col != UNUSED).to_numpy() & ~ok)
                if bad.any():
                    v = col[bad].iloc[0]
                    if v.lower() not in self.templates:
                        parse_choice(v, f" in stage {st.name}")  # unknown name: the grammar's error
                    raise InvalidInputError(f"block choice {v!r} in stage {st.name} slot {i} is not one this "
                                            f"space offers there ({', '.join(st.first_choices if i == 0 else st.choices)})")
        return candidates.reset_index(drop=True)

    def blocks(self, row: Mapping[str, Any]) -> list[tuple[Block | None, int, int]]:
        """The candidate's blocks after the stem, as (template, out channels, stride); skips dropped."""
        out = []
        for st in self.stages:
            w, d = int(row[f"{st.name}.width"]), int(row[f"{st.name}.depth"])
            first = True
            for i in range(d):
                t = self.templates[str(row[f"{st.name}.b{i}"])]
                if t is None:
                    continue
                out.append((t, w, st.stride if first else 1))
                first = False
        return out

    def arch(self, row: Mapping[str, Any]) -> ArchSpec:
        """The candidate as an :class:`ArchSpec` for :func:`roofline.zoo.builder.build_arch` (width 1)."""
        rows = [replace(t, out=w, stride=s) for t, w, s in self.blocks(row)]
        return replace(self.base, resolution=int(row["resolution"]), blocks=(*self.stem, *rows))

    def latency(self, candidates: Any, hw: Any, **kw: Any) -> pd.DataFrame:
        """Candidates x profiles latency frame (ms, with bands): :func:`roofline.studies.space_cost.latency`."""
        from .space_cost import latency

        return latency(self, candidates, hw, **kw)

    def lut(self, hw: Any, **kw: Any) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Per-block-choice-per-input-shape latency table and its whole-model terms
        (:func:`roofline.studies.space_cost.lut`)."""
        from .space_cost import lut

        return lut(self, hw, **kw)

    def front(self, frame: pd.DataFrame, latency: Any, accuracy: str = "macs") -> pd.Series:
        """Pareto front over latency on several devices (:func:`roofline.studies.space_search.front`)."""
        from .space_search import front

        return front(frame, latency, accuracy)

    def sweep_front(self, candidates: Any, hw: Any, rps: Any = "0:500:5", accuracy: Any = "macs") -> pd.DataFrame:
        """Which candidates stay on the front from RP 0 to 500 (:func:`roofline.studies.space_search.sweep_front`)."""
        from .space_search import sweep_front

        return sweep_front(self, candidates, hw, rps, accuracy)

    def sample_within(self, n: int, hw: Any, target_ms: float, tolerance: float = 0.05, seed: int = 0) -> pd.DataFrame:
        """Candidates within ``target_ms`` +/- ``tolerance`` on ``hw`` (:func:`roofline.studies.space_search.constrained_sample`)."""
        from .space_search import constrained_sample

        return constrained_sample(self, n, hw, target_ms, tolerance, seed)

    def candidate_name(self, i: int) -> str:
        """``mnv4-space-17``: the candidate's name (its family is the space's, passed explicitly)."""
        return f"{self.family}-space-{i}"


# -- the spaces that ship ------------------------------------------------------------------------------

def _mnv4() -> SearchSpace:
    exp = (2, 4, 6)
    choices = ([f"extradw_k{a}_{b}_e{e}" for a, b in ((3, 3), (3, 5), (5, 5)) for e in exp]
               + [f"ib_k{k}_e{e}" for k in (3, 5) for e in exp]
               + [f"convnext_k{k}_e{e}" for k in (3, 5) for e in exp] + [f"ffn_e{e}" for e in exp] + [SKIP])
    base = ARCHS["mnv4-conv-m"]
    return SearchSpace("mnv4", "mnv4", base, base.blocks[:2], (
        Stage("s3", 2, (64, 80, 96), (1, 2, 3), tuple(choices)),
        Stage("s4", 2, (128, 160, 192), (2, 4, 6), tuple(choices)),
        Stage("s5", 2, (224, 256, 288), (2, 4, 6), tuple(choices)),
    ), (224, 256))


def _mnv2() -> SearchSpace:
    choices = tuple([f"ir_k{k}_e{e}" for k in (3, 5, 7) for e in (3, 6)] + [SKIP])
    base = ARCHS["mnv2"]
    return SearchSpace("mnv2", "mnv2", base, base.blocks[:2], (
        Stage("s2", 2, (16, 24, 32), (1, 2), choices),
        Stage("s3", 2, (24, 32, 40), (2, 3), choices),
        Stage("s4", 2, (48, 64, 80), (2, 3, 4), choices),
        Stage("s5", 1, (80, 96, 112), (2, 3), choices),
        Stage("s6", 2, (136, 160, 184), (2, 3), choices),
        Stage("s7", 1, (280, 320), (1,), choices),
    ), (160, 192, 224))


def _mnv3() -> SearchSpace:
    def ch(act: str) -> tuple[str, ...]:
        return tuple([f"ir_k{k}_e{e}{se}_{act}" for k in (3, 5) for e in (3, 6) for se in ("", "_se")] + [SKIP])

    base = ARCHS["mnv3-l"]
    return SearchSpace("mnv3", "mnv3", base, base.blocks[:2], (
        Stage("s2", 2, (24, 32), (1, 2), ch("relu")),
        Stage("s3", 2, (40, 48), (2, 3), ch("relu")),
        Stage("s4", 2, (80, 96), (2, 3, 4), ch("hswish")),
        Stage("s5", 1, (112, 128), (1, 2), ch("hswish")),
        Stage("s6", 2, (160, 192), (2, 3), ch("hswish")),
    ), (192, 224))


SPACES = {"mnv4": _mnv4, "mnv2": _mnv2, "mnv3": _mnv3}


def space(name: str | Sequence[Mapping[str, Any]] | pd.DataFrame = "mnv4", *, family: str | None = None,
          resolutions: Sequence[int] | None = None, label: str = "custom") -> SearchSpace:
    """A search space: a shipped one by name (``mnv4``, ``mnv2``, ``mnv3``), or a user's table.

    A table (a list of dicts or a DataFrame) has one row per stage with ``stage``, ``stride``,
    ``widths``, ``depths`` and ``choices`` (lists, or comma-separated text); the stem and head come
    from ``family`` (a shipped space's name, default ``mnv4``), as do the resolutions unless given.
    """
    if isinstance(name, str):
        key = name.strip().lower()
        if key not in SPACES:
            raise UnknownModelError(f"unknown search space {name!r}; shipped spaces: {', '.join(SPACES)} "
                                    f"(or give a table of stages)")
        sp = SPACES[key]()
        return sp if resolutions is None else replace(sp, resolutions=tuple(resolutions))
    fam = (family or "mnv4").strip().lower()
    if fam not in SPACES:
        raise UnknownModelError(f"unknown family {family!r} for the stem and head; use one of {', '.join(SPACES)}")
    base = SPACES[fam]()
    rows = name.to_dict(orient="records") if isinstance(name, pd.DataFrame) else list(name)
    stages = []
    for i, r in enumerate(rows):
        if not isinstance(r, Mapping):
            raise InvalidInputError(f"search space table: row {i} is not a mapping of stage, stride, widths, "
                                    f"depths, choices")
        missing = [k for k in ("stage", "stride", "widths", "depths", "choices") if k not in r]
        if missing:
            raise InvalidInputError(f"search space table: row {i} has no {missing[0]!r}")

        def items(v: Any, what: str, num: bool) -> tuple:
            parts = [p.strip() for p in v.split(",")] if isinstance(v, str) else list(np.atleast_1d(v))
            if not num:
                return tuple(str(p).strip().lower() for p in parts)
            out = []
            for p in parts:
                try:
                    f = float(p)
                except (TypeError, ValueError):
                    raise InvalidInputError(f"{what} {checks.show(p)} in stage {r['stage']}: not a number") from None
                if f != int(f):
                    raise InvalidInputError(f"impossible {what} {checks.show(p)} in stage {r['stage']}: "
                                            f"give whole numbers")
                out.append(int(f))
            return tuple(out)

        stages.append(Stage(str(r["stage"]), int(items(r["stride"], "stride", True)[0]),
                            items(r["widths"], "width", True), items(r["depths"], "depth", True),
                            items(r["choices"], "choice", False)))
    return SearchSpace(label, base.family, base.base, base.stem, tuple(stages),
                       tuple(resolutions) if resolutions is not None else base.resolutions)
