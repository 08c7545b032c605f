"""Reading profiles: built-in lookup, ``yaml.safe_load`` only, and validation that names the file
and the field of every problem."""

from __future__ import annotations

import functools
import math
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ..core.checks import number
from ..core.errors import ProfileError, UnknownHardwareError, closest
from ..core.reading import Mode
from ..core.taxonomy import EFFICIENCY_CLASSES
from .consistency import check_validation
from .model import (BYTES_PER_ELEMENT, CEILING_KEYS, CONFIDENCE, Ceilings, EFFICIENCY_RANGE, EXECUTIONS, FIGURE_KEYS,
                    FITTED_KEYS, Figure, Fitted, HardwareProfile, KINDS, KernelCost, MAX_PER_BYTE_S,
                    MAX_PER_INFERENCE_S, MAX_PER_KERNEL_S, MAX_REDUCTION_HALF, MAX_RIDGE_POINT, MIN_RIDGE_POINT, OVERHEAD_KEYS, Overhead,
                    REQUIRED, STATUSES, ShapeTerms, TOP_KEYS, VALIDATION_KEYS, Validation, _NUMBER, _PLAUSIBLE_MAX,
                    _PLAUSIBLE_MIN, _UNITS)


def _profile_dirs() -> list[Path]:
    """Built-in profiles: inside the installed wheel, or the source tree's hardware_profiles/."""
    dirs = []
    packaged = resources.files("roofline") / "hardware_profiles"
    if packaged.is_dir():
        dirs.append(Path(str(packaged)))
    source_tree = Path(__file__).resolve().parents[2] / "hardware_profiles"
    if source_tree.is_dir():
        dirs.append(source_tree)
    return dirs


@functools.cache
def builtin_profiles() -> dict[str, Path]:
    """Name -> file of every built-in profile."""
    found: dict[str, Path] = {}
    for d in _profile_dirs():
        for f in sorted(d.glob("*.yaml")):
            found.setdefault(f.stem, f)
    return found


def list_hardware() -> list[str]:
    return sorted(builtin_profiles())


