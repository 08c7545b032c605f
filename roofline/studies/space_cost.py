"""Latency of many candidates of a search space (:class:`roofline.studies.space.SearchSpace`: annotations
only, the space calls in here) on many profiles, from a layer-cost cache.

Each block choice at each input shape is traced once (one block module on the meta device,
:func:`roofline.trace`), and its layer rows are kept; a candidate's layers are the concatenation of
its blocks' rows (stem, blocks, head), so no candidate is ever built. Layers are keyed by their
signature (every trace column but the name: op, shapes, kernel, stride, groups, counts, fused ops),
per convention (fused or unfused trace): two layers with one signature share a cost, layers that
differ in stride do not.

Per profile, each distinct layer is read through the engine exactly as :func:`roofline.analyze` reads
a model's layers (:func:`~roofline.engine.roofline.layer_bytes`, :func:`~roofline.engine.roofline.evaluate`
with the fitted class factors and reduction term, :func:`~roofline.engine.latency.add_overheads`), summed
per block and per candidate, and the whole-model terms are added as analyze adds them
(:func:`~roofline.engine.predict.model_total`: per-inference cost and fresh memory for eager execution,
times the family multiplier of :func:`~roofline.engine.predict.family_multiplier`), with the band of
:func:`~roofline.engine.band.band_for`. On-chip weight caching (``on_chip``) depends on a whole
model's layer order and is not offered here.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..core.errors import InvalidInputError, UnsupportedOpWarning
from ..core.reading import Mode
from ..engine.band import band_for
from ..engine.latency import add_overheads, latency_model
from ..engine.predict import family_multiplier, layer_times, model_total
from ..engine.reading import resolve_reading
from ..engine.roofline import evaluate, fitted_terms, layer_bytes
from ..hardware import HardwareProfile, load_hardware
from ..trace import LayerTable, trace
from ..trace.table import COLUMNS
from ..zoo.blocks import Head, make_divisible
from ..zoo.builder import _make_block
from ..zoo.specs import ArchSpec, Block

SIGNATURE = tuple(c for c in COLUMNS if c != "name")


def block_out_hw(h: int, w: int, stride: int) -> tuple[int, int]:
    """Spatial size after a block (odd kernels, padding (k - 1) // 2): ``(h - 1) // stride + 1``."""
    return (h - 1) // stride + 1, (w - 1) // stride + 1


class _Tail(nn.Module):
    """The head as the zoo's MobileNet runs it: Head, dropout, classifier."""

    def __init__(self, spec: ArchSpec, cin: int, num_classes: int = 1000) -> None:
        super().__init__()
        h = spec.head
        conv_out = None
        if h.conv_out:  # build_arch's rule at width 1 (widths are absolute in a space)
            conv_out = h.conv_out * cin if h.conv_rule == "multiple" else make_divisible(h.conv_out * 1.0)
        self.head = Head(cin, conv_out, h.hidden, make_divisible(h.hidden_out * 1.0) if h.hidden else 0, spec.act)
        self.dropout = nn.Dropout(h.dropout) if h.dropout else None
        self.classifier = nn.Linear(self.head.out_channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(x)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.classifier(x)


@dataclass
class _Layers:
    """Distinct layers of one convention (fused or unfused trace) and each block's layer ids."""

    fuse: bool
    index: dict[tuple, int] = field(default_factory=dict)
    rows: list[tuple] = field(default_factory=list)
    blocks: dict[int, np.ndarray] = field(default_factory=dict)


@dataclass
class CostCache:
    """Block keys -> block ids, and per convention the blocks' layers (see the module docstring)."""

    keys: dict[tuple, int] = field(default_factory=dict)
    info: list[tuple] = field(default_factory=list)   # per block id: (label, choice, cin, h, w, cout, stride)
    conventions: dict[bool, _Layers] = field(default_factory=dict)
    traces: int = 0

    def block(self, key: tuple, info: tuple) -> int:
        i = self.keys.get(key)
        if i is None:
            i = self.keys[key] = len(self.info)
            self.info.append(info)
        return i

    def layers(self, fuse: bool) -> _Layers:
        return self.conventions.setdefault(fuse, _Layers(fuse))

    def signature(self, fuse: bool, layer: int) -> tuple:
        return self.layers(fuse).rows[layer]


CACHE = CostCache()


def clear_cache() -> None:
    """Forget every traced block (the next latency call traces again: a cold start)."""
    global CACHE
    CACHE = CostCache()


_MODULES: dict[tuple, nn.Module] = {}  # one module per block at every input size and convention


def _module(spec: ArchSpec, key: tuple) -> tuple[nn.Module, tuple[int, ...]]:
    *mkey, cin, h, w = key if key[0] == "head" else (*key[:4], key[5], key[6], key[4], key[7], key[8])
    m = _MODULES.get((*mkey, cin))
    if m is None:
        if len(_MODULES) > 512:
            _MODULES.clear()
        with torch.device("meta"):
            if key[0] == "head":
                m = _Tail(spec, cin)
            else:
                _, template, _, _, cin, cout, stride, _, _ = key
                m = _make_block(template, cin, cout, stride, spec, 1.0)
        _MODULES[(*mkey, cin)] = m
    return m, (1, cin, h, w)


def _trace_block(spec: ArchSpec, key: tuple, block: int, fuse: bool) -> None:
    layers = CACHE.layers(fuse)
    if block in layers.blocks:
        return
    module, shape = _module(spec, key)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UnsupportedOpWarning)
        table = trace(module, shape, fuse=fuse)
    CACHE.traces += 1
    ids = []
    for row in table.layers.loc[:, list(SIGNATURE)].itertuples(index=False, name=None):
        i = layers.index.get(row)
        if i is None:
            i = layers.index[row] = len(layers.rows)
            layers.rows.append(row)
        ids.append(i)
    layers.blocks[block] = np.array(ids, dtype=np.int64)


def candidate_blocks(sp: SearchSpace, candidates: pd.DataFrame) -> tuple[np.ndarray, dict[int, tuple]]:
    """Per candidate the block ids of its stem, blocks and head (a matrix padded with -1), and each
    block id's key."""
    base = sp.base
    rows = candidates.to_dict(orient="records")
    seqs = []
    keys: dict[int, tuple] = {}
    memo: dict[tuple, tuple[list[int], tuple[int, int, int]]] = {}

    def add(key: tuple, info: tuple) -> int:
        b = CACHE.block(key, info)
        keys[b] = key
        return b

    for r in rows:
        res = int(r["resolution"])
        c, h, w = 3, res, res
        seq = []
        for i, t in enumerate(sp.stem):
            cout = make_divisible(t.out * 1.0)
            one = replace(t, out=0, stride=1)
            seq.append(add(("block", one, base.act, base.layer_scale, c, cout, t.stride, h, w),
                           (f"stem{i}", t.kind, c, h, w, cout, t.stride)))
            c, (h, w) = cout, block_out_hw(h, w, t.stride)
        for st in sp.stages:
            width, depth = int(r[f"{st.name}.width"]), int(r[f"{st.name}.depth"])
            choices = tuple(str(r[f"{st.name}.b{i}"]) for i in range(depth))
            mk = (st.name, c, h, w, width, choices)
            got = memo.get(mk)
            if got is None:
                ids, first, cc, hh, ww = [], True, c, h, w
                for ch in choices:
                    t = sp.templates[ch]
                    if t is None:
                        continue
                    s = st.stride if first else 1
                    ids.append(add(("block", t, base.act, base.layer_scale, cc, width, s, hh, ww),
                                   (st.name, ch, cc, hh, ww, width, s)))
                    first, cc, (hh, ww) = False, width, block_out_hw(hh, ww, s)
                got = memo[mk] = (ids, (cc, hh, ww))
            seq += got[0]
            c, h, w = got[1]
        seq.append(add(("head", base.head, base.act, c, h, w), ("head", "head", c, h, w, 0, 1)))
        seqs.append(seq)
    width = max(len(s) for s in seqs)
    out = np.full((len(seqs), width), -1, dtype=np.int64)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = s
    return out, keys


def _ensure(sp: SearchSpace, keys: dict[int, tuple], fuse: bool,
            progress: Callable[[int, int], None] | None = None) -> None:
    todo = [b for b in keys if b not in CACHE.layers(fuse).blocks]
    for n, b in enumerate(todo):
        if progress is not None and n % 50 == 0:
            progress(n, len(todo))
        _trace_block(sp.base, keys[b], b, fuse)
    if progress is not None and todo:
        progress(len(todo), len(todo))


def _frame(fuse: bool) -> pd.DataFrame:
    lay = CACHE.layers(fuse)
    df = pd.DataFrame(lay.rows, columns=list(SIGNATURE))
    df.insert(0, "name", [f"L{i}" for i in range(len(df))])
    return df


def _block_sums(values: np.ndarray, fuse: bool, nblocks: int, how: str = "sum") -> np.ndarray:
    """Per block id, the sum (or max) of ``values`` (per distinct layer, last axis) over its layers; an
    extra last entry (0) for the padding."""
    lay = CACHE.layers(fuse)
    lead = values.shape[:-1]
    out = np.zeros((*lead, nblocks + 1))
    for b, ids in lay.blocks.items():
        if b < nblocks and len(ids):
            v = values[..., ids]
            out[..., b] = v.max(axis=-1) if how == "max" else v.sum(axis=-1)
    return out


@dataclass(frozen=True)
class ProfileCosts:
    """One profile's reading of every distinct layer, per block: what a candidate's total is made of."""

    name: str
    block_s: np.ndarray          # per block id: sum of the layers' latency_s (Eq. 1 + per-kernel costs)
    act_sum: np.ndarray          # per block id: sum of activation bytes of the counted layers
    act_max: np.ndarray          # per block id: the largest layer's activation bytes
    per_inference_s: float
    fresh_s_per_byte: float
    fresh_share: float | None
    family: tuple[str, float] | None
    band: Any


def _resolve(profile: HardwareProfile, mode: Any, overhead: bool | None, **kw: Any):
    reading = resolve_reading(profile, mode, kw.get("convention"), kw.get("execution"), kw.get("dtype"), 1,
                              sweep=kw.get("sweep", False))
    return reading, latency_model(profile, reading.execution, overhead)


def profile_costs(sp: SearchSpace, keys: dict[int, tuple], hw: Any, *, mode: Any = Mode.AUTO,
                  overhead: bool | None = None, convention: str | None = None, execution: str | None = None,
                  dtype: str | None = None, progress: Callable[[int, int], None] | None = None) -> ProfileCosts:
    """Read every distinct layer on ``hw`` as :func:`roofline.analyze` would, and sum per block."""
    profile = load_hardware(hw)
    reading, lat = _resolve(profile, mode, overhead, convention=convention, execution=execution, dtype=dtype)
    roof, conv = reading.roof, reading.convention
    _ensure(sp, keys, conv.fused, progress)
    df = _frame(conv.fused)
    table = LayerTable("space", (1, 3, 1, 1), conv.fused, df, 0)
    layers = layer_bytes(table, conv, roof.dtype)
    kept = np.arange(len(df)) if conv.memory_only_ops else np.flatnonzero(~df["memory_only"].to_numpy(bool))
    out = add_overheads(evaluate(layers, roof), lat, roof)
    n = len(CACHE.info)
    per_layer = np.zeros(len(df))
    per_layer[kept] = out["latency_s"].to_numpy(np.float64)
    act = np.zeros(len(df))
    act[kept] = out["activation_bytes"].to_numpy(np.float64)
    name = sp.candidate_name(0)
    return ProfileCosts(profile.name, _block_sums(per_layer, conv.fused, n), _block_sums(act, conv.fused, n),
                        _block_sums(act, conv.fused, n, "max"), lat.per_inference_s,
                        lat.fresh_memory_s_per_byte, lat.fresh_memory_share,
                        family_multiplier(profile, roof.mode, name, overhead, sp.family),
                        band_for(profile, roof, overhead, conv.name, reading.execution, name, sp.family))


def totals(costs: ProfileCosts, blocks: np.ndarray) -> np.ndarray:
    """Seconds per candidate: :func:`~roofline.engine.predict.model_total` of its blocks' sum, the
    per-inference cost and fresh memory (eager), times the family multiplier."""
    layers_s = costs.block_s[blocks].sum(axis=1)
    inference = np.full(len(blocks), costs.per_inference_s)
    if costs.fresh_s_per_byte:  # LatencyModel.fresh_s, per candidate
        fresh_bytes = (costs.act_max[blocks].max(axis=1) if costs.fresh_share is None
                       else costs.fresh_share * costs.act_sum[blocks].sum(axis=1))
        inference = inference + fresh_bytes * costs.fresh_s_per_byte
    return model_total(layers_s, 0.0, inference, family=costs.family[1] if costs.family else 1.0)


def latency(sp: SearchSpace, candidates: Any, hw: Any, *, mode: Any = Mode.AUTO, overhead: bool | None = None,
            convention: str | None = None, execution: str | None = None, dtype: str | None = None,
            progress: Callable[[str], None] | None = None) -> pd.DataFrame:
    """Candidates x profiles: ``<profile>_ms`` and, where the profile has a band, ``<profile>_low_ms``
    and ``<profile>_high_ms``; plus ``macs`` and ``params`` (accuracy proxies). ``progress`` is called
    with each profile's name before it is read."""
    cands = sp.check(candidates)
    profiles = [hw] if isinstance(hw, (str, dict, HardwareProfile)) else list(hw or [])
    if not profiles:
        raise InvalidInputError("latency: give hw= (one profile or a list of them)")
    blocks, keys = candidate_blocks(sp, cands)
    cols: dict[str, np.ndarray] = {}
    for p in profiles:
        if progress is not None:  # once per profile, before it (the first traces the blocks)
            progress(p if isinstance(p, str) else getattr(p, "name", "profile"))
        costs = profile_costs(sp, keys, p, mode=mode, overhead=overhead, convention=convention,
                              execution=execution, dtype=dtype)
        total = totals(costs, blocks)
        cols[f"{costs.name}_ms"] = total * 1e3
        if costs.band is not None:
            lo, hi = costs.band.around(total)
            cols[f"{costs.name}_low_ms"], cols[f"{costs.name}_high_ms"] = lo * 1e3, hi * 1e3
    macs, params = proxies(sp, blocks, keys)
    return pd.DataFrame({**cols, "macs": macs, "params": params}, index=cands.index)


def proxies(sp: SearchSpace, blocks: np.ndarray, keys: dict[int, tuple]) -> tuple[np.ndarray, np.ndarray]:
    """MACs and parameters per candidate (from the fused trace's rows, as ``analyze``'s totals)."""
    _ensure(sp, keys, True)
    df = CACHE.layers(True).rows
    n = len(CACHE.info)
    macs = np.array([r[SIGNATURE.index("macs")] for r in df], dtype=np.float64)
    params = np.array([r[SIGNATURE.index("params")] for r in df], dtype=np.float64)
    return (_block_sums(macs, True, n)[blocks].sum(axis=1).astype(np.int64),
            _block_sums(params, True, n)[blocks].sum(axis=1).astype(np.int64))


def ridge_sweep(sp: SearchSpace, candidates: Any, rps: Sequence[float], hw: Any, *, vary: str = "peak",
                mode: Any = Mode.AUTO, overhead: bool | None = None) -> np.ndarray:
    """Seconds per ridge point x candidate on ``hw``'s roofline with its peak (``vary="peak"``) or
    bandwidth varied to each ridge point, the profile's fitted terms and overheads kept (as
    :func:`roofline.studies.sweep.sweep` reads a model)."""
    from .sweep import rooflines

    cands = sp.check(candidates)
    profile = load_hardware(hw)
    reading, lat = _resolve(profile, mode, overhead, sweep=True)
    roof, conv = reading.roof, reading.convention
    blocks, keys = candidate_blocks(sp, cands)
    _ensure(sp, keys, conv.fused)
    df = _frame(conv.fused)
    layers = layer_bytes(LayerTable("space", (1, 3, 1, 1), conv.fused, df, 0), conv, roof.dtype)
    kept = np.arange(len(df)) if conv.memory_only_ops else np.flatnonzero(~df["memory_only"].to_numpy(bool))
    peaks, bws = rooflines(np.asarray(rps, dtype=np.float64), vary, roof.mem_bw_bytes_per_s, roof.peak_macs_per_s)
    factor, slow = fitted_terms(layers, roof)
    macs = layers["macs"].to_numpy(np.float64)
    byts = (layers["weight_bytes"] + layers["activation_bytes"]).to_numpy(np.float64)
    t = layer_times(macs[None, :], byts[None, :], peaks[:, None], bws[:, None],
                    None if factor is None else factor[None, :], None if slow is None else slow[None, :])
    fixed = add_overheads(evaluate(layers, roof), lat, roof)["overhead_s"].to_numpy(np.float64)
    per_layer = np.zeros((len(peaks), len(df)))
    per_layer[:, kept] = t.latency_s + (0.0 if lat.is_eq1 else fixed[None, :])
    n = len(CACHE.info)
    block_s = _block_sums(per_layer, conv.fused, n)
    fam = family_multiplier(profile, roof.mode, sp.candidate_name(0), overhead, sp.family)
    act = np.zeros(len(df))
    act[kept] = layers["activation_bytes"].to_numpy(np.float64)
    costs = ProfileCosts(profile.name, np.zeros(n + 1), _block_sums(act, conv.fused, n),
                         _block_sums(act, conv.fused, n, "max"), lat.per_inference_s, lat.fresh_memory_s_per_byte,
                         lat.fresh_memory_share, fam, None)
    base = totals(costs, blocks)  # the whole-model terms alone, times the family multiplier
    g = fam[1] if fam else 1.0
    return block_s[:, blocks].sum(axis=2) * g + base[None, :]


__all__ = ["CACHE", "CostCache", "ProfileCosts", "block_out_hw", "candidate_blocks", "clear_cache", "latency",
           "profile_costs", "proxies", "ridge_sweep", "totals"]


def lut_blocks(sp: SearchSpace) -> tuple[dict[int, tuple], dict[tuple, int]]:
    """Every block the space can hold at every input shape it can see (stem, stage slots, head): block
    id -> key, and each LUT row (stage, choice, input, output, stride) -> its block id (a block at one
    shape in two stages is one block, and a row in each)."""
    base, keys, rows = sp.base, {}, {}

    def add(key: tuple, info: tuple) -> None:
        b = CACHE.block(key, info)
        keys[b] = key
        rows.setdefault(info, b)

    states = set()
    for res in sp.resolutions:
        c, h, w = 3, res, res
        for i, t in enumerate(sp.stem):
            cout = make_divisible(t.out * 1.0)
            add(("block", replace(t, out=0, stride=1), base.act, base.layer_scale, c, cout, t.stride, h, w),
                (f"stem{i}", t.kind, c, h, w, cout, t.stride))
            c, (h, w) = cout, block_out_hw(h, w, t.stride)
        states.add((c, h, w))
    for st in sp.stages:
        nxt = set()
        for c, h, w in sorted(states):
            for width in st.widths:
                oh, ow = block_out_hw(h, w, st.stride)
                for ch in st.first_choices:
                    add(("block", sp.templates[ch], base.act, base.layer_scale, c, width, st.stride, h, w),
                        (st.name, ch, c, h, w, width, st.stride))
                if st.slots > 1:
                    for ch in st.choices:
                        if sp.templates[ch] is not None:
                            add(("block", sp.templates[ch], base.act, base.layer_scale, width, width, 1, oh, ow),
                                (st.name, ch, width, oh, ow, width, 1))
                nxt.add((width, oh, ow))
        states = nxt
    for c, h, w in sorted(states):
        add(("head", base.head, base.act, c, h, w), ("head", "head", c, h, w, 0, 1))
    return keys, rows


def lut(sp: SearchSpace, hw: Any, *, mode: Any = Mode.AUTO, overhead: bool | None = None,
        progress: Callable[[int, int], None] | None = None) -> tuple[pd.DataFrame, dict[str, Any]]:
    """The latency look-up table of a space on one profile (FBNet / ProxylessNAS style: stage, input
    shape, choice -> ms), and the whole-model terms a search adds to a candidate's sum of rows::

        total_ms = family_multiplier x (sum of its rows' ms + per_inference_ms + fresh memory)

    fresh memory (eager execution only): ``fresh_ms_per_byte x`` (``fresh_share x`` the sum of its rows'
    ``act_bytes``, or without a share the largest of their ``act_bytes_max``)."""
    keys, rows = lut_blocks(sp)
    costs = profile_costs(sp, keys, hw, mode=mode, overhead=overhead, progress=progress)
    info, ids = list(rows), list(rows.values())
    df = pd.DataFrame(info, columns=["stage", "choice", "in_channels", "in_h", "in_w", "out_channels", "stride"])
    df.insert(2, "input", [f"{c}x{h}x{w}" for _, _, c, h, w, _, _ in info])
    df["ms"] = costs.block_s[ids] * 1e3
    df["act_bytes"] = costs.act_sum[ids]
    df["act_bytes_max"] = costs.act_max[ids]
    terms = {"space": sp.name, "profile": costs.name,
             "family": costs.family[0] if costs.family else None,
             "family_multiplier": costs.family[1] if costs.family else 1.0,
             "per_inference_ms": costs.per_inference_s * 1e3,
             "fresh_ms_per_byte": costs.fresh_s_per_byte * 1e3, "fresh_share": costs.fresh_share,
             "band_low_ratio": costs.band.low_ratio if costs.band else None,
             "band_high_ratio": costs.band.high_ratio if costs.band else None,
             "formula": "total_ms = family_multiplier * (sum of the candidate's rows' ms (stem, blocks, head) + "
                        "per_inference_ms + fresh_ms_per_byte * (fresh_share * sum of act_bytes, or without a "
                        "share max of act_bytes_max))"}
    return df.sort_values(["stage", "input", "choice", "out_channels"], kind="stable",
                          key=lambda s: s.map(_stage_order(sp)) if s.name == "stage" else s).reset_index(drop=True), terms


def _stage_order(sp: SearchSpace) -> dict[str, int]:
    names = [f"stem{i}" for i in range(len(sp.stem))] + [s.name for s in sp.stages] + ["head"]
    return {n: i for i, n in enumerate(names)}


def lut_csv(table: pd.DataFrame, terms: dict[str, Any]) -> str:
    """The LUT as CSV, the whole-model terms as ``# key: value`` lines above the header
    (``pandas.read_csv(path, comment="#")`` reads the rows)."""
    head = "".join(f"# {k}: {'' if v is None else v}\n" for k, v in terms.items())
    return head + table.to_csv(index=False, float_format="%.9g")
