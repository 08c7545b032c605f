"""The data a fit works on: every measured row's layers, flattened and deduplicated (:class:`Design`),
and the ridge-point grids a fit searches for its starting roofline (:class:`RidgeGrid`)."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..core.conventions import Convention
from ..core.taxonomy import EFFICIENCY_CLASSES, MEMORY_CLASSES
from ..engine.efficiency import layer_classes
from ..engine.latency import kernel_counts
from ..engine.roofline import layer_bytes
from ..engine.shape import layer_shapes
from ..trace import LayerTable
from ..zoo.families import model_family

FAMILY_MIN_MODELS = 2  # a family effect needs this many models of the family measured


@dataclass(frozen=True)
class RidgeGrid:
    """Ridge points (MACs/byte) a search tries: ``points`` of them, log-spaced from ``low`` to ``high``."""

    low: float
    high: float
    points: int

    def values(self) -> np.ndarray:
        return np.geomspace(self.low, self.high, self.points)


# the best plain roofline of a table, bandwidth in closed form at each ridge point: coarse for the
# starting points of the fit (roofline.fit.terms), fine for Eq. 1 alone (roofline.fit.table_fit)
START_GRID = RidgeGrid(0.3, 3000.0, 40)
TABLE_GRID = RidgeGrid(0.1, 5000.0, 4001)


@dataclass(frozen=True)
class Design:
    """Every measured row's layers, flattened: what the model needs and nothing else."""

    macs: np.ndarray        # per (deduplicated) layer entry
    bytes_: np.ndarray
    weight: np.ndarray      # how many identical layers of the row the entry stands for
    row: np.ndarray         # the row each entry belongs to
    cls: np.ndarray         # index into EFFICIENCY_CLASSES, or -1 (dense conv: the reference)
    memory: np.ndarray      # memory-only layer (bytes only)
    row_dtype: np.ndarray   # per row: index into ``dtypes``
    dtypes: tuple[str, ...]
    kernels: np.ndarray     # per row
    measured_s: np.ndarray  # per row
    groups: np.ndarray      # per row: the model (a cross-validation group)
    macs_total: np.ndarray  # per row
    # per row: the model's family, None for none (not given: roofline.zoo.families.model_family of groups)
    family: np.ndarray | None = None
    reduction: np.ndarray | None = None  # per entry: MACs per output element (None: all 1)

    def __post_init__(self) -> None:
        if self.family is None:
            object.__setattr__(self, "family", np.array([model_family(str(g)) for g in self.groups], dtype=object))
        if self.reduction is None:
            object.__setattr__(self, "reduction", np.ones(len(self.macs)))

    @functools.cached_property
    def entry_dtype(self) -> np.ndarray:
        """Per layer entry: its row's dtype index."""
        return self.row_dtype[self.row]

    @functools.cached_property
    def weighted_macs(self) -> np.ndarray:
        """Per layer entry: the MACs of all the identical layers it stands for (0 for memory-only ones)."""
        return np.where(self.memory, 0.0, self.weight * self.macs)

    @functools.cached_property
    def weighted_bytes(self) -> np.ndarray:
        return self.weight * self.bytes_

    @functools.cached_property
    def inverse_reduction(self) -> np.ndarray:
        return 1.0 / self.reduction

    @functools.cached_property
    def cls_slot(self) -> np.ndarray:
        """Per layer entry: its class index, dense conv (-1) in the last slot."""
        return np.where(self.cls < 0, len(EFFICIENCY_CLASSES), self.cls)

    def families(self, min_models: int = FAMILY_MIN_MODELS) -> tuple[str, ...]:
        """The families with at least ``min_models`` models in the rows (the ones a fit can inform)."""
        pairs = pd.DataFrame({"f": self.family, "g": self.groups}).drop_duplicates()
        counts = pairs.groupby("f").size()
        return tuple(sorted(str(f) for f in counts.index[counts >= min_models]))

    @property
    def n_rows(self) -> int:
        return len(self.measured_s)

    def subset(self, rows: np.ndarray) -> Design:
        rows = np.asarray(rows)
        new = -np.ones(self.n_rows, dtype=np.int64)
        new[rows] = np.arange(len(rows))
        keep = new[self.row] >= 0
        return Design(self.macs[keep], self.bytes_[keep], self.weight[keep], new[self.row[keep]], self.cls[keep],
                      self.memory[keep], self.row_dtype[rows], self.dtypes, self.kernels[rows],
                      self.measured_s[rows], self.groups[rows], self.macs_total[rows], self.family[rows],
                      self.reduction[keep])

    def present_terms(self, share: float = 0.03, models: int = 2) -> tuple[str, ...]:
        """The class terms the data can inform: compute classes that carry at least ``share`` of the
        MACs, and memory classes at least ``share`` of the bytes, of at least ``models`` models. A
        class that only trims the edges of the models measured would be fitted to noise, and
        extrapolate wildly to a model it dominates. At 10 % the iPhone 13 ANE's attention and data
        movement (EfficientViT's, 1.9x slower there than its roofline) were never candidates: outer
        held-out median 22.2 %; at 3 % 10.2 %, the other six phones 5.1-11.8 % (one value tried)."""
        macs = np.bincount(self.row, self.weight * self.macs, minlength=self.n_rows)
        byts = np.bincount(self.row, self.weight * self.bytes_, minlength=self.n_rows)
        out = []
        for i, c in enumerate(EFFICIENCY_CLASSES):
            sel = self.cls == i
            m = np.bincount(self.row, np.where(sel, self.weight * self.macs, 0.0), minlength=self.n_rows)
            b = np.bincount(self.row, np.where(sel, self.weight * self.bytes_, 0.0), minlength=self.n_rows)
            with np.errstate(invalid="ignore", divide="ignore"):
                big = np.nan_to_num(b / byts if c in MEMORY_CLASSES else m / macs) >= share
            if len(set(self.groups[big].tolist())) >= models:
                out.append(c)
        return tuple(out)


