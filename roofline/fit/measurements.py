"""Tables of measured latency, as people have them: one row per measurement.

A row names a model (any name the tool takes: zoo, ``timm:``, ``torchvision:``,
``file.py:factory``) and its latency in ms, or its throughput in samples/s
(converted with the row's batch). Optional columns give the resolution, batch,
dtype and width multiplier; an empty cell means the model's default (native
resolution, batch 1, the fit's dtype, width 1). A ``family`` column names the
family of a model the tool cannot tell one for (a model file; see
:mod:`roofline.zoo.families`), or overrides it: one family per model. The same model may appear at
several resolutions and batches; a row that repeats another's model, resolution,
batch, dtype and width is refused, naming both rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..core import checks
from ..core.errors import InvalidInputError, RooflineError
from ..core.taxonomy import family_key
from ..hardware import BYTES_PER_ELEMENT
from ..zoo import resolve
from ..zoo.libraries import is_library_name

MAX_ROWS = 10_000
LATENCY_MS = (1e-6, 1e7)  # a nanosecond to about three hours, per call (a whole batch)


@dataclass(frozen=True)
class Columns:
    """Which column holds what; ``throughput`` replaces ``ms`` when given."""

    model: str = "model"
    ms: str = "ms"
    throughput: str | None = None
    resolution: str = "resolution"
    batch: str = "batch"
    dtype: str = "dtype"
    width: str = "width"
    family: str = "family"


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _canonical(name: str, source: str = "zoo", width: float | None = None, at: str = "the table") -> str:
    """The canonical model name: zoo aliases resolved, with the row's ``width`` (``mnv2`` at width 0.5 is
    ``mnv2-0.5x``, one model); library and file names kept as given; a bare name from ``source`` (timm,
    torchvision) gets its prefix."""
    from ..zoo import model_name, resolve
    from ..zoo.libraries import is_library_name

    if source != "zoo" and not is_library_name(name) and ":" not in name:
        return f"{source}:{name}"
    if is_library_name(name):
        return name
    if ":" in name and not name.startswith(("timm", "torchvision")):
        from ..trace.user_model import check_data_spec

        check_data_spec(name, at)  # a table names model files by path; it never imports a module
        return name
    return model_name(*resolve(name, width))


def read_measurements(path: str | Path, columns: Columns = Columns(), dtype: str = "int8",
                      source: str = "zoo") -> pd.DataFrame:
    """The table as ``model``, ``resolution`` (None = native), ``batch``, ``dtype``, ``width`` (None = 1),
    ``latency_s`` (per call, the whole batch) and ``line`` (the row's line in the file)."""
    if not isinstance(path, (str, Path)):
        raise InvalidInputError(f"measurement file {checks.show(path)} does not exist (give a path)")
    path = Path(path)
    if not path.is_file():
        raise RooflineError(f"measurement file {path} does not exist")
    checks.choice(source, "source", ("zoo", "timm", "torchvision"))
    if dtype not in BYTES_PER_ELEMENT:
        raise InvalidInputError(f"unknown dtype {checks.show(dtype)}; use one of {', '.join(BYTES_PER_ELEMENT)}")
    try:  # plain text whatever the suffix: pandas would otherwise guess a compression from the name
        raw = pd.read_csv(path, comment="#", dtype=str, keep_default_na=False, compression=None,
                          skip_blank_lines=True)
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as e:
        raise RooflineError(f"cannot read {path} as CSV: {str(e).splitlines()[0]}") from None
    if len(raw) > MAX_ROWS:
        raise RooflineError(f"{path} has {len(raw):,} rows; fit takes at most {MAX_ROWS:,}")
    for opt, col in (("--models-col", columns.model), ("--latency-col", columns.ms),
                     ("--throughput-col", columns.throughput)):
        if col is not None and (not isinstance(col, str) or not col.strip()):
            raise InvalidInputError(f"{opt} names no column (got {checks.show(col)}); give a column name")
    latency_col = columns.throughput or columns.ms
    for col, opt in ((columns.model, "--models-col"), (latency_col, "--throughput-col" if columns.throughput
                                                       else "--latency-col")):
        if col not in raw.columns:
            raise RooflineError(f"{path} has no column {col!r} (columns: {', '.join(map(str, raw.columns))}); "
                                f"set {opt}")
    if raw.empty:
        raise RooflineError(f"{path} has no measurements")
    lines = _data_lines(path, len(raw))
    rows = []
    for i, r in enumerate(raw.to_dict(orient="records")):
        at = f"{path}: line {lines[i]}"
        name = str(r[columns.model]).strip()
        if not name:
            raise RooflineError(f"{at}: the model cell is empty")
        res = _int_cell(r.get(columns.resolution), at, "resolution", checks.MAX_RESOLUTION)
        batch = _int_cell(r.get(columns.batch), at, "batch", checks.MAX_BATCH) or 1
        dt = r.get(columns.dtype)
        dt = dtype if _blank(dt) else str(dt).strip()
        if dt not in BYTES_PER_ELEMENT:
            raise RooflineError(f"{at}: dtype {dt!r} is not one of {', '.join(BYTES_PER_ELEMENT)}")
        width = r.get(columns.width)
        width = None if _blank(width) else _float_cell(width, at, "width")
        if width is not None and not 1 / 64 <= width <= 4:
            raise RooflineError(f"{at}: width {width:g} is outside 1/64 to 4")
        value = _float_cell(r[latency_col], at, latency_col)
        if columns.throughput:
            ms = batch / value * 1e3
        else:
            ms = value
        lo, hi = LATENCY_MS
        if not lo <= ms <= hi:
            raise RooflineError(f"{at}: latency {ms:g} ms is outside the plausible range {lo:g} to {hi:g} ms")
        if ":" in name and not name.startswith(("timm", "torchvision")) and not is_library_name(name):
            canon = _canonical(name, source, width, at)  # a model file: its errors name the line already
        else:
            try:
                canon = _canonical(name, source, width)
                if source == "zoo" and ":" not in canon:  # the width is part of the name: one model, one group
                    width = resolve(canon)[1]
            except RooflineError as e:
                raise RooflineError(f"{at}: {e}") from None
        if width is not None and abs(width - 1.0) < 1e-12:
            width = None
        fam = r.get(columns.family)
        fam = None if _blank(fam) else family_key(fam, f"{at}: family")
        rows.append({"model": canon, "resolution": res, "batch": batch, "dtype": dt, "width": width,
                     "latency_s": ms / 1e3, "line": lines[i], "family": fam})
    df = pd.DataFrame({k: pd.Series([r[k] for r in rows], dtype=object if k in ("resolution", "width", "family") else None)
                       for k in rows[0]})  # resolution and width keep None (the model's own)
    fams = df.dropna(subset=["family"]).groupby("model")["family"].nunique()
    if (fams > 1).any():
        raise RooflineError(f"{path}: model {fams.index[fams > 1][0]} is given more than one family; give one")
    key = pd.Series(["|".join(map(str, r)) for r in zip(df["model"], df["resolution"], df["batch"], df["dtype"],
                                                         df["width"])], index=df.index)
    dup = key.duplicated(keep=False)
    if dup.any():
        first = key[dup].iloc[0]
        both = df.loc[key == first, "line"].tolist()
        r = df.loc[key == first].iloc[0]
        res = "native" if r["resolution"] is None or pd.isna(r["resolution"]) else f"{int(r['resolution'])} px"
        raise RooflineError(f"{path}: lines {both[0]} and {both[1]} both measure {r['model']} at {res} resolution, "
                            f"batch {r['batch']}, {r['dtype']} (after resolving aliases); give one latency per "
                            f"setting")
    return df


def _data_lines(path: Path, n: int) -> list[int]:
    """The file line of each data row (comments and blank lines skipped, after the header): the physical
    line where the row starts, a quoted cell over several lines counted as the lines it spans. A column
    name given twice in the header is refused (pandas would rename the second ``ms.1``)."""
    import csv

    out: list[int] = []
    header: list[str] | None = None
    header_line = 1
    with open(path, encoding="utf-8", errors="replace", newline="") as f:
        reader = csv.reader(f)
        start = 1
        try:
            for rec in reader:
                first, start = start, reader.line_num + 1
                if not rec or (len(rec) == 1 and not rec[0].strip()) or rec[0].lstrip().startswith("#"):
                    continue
                if header is None:
                    header, header_line = rec, first
                    continue
                out.append(first)
        except csv.Error:  # pandas read it: number what was read, the rest as before
            pass
    names = [c.strip() for c in header or []]
    twice = next((c for i, c in enumerate(names) if c in names[:i]), None)
    if twice is not None:
        raise RooflineError(f"{path}: line {header_line}: column {twice!r} appears twice in the header; give each "
                            f"column one name")
    return (out + list(range(out[-1] + 1 if out else 2, n + 3)))[:n]


def _float_cell(v: object, at: str, what: str) -> float:
    checks.number_text(str(v).strip(), f"{at}: {what}")
    try:
        x = float(str(v).strip())
    except ValueError:
        raise RooflineError(f"{at}: {what} {str(v)!r} is not a number") from None
    if not math.isfinite(x) or x <= 0:
        raise RooflineError(f"{at}: {what} must be a positive number, got {str(v).strip()!r}")
    return x


def _int_cell(v: object, at: str, what: str, hi: int) -> int | None:
    if _blank(v):
        return None
    x = _float_cell(v, at, what)
    if x != int(x) or not 1 <= x <= hi:
        raise RooflineError(f"{at}: {what} must be a whole number from 1 to {hi:,}, got {str(v).strip()!r}")
    return int(x)


def groups_of(df: pd.DataFrame) -> np.ndarray:
    """The cross-validation group of each row: its model (all resolutions and batches in one fold)."""
    return df["model"].to_numpy(dtype=object)
