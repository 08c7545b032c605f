"""The ``cache`` command: where the trace cache is, how much it holds, and clearing it."""

from __future__ import annotations

from typing import Annotated

import typer

from ..core import units

from .app import _Command, app, out


@app.command(cls=_Command)
def cache(
    clear: Annotated[bool, typer.Option("--clear", help="Remove every cached trace.", metavar="")] = False,
) -> None:
    """Show the trace cache's folder, its entries and their size (and its cap); --clear empties it."""
    from ..trace import cache as trace_cache

    folder = trace_cache.cache_dir()
    if folder is None:
        out.print("the trace cache is off (ROOFLINE_CACHE_DIR=off)", markup=False, highlight=False)
        return
    if clear:
        n, size = trace_cache.clear(folder)
        out.print(f"removed {n} cached trace{'s' if n != 1 else ''} ({units.size(size)}) from {folder}",
                  markup=False, highlight=False)
        return
    found = trace_cache.entries(folder)
    total = sum(b for _, b, _ in found)
    out.print(f"folder   {folder}", markup=False, highlight=False)
    out.print(f"entries  {len(found)}", markup=False, highlight=False)
    out.print(f"size     {units.size(total)} (cap {units.size(trace_cache.max_bytes())}, "
              f"ROOFLINE_CACHE_MAX_MB sets it)", markup=False, highlight=False)