def row_layers(table: LayerTable, convention: Convention, dtype: str, execution: str
               ) -> tuple[pd.DataFrame, int]:
    """A traced row's counted layers (MACs, bytes, class) and its kernel count."""
    layers = layer_bytes(table, convention, dtype)
    return layers, int(kernel_counts(layers, execution).sum())


def build_design(tables: Sequence[LayerTable], dtypes: Sequence[str], measured_s: Sequence[float],
                 groups: Sequence[str], convention: Convention, execution: str,
                 families: Sequence[str | None] | None = None) -> Design:
    """The design of rows ``tables`` (one per measurement), counted with ``convention``. ``families``: per
    row, the model's family where one is given (a measurements table's ``family`` column), else its own
    (:func:`~roofline.zoo.families.model_family` of its group)."""
    parts = []
    kernels = np.empty(len(tables))
    dtype_names = tuple(dict.fromkeys(dtypes))
    class_index = {c: i for i, c in enumerate(EFFICIENCY_CLASSES)}
    for r, (t, dt) in enumerate(zip(tables, dtypes)):
        layers, k = row_layers(t, convention, dt, execution)
        kernels[r] = k
        cls = np.array([class_index.get(c, -1) for c in layer_classes(layers)], dtype=np.int64)
        macs = layers["macs"].to_numpy(np.float64)
        byts = (layers["weight_bytes"] + layers["activation_bytes"]).to_numpy(np.float64)
        mem = layers["memory_only"].to_numpy(bool)
        red = layer_shapes(layers)[1]
        # identical layers (a transformer's repeated blocks) become one entry with a weight, in the
        # order of their first appearance
        key = np.stack([macs, byts, cls.astype(np.float64), mem.astype(np.float64), red], axis=1)
        if len(key):
            _, first, inverse, counts = np.unique(key, axis=0, return_index=True, return_inverse=True,
                                                  return_counts=True)
            order = np.argsort(first, kind="stable")
            key, counts = key[first[order]], counts[order]
        else:
            counts = np.zeros(0)
        parts.append((key, counts, np.full(len(key), r, dtype=np.int64)))
    keys = np.concatenate([k for k, _, _ in parts]) if parts else np.zeros((0, 5))
    weights = np.concatenate([c for _, c, _ in parts]).astype(np.float64) if parts else np.zeros(0)
    rows = np.concatenate([r for _, _, r in parts]) if parts else np.zeros(0, dtype=np.int64)
    return Design(keys[:, 0].copy(), keys[:, 1].copy(), weights, rows,
                  keys[:, 2].astype(np.int64), keys[:, 3].astype(bool),
                  np.array([dtype_names.index(d) for d in dtypes], dtype=np.int64), dtype_names, kernels,
                  np.asarray(measured_s, dtype=np.float64), np.asarray(groups, dtype=object),
                  np.array([float(t.macs) for t in tables]),
                  None if families is None else np.array(
                      [f if isinstance(f, str) and f else model_family(str(g)) for f, g in zip(families, groups)],
                      dtype=object),
                  reduction=keys[:, 4].copy())