def load_hardware(spec: str | Path | dict | HardwareProfile) -> HardwareProfile:
    """Load a profile from a built-in name, a YAML path, or a dict of the same schema."""
    if isinstance(spec, HardwareProfile):
        return spec
    if isinstance(spec, dict):
        return _parse(spec, "<dict>")
    text = str(spec)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or path.is_file()):
        files = builtin_profiles()
        if text not in files:
            raise UnknownHardwareError(f"unknown hardware {text!r}{closest(text, files)}; "
                                       f"'roofline hw' lists the profiles, or give a YAML file")
        path = files[text]
    if not path.is_file():
        raise UnknownHardwareError(f"hardware profile file {path} does not exist")
    try:
        size = path.stat().st_size
        if size > MAX_PROFILE_BYTES:
            raise ProfileError(f"{path}: {size:,} bytes is too large for a hardware profile (at most "
                               f"{MAX_PROFILE_BYTES:,})")
        text = path.read_text(encoding="utf-8")
        _refuse_aliases(text, path)
        data = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        raise ProfileError(f"{path}:{where} is not valid YAML: {getattr(e, 'problem', e)}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise ProfileError(f"{path}: cannot read: {e}") from None
    return _parse(data, str(path))


MAX_PROFILE_BYTES = 1 << 20
MAX_TEXT = 4096  # characters in a free-text field (name, description, source)


MAX_DEPTH = 16  # nesting levels; a profile needs 5


def _refuse_aliases(text: str, path: Path) -> None:
    """Profiles never need YAML anchors or aliases, nor deep nesting; refusing them, token by token
    and without recursion, bounds what a file can expand to before the parser's recursive walk."""
    opens = (yaml.BlockMappingStartToken, yaml.BlockSequenceStartToken, yaml.FlowMappingStartToken,
             yaml.FlowSequenceStartToken)
    closes = (yaml.BlockEndToken, yaml.FlowMappingEndToken, yaml.FlowSequenceEndToken)
    depth = 0
    for token in yaml.scan(text, Loader=yaml.SafeLoader):
        if isinstance(token, (yaml.AnchorToken, yaml.AliasToken)):
            line = token.start_mark.line + 1
            raise ProfileError(f"{path}: line {line}: YAML anchors and aliases (&, *) are not allowed in "
                               f"hardware profiles")
        if isinstance(token, opens):
            depth += 1
            if depth > MAX_DEPTH:
                raise ProfileError(f"{path}: line {token.start_mark.line + 1}: nested more than {MAX_DEPTH} levels "
                                   f"deep; a hardware profile needs 5")
        elif isinstance(token, closes):
            depth -= 1


def _text(value: Any, where: str, field_name: str) -> str:
    """A free-text field: a string (numbers are written as text) of bounded length."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ProfileError(f"{where}: {field_name} must be text, got {type(value).__name__}")
    text = str(value)
    if len(text) > MAX_TEXT:
        raise ProfileError(f"{where}: {field_name} has {len(text):,} characters (at most {MAX_TEXT:,})")
    return text


def _number(value: Any, where: str, field_name: str, unit_key: str | None = None) -> float:
    if isinstance(value, bool) or value is None:
        raise ProfileError(f"{where}: {field_name} must be a number, got {value!r}")
    if isinstance(value, str):
        if not _NUMBER.match(value.strip()):
            raise ProfileError(f"{where}: {field_name} must be a number, got the string {value!r}"
                               + (" (units go in the key name, not the value)" if re.search(
                                   r"[A-Za-z]", value) and re.search(r"\d", value) else ""))
        value = float(value)
    if not isinstance(value, (int, float)):
        raise ProfileError(f"{where}: {field_name} must be a number, got {type(value).__name__}")
    lo, hi = (_PLAUSIBLE_MIN[unit_key], _PLAUSIBLE_MAX[unit_key]) if unit_key else (None, None)
    return number(value, f"{where}: {field_name}", lo, hi, units_hint=_UNITS.get(unit_key or "", ""),
                  error=ProfileError)


def _seconds(value: Any, where: str, field_name: str, upper: float) -> float:
    """A fixed cost in seconds: zero or positive, below ``upper``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value == 0:
        return 0.0
    v = _number(value, where, field_name)
    if v > upper:
        raise ProfileError(f"{where}: {field_name} = {v:g} s is implausibly large (above {upper:g} s): "
                           f"units are seconds (e.g. 3e-06, not 3 µs)")
    return v


def _check_keys(d: dict, allowed: set[str], where: str, context: str) -> None:
    for k in d:
        if k not in allowed:
            raise ProfileError(f"{where}: unknown key {context}{k!r}{closest(str(k), allowed, n=1)}")


def _figure(value: Any, where: str, field_name: str, unit_key: str) -> Figure:
    if isinstance(value, dict):
        _check_keys(value, FIGURE_KEYS, where, f"{field_name}.")
        if "value" not in value:
            raise ProfileError(f"{where}: {field_name} is missing 'value'")
        conf = _confidence(value, where, field_name)
        return Figure(_number(value["value"], where, f"{field_name}.value", unit_key),
                      _text(value.get("source"), where, f"{field_name}.source"), conf)
    return Figure(_number(value, where, field_name, unit_key))


def _parse(data: Any, where: str) -> HardwareProfile:
    if not isinstance(data, dict):
        raise ProfileError(f"{where}: a hardware profile must be a YAML mapping, got "
                           f"{type(data).__name__ if data is not None else 'an empty file'}")
    _check_keys(data, TOP_KEYS, where, "")
    for k in REQUIRED:
        if k not in data:
            raise ProfileError(f"{where}: missing field {k!r}")
    kind = str(data["kind"])
    if kind not in KINDS:
        raise ProfileError(f"{where}: kind must be one of {', '.join(KINDS)}, got {kind!r}")
    default_dtype = str(data["default_dtype"])
    if default_dtype not in BYTES_PER_ELEMENT:
        raise ProfileError(f"{where}: default_dtype must be one of {', '.join(BYTES_PER_ELEMENT)}, "
                           f"got {default_dtype!r}")
    peaks_raw = data.get("peak_macs_per_s") or {}
    if not isinstance(peaks_raw, dict):
        raise ProfileError(f"{where}: peak_macs_per_s must map a dtype to a number, got {peaks_raw!r}")
    peaks = {}
    for dt, v in peaks_raw.items():
        if dt not in BYTES_PER_ELEMENT:
            raise ProfileError(f"{where}: peak_macs_per_s has unknown dtype {dt!r}"
                               f"{closest(str(dt), BYTES_PER_ELEMENT)}")
        peaks[dt] = _figure(v, where, f"peak_macs_per_s.{dt}", "peak_macs_per_s")
    bw = _figure(data["mem_bw_bytes_per_s"], where, "mem_bw_bytes_per_s", "mem_bw_bytes_per_s")
    on_chip = (_figure(data["on_chip_bytes"], where, "on_chip_bytes", "on_chip_bytes")
               if data.get("on_chip_bytes") is not None else None)
    fitted = None
    if data.get("fitted") is not None:
        f = data["fitted"]
        if not isinstance(f, dict):
            raise ProfileError(f"{where}: fitted must be a mapping")
        _check_keys(f, FITTED_KEYS, where, "fitted.")
        if "ridge_point_macs_per_byte" not in f:
            raise ProfileError(f"{where}: fitted is missing 'ridge_point_macs_per_byte'")
        fdt = str(f.get("dtype", default_dtype))
        if fdt not in BYTES_PER_ELEMENT:
            raise ProfileError(f"{where}: fitted.dtype must be one of {', '.join(BYTES_PER_ELEMENT)}")
        fbw = f.get("mem_bw_bytes_per_s")
        others = f.get("other_dtypes") or {}
        if not isinstance(others, dict) or any(d not in BYTES_PER_ELEMENT for d in others):
            raise ProfileError(f"{where}: fitted.other_dtypes must map a dtype ({', '.join(BYTES_PER_ELEMENT)}) "
                               f"to its ridge point")
        fitted = Fitted(fdt, _ridge_point(f["ridge_point_macs_per_byte"], where, "fitted.ridge_point_macs_per_byte"),
                        _number(fbw, where, "fitted.mem_bw_bytes_per_s", "mem_bw_bytes_per_s")
                        if fbw is not None else None,
                        _text(f.get("source"), where, "fitted.source"),
                        _text(f.get("confidence"), where, "fitted.confidence"),
                        _efficiency(f.get("efficiency"), where),
                        {str(d): _ridge_point(v, where, f"fitted.other_dtypes.{d}") for d, v in others.items()},
                        _choice(f.get("convention", ""), where, "fitted.convention", ("", "default", "mnv4-paper",
                                                                                      "unfused")),
                        _choice(f.get("execution", ""), where, "fitted.execution", ("",) + EXECUTIONS),
                        _family(f.get("family"), where),
                        _reduction_half(f.get("reduction_half"), where))
    if fitted is not None:
        fbw = fitted.mem_bw_bytes_per_s or bw.value
        for dt_, rp_ in [(fitted.dtype, fitted.ridge_point_macs_per_byte), *fitted.other_dtypes.items()]:
            peak_ = rp_ * fbw
            lo_, hi_ = _PLAUSIBLE_MIN["peak_macs_per_s"], _PLAUSIBLE_MAX["peak_macs_per_s"]
            if not lo_ <= peak_ <= hi_:
                raise ProfileError(f"{where}: fitted ridge point x bandwidth gives a {dt_} peak of {peak_:g} MAC/s, "
                                   f"outside the plausible {lo_:g} to {hi_:g}")
    if default_dtype not in peaks and not (fitted and fitted.dtype == default_dtype):
        raise ProfileError(f"{where}: no peak_macs_per_s for the default dtype {default_dtype} "
                           f"and no fitted roofline for it")
    ceilings = _ceilings(data, where)
    overhead = _overhead(data.get("overhead"), where)
    act = data.get("activations_on_chip") or {}
    if not isinstance(act, dict) or not isinstance(act.get("value", False), bool):
        raise ProfileError(f"{where}: activations_on_chip must be a mapping {{value: true or false, source: ...}}")
    _check_keys(act, FIGURE_KEYS, where, "activations_on_chip.")
    if act.get("value") and on_chip is None:
        raise ProfileError(f"{where}: activations_on_chip needs on_chip_bytes")
    validation = check_validation(_validation(data.get("validation"), where), fitted, where)
    machine = data.get("machine") or {}
    if not isinstance(machine, dict):
        raise ProfileError(f"{where}: machine must be a mapping")
    for k, v in machine.items():
        if not isinstance(v, (str, int, float, bool)) or (isinstance(v, str) and len(v) > MAX_TEXT):
            raise ProfileError(f"{where}: machine.{k} must be a number or a text of at most {MAX_TEXT:,} "
                               f"characters")
    return HardwareProfile(_text(data["name"], where, "name"), kind,
                           _text(data.get("description"), where, "description"), default_dtype,
                           peaks, bw, on_chip, fitted, machine, ceilings, overhead, bool(act.get("value", False)),
                           _text(act.get("source"), where, "activations_on_chip.source"), validation, where)


def _choice(value: Any, where: str, field_name: str, options: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ProfileError(f"{where}: {field_name} must be one of {', '.join(o for o in options if o)}, got "
                           f"{value!r}")
    return value


def _ridge_point(value: Any, where: str, field_name: str) -> float:
    v = _number(value, where, field_name)
    if not MIN_RIDGE_POINT <= v <= MAX_RIDGE_POINT:
        raise ProfileError(f"{where}: {field_name} = {v:g} MACs/byte is implausible (ridge points go from "
                           f"{MIN_RIDGE_POINT:g} to {MAX_RIDGE_POINT:g})")
    return v


def _factors(raw: Any, where: str, key: str, what: str, names: tuple[str, ...] | None = None) -> dict[str, float]:
    """A ``fitted.<key>`` mapping of names (from ``names`` where given) to factors within EFFICIENCY_RANGE."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: fitted.{key} must map {what}")
    out = {}
    lo, hi = EFFICIENCY_RANGE
    for k, v in raw.items():
        if names is not None and k not in names:
            raise ProfileError(f"{where}: fitted.{key} has unknown op class {k!r}"
                               f"{closest(str(k), names, n=1)}; use {', '.join(names)}")
        x = _number(v, where, f"fitted.{key}.{k}")
        if not lo <= x <= hi:
            raise ProfileError(f"{where}: fitted.{key}.{k} = {x:g} is outside {lo:g} to {hi:g}")
        out[str(k)] = x
    return out


def _efficiency(raw: Any, where: str) -> dict[str, float]:
    return _factors(raw, where, "efficiency", "an op class to a factor", EFFICIENCY_CLASSES)


def _reduction_half(raw: Any, where: str) -> float | None:
    if raw is None:
        return None
    v = _number(raw, where, "fitted.reduction_half")
    if v > MAX_REDUCTION_HALF:
        raise ProfileError(f"{where}: fitted.reduction_half = {v:g} MACs per output element is above "
                           f"{MAX_REDUCTION_HALF:g}, the fit's own bound")
    return v


def _family(raw: Any, where: str) -> dict[str, float]:
    return _factors(raw, where, "family", "a model family to a latency multiplier")


def _validation(raw: Any, where: str) -> Validation | None:
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: validation must be a mapping")
    _check_keys(raw, VALIDATION_KEYS, where, "validation.")
    for k in ("status", "rows", "models", "folds", "heldout_median_error", "ratio_p10", "ratio_p90"):
        if k not in raw:
            raise ProfileError(f"{where}: validation is missing {k!r}")
    status = str(raw["status"])
    if status not in STATUSES:
        raise ProfileError(f"{where}: validation.status must be one of {', '.join(STATUSES)}, got {status!r}")
    counts = {}
    for k in ("rows", "models", "folds", "nested_folds"):  # nested_folds: optional (files before the nested check)
        v = raw.get(k)
        if (v is not None or k != "nested_folds") and (isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 10**7):
            raise ProfileError(f"{where}: validation.{k} must be a positive integer, got {v!r}")
        counts[k] = v

    def frac(k: str, hi: float = 1e3, lo: float = 0.0) -> float | None:  # lo -1: a correlation
        if (v := raw.get(k)) is None:
            return None
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or not lo <= v <= hi:
            what = "a correlation from -1 to 1" if lo < 0 else f"a number from 0 to {hi:g}"
            raise ProfileError(f"{where}: validation.{k} must be {what}, got {v!r}")
        return float(v)

    def corr(k: str) -> float | None:
        return frac(k, 1.0, -1.0)

    p10, p90 = frac("ratio_p10"), frac("ratio_p90")
    if not 0 < p10 <= p90:
        raise ProfileError(f"{where}: validation needs 0 < ratio_p10 <= ratio_p90, got {p10:g} and {p90:g}")
    n10, n90 = frac("new_family_ratio_p10"), frac("new_family_ratio_p90")
    if (n10 is None) != (n90 is None) or (n10 is not None and not 0 < n10 <= n90):
        raise ProfileError(f"{where}: validation needs both new_family_ratio_p10 and new_family_ratio_p90, "
                           f"0 < p10 <= p90, got {n10} and {n90}")
    terms = raw.get("terms") or []
    if not isinstance(terms, list) or not all(isinstance(t, str) for t in terms):
        raise ProfileError(f"{where}: validation.terms must be a list of term names")
    return Validation(status, _text(raw.get("data"), where, "validation.data"), counts["rows"], counts["models"],
                      counts["folds"], (method := _text(raw.get("method"), where, "validation.method")),
                      frac("heldout_median_error"), p10, p90, tuple(terms), frac("insample_median_error"),
                      frac("heldout_worst_error"), corr("heldout_spearman"), corr("macs_spearman"),
                      frac("macs_heldout_median_error"), _text(raw.get("source"), where, "validation.source"),
                      n10, n90, _validation_reading(raw.get("reading"), method, where),
                      frac("nested_heldout_median_error"), frac("nested_heldout_worst_error"), corr("nested_spearman"),
                      frac("nested_band_coverage", 1.0), counts["nested_folds"])


def _validation_reading(raw: Any, method: str, where: str) -> Mode | None:
    """The reading a validation's runs used: its ``reading`` key, else (older files) the method text's."""
    if raw is None:
        said = re.search(r"\bread (spec|fitted|calibrated) with", method)  # what validate wrote before the key
        return Mode(said.group(1)) if said else None
    return Mode(_choice(raw, where, "validation.reading", (Mode.SPEC, Mode.FITTED, Mode.CALIBRATED)))


def _rates(d: Any, where: str, field_name: str, unit_key: str) -> dict[str, float]:
    if not isinstance(d, dict):
        raise ProfileError(f"{where}: {field_name} must be a mapping of op class to number")
    return {str(k): _number(v, where, f"{field_name}.{k}", unit_key) for k, v in d.items()}


def _ceilings(data: dict, where: str) -> tuple[Ceilings, ...]:
    out = []
    if data.get("ceilings_macs_per_s") is not None:
        out.append(Ceilings(1, _rates(data["ceilings_macs_per_s"], where, "ceilings_macs_per_s",
                                      "peak_macs_per_s")))
    raw = data.get("ceilings")
    if raw is not None:
        if not isinstance(raw, list):
            raise ProfileError(f"{where}: ceilings must be a list of {{batch, macs_per_s, bytes_per_s}}")
        for i, c in enumerate(raw):
            at = f"ceilings[{i}]"
            if not isinstance(c, dict):
                raise ProfileError(f"{where}: {at} must be a mapping")
            _check_keys(c, CEILING_KEYS, where, f"{at}.")
            batch = c.get("batch", 1)
            if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
                raise ProfileError(f"{where}: {at}.batch must be a positive integer, got {batch!r}")
            out.append(Ceilings(batch, _rates(c.get("macs_per_s") or {}, where, f"{at}.macs_per_s",
                                              "peak_macs_per_s"),
                                _rates(c.get("bytes_per_s") or {}, where, f"{at}.bytes_per_s",
                                       "mem_bw_bytes_per_s"), _text(c.get("source"), where, f"{at}.source"),
                                _shape_terms(c.get("shape"), where, f"{at}.shape"),
                                _parallel(c.get("parallel"), where, f"{at}.parallel")))
    batches = [c.batch for c in out]
    if len(set(batches)) != len(batches):
        raise ProfileError(f"{where}: ceilings are given twice for batch {max(batches, key=batches.count)}")
    return tuple(sorted(out, key=lambda c: c.batch))


def _shape_terms(raw: Any, where: str, at: str) -> dict[str, ShapeTerms]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: {at} must be a mapping of op class to {{out_half, reduction_half}}")
    out = {}
    for op, terms in raw.items():
        if not isinstance(terms, dict) or not {"out_half", "reduction_half"} <= set(terms) <= \
                {"out_half", "reduction_half", "reuse_half", "channels_half"}:
            raise ProfileError(f"{where}: {at}.{op} must be a mapping with out_half, reduction_half and "
                               f"optionally reuse_half and channels_half")
        vals = []
        for k in ("out_half", "reduction_half", "reuse_half", "channels_half"):
            v = terms.get(k, 0.0)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v < 0:
                raise ProfileError(f"{where}: {at}.{op}.{k} must be a number >= 0, got {v!r}")
            vals.append(float(v))
        out[str(op)] = ShapeTerms(*vals)
    return out


def _parallel(raw: Any, where: str, at: str) -> dict[str, tuple[float, float]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: {at} must be a mapping of op class to {{from_out_elems, extra_s}}")
    out = {}
    for op, d in raw.items():
        if not isinstance(d, dict) or set(d) != {"from_out_elems", "extra_s"}:
            raise ProfileError(f"{where}: {at}.{op} must be a mapping with from_out_elems and extra_s")
        n = _number(d["from_out_elems"], where, f"{at}.{op}.from_out_elems")
        out[str(op)] = (n, _seconds(d["extra_s"], where, f"{at}.{op}.extra_s", MAX_PER_KERNEL_S))
    return out


def _overhead(raw: Any, where: str) -> Overhead:
    if raw is None:
        return Overhead()
    if not isinstance(raw, dict):
        raise ProfileError(f"{where}: overhead must be a mapping with per_kernel_s and/or per_inference_s")
    _check_keys(raw, OVERHEAD_KEYS, where, "overhead.")
    per_inf = _seconds_figure(raw, "per_inference_s", where, MAX_PER_INFERENCE_S)
    kernels = {}
    pk = raw.get("per_kernel_s") or {}
    if not isinstance(pk, dict):
        raise ProfileError(f"{where}: overhead.per_kernel_s must map an execution mode "
                           f"({', '.join(EXECUTIONS)}) to seconds")
    for ex, v in pk.items():
        if ex not in EXECUTIONS:
            raise ProfileError(f"{where}: overhead.per_kernel_s has unknown execution mode {ex!r}; use "
                               f"{', '.join(EXECUTIONS)}")
        d = v if isinstance(v, dict) else {"value": v}
        at = f"overhead.per_kernel_s.{ex}"
        _check_keys(d, FIGURE_KEYS | {"by_op"}, where, f"{at}.")
        by_op = d.get("by_op") or {}
        if not isinstance(by_op, dict):
            raise ProfileError(f"{where}: {at}.by_op must map an op class to seconds")
        kernels[ex] = KernelCost(_seconds(d.get("value"), where, f"{at}.value", MAX_PER_KERNEL_S),
                                 _text(d.get("source"), where, f"{at}.source"), _confidence(d, where, at),
                                 {str(k): _seconds(x, where, f"{at}.by_op.{k}", MAX_PER_KERNEL_S)
                                  for k, x in by_op.items()})
    fresh = _seconds_figure(raw, "fresh_memory_s_per_byte", where, MAX_PER_BYTE_S)
    share = raw.get("fresh_memory_share")
    if share is not None:
        d = share if isinstance(share, dict) else {"value": share}
        _check_keys(d, FIGURE_KEYS, where, "overhead.fresh_memory_share.")
        v = _number(d.get("value"), where, "overhead.fresh_memory_share.value") if d.get("value") != 0 else 0.0
        if v > 1:
            raise ProfileError(f"{where}: overhead.fresh_memory_share = {v:g} is a share of the activation bytes: "
                               f"0 to 1")
        share = Figure(v, _text(d.get("source"), where, "overhead.fresh_memory_share.source"),
                       _confidence(d, where, "overhead.fresh_memory_share"))
    return Overhead(kernels, per_inf, fresh, share)


def _seconds_figure(raw: dict, key: str, where: str, upper: float) -> Figure | None:
    """``overhead.<key>``: seconds (a number, or a figure with source and confidence), or None."""
    if raw.get(key) is None:
        return None
    v = raw[key]
    d = v if isinstance(v, dict) else {"value": v}
    _check_keys(d, FIGURE_KEYS, where, f"overhead.{key}.")
    return Figure(_seconds(d.get("value"), where, f"overhead.{key}.value", upper),
                  _text(d.get("source"), where, f"overhead.{key}.source"),
                  _confidence(d, where, f"overhead.{key}"))


def _confidence(d: dict, where: str, field_name: str) -> str:
    conf = str(d.get("confidence", ""))
    if conf and conf not in CONFIDENCE:
        raise ProfileError(f"{where}: {field_name}.confidence must be one of {', '.join(CONFIDENCE)}, "
                           f"got {conf!r}")
    return conf
