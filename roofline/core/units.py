"""Numbers for people: durations, counts and sizes with the unit that reads best."""

from __future__ import annotations

import math


def seconds(s: float) -> str:
    """``2.95 ms``, ``879 ns``, ``0 s``."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(s) >= scale:
            return f"{s / scale:.3g} {unit}"
    return "0 s" if s == 0 else f"{s * 1e9:.3g} ns"


def count(n: float, unit: str = "") -> str:
    """``7.71 G``, ``300.8 M``, ``512`` (decimal prefixes), with an optional unit."""
    r = float(f"{n:.3g}")  # rounded first: 999.7e9 is 1 T, not 1e+03 G
    for prefix, scale in (("P", 1e15), ("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(r) >= scale:
            v = r / scale
            return f"{v:,.0f} {prefix}{unit}" if abs(v) >= 1000 else f"{v:.3g} {prefix}{unit}".rstrip()
    text = f"{n:.3g}" if isinstance(n, float) and not float(n).is_integer() else f"{int(n)}"
    return f"{text} {unit}".rstrip()


def size(b: float) -> str:
    """``37.7 MB``, ``512 B`` (decimal: 1 MB = 1e6 bytes)."""
    for prefix, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if abs(b) >= scale:
            return f"{b / scale:.3g} {prefix}"
    return f"{b:.0f} B"


def share(x: float) -> str:
    return f"{x:.0%}" if x >= 0.1 or x == 0 else f"{x:.1%}"


def seconds_range(lo: float, hi: float) -> str:
    """``2.6–3.3 ms``, ``15–190 ms``: both ends in the unit of the upper one, no e-notation, rounded
    outward (the low end down, the high end up), so a printed band holds every number it held before
    printing."""
    def num(x: float, up: bool) -> str:
        step = 1.0 if x >= 10 else 0.1 if x >= 1 else 10.0 ** (math.floor(math.log10(x)) - 1) if x > 0 else 1.0
        q = x / step
        r = round(q)
        if abs(q - r) > 1e-9 * max(abs(q), 1.0):  # not already on the printed grid: round outward
            r = math.ceil(q) if up else math.floor(q)
        v = r * step
        return f"{v:,.0f}" if step >= 1 else f"{v:.1f}" if step == 0.1 else f"{v:.2g}"

    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6), ("ns", 1e-9)):
        if abs(hi) >= scale or unit == "ns":
            return f"{num(lo / scale, False)}–{num(hi / scale, True)} {unit}"
    return f"{num(lo, False)}–{num(hi, True)} s"


def ridge_point(rp: float) -> str:
    """A ridge point in MAC/B: one decimal (``4.6``, ``500.0``), three significant digits below 0.1,
    where one decimal would print a fitted ``0.0053`` as ``0.0``."""
    return f"{rp:.1f}" if rp >= 0.1 or rp == 0 else plain(rp)


def plain(x: float) -> str:
    """Three significant digits, never e-notation: ``0.0123``, ``4.5``, ``6,870``."""
    if x == 0 or x != x:
        return "0" if x == 0 else "n/a"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    if abs(x) < 1e-3:
        return f"{x:.6f}".rstrip("0").rstrip(".")  # below 1e-6 of the unit: 0
    return f"{float(f'{x:.3g}'):f}".rstrip("0").rstrip(".")
