"""``roofline space`` and ``roofline lut``: a search space's candidates on profiles, and its latency table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ..core.errors import RooflineError
from ..core.io import check_writable, write_atomic
from .app import _Command, app, err, FittedOpt, _mode, HwListOpt, HwOpt, _hw_list
from .views import _progress

SpaceArg = Annotated[str, typer.Argument(help="A search space: mnv4, mnv2 or mnv3.", show_default=False)]


@app.command("space", cls=_Command)
def space_cmd(
    name: SpaceArg,
    sample: Annotated[int, typer.Option("--sample", help="Candidates to draw.")] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the draw.")] = 0,
    hw_names: HwListOpt = None, fitted: FittedOpt = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="The CSV to write (default: "
                                                   "standard output).")] = None,
) -> None:
    """Sample a search space's candidates and predict their latency on each --hw (one row per candidate:
    its choices, MACs, params, and per profile latency in ms with the 80 % band)."""
    import pandas as pd

    from ..studies.space import space

    hw_names = _hw_list(hw_names)
    if output is not None:
        check_writable(output)
    sp = space(name)
    cands = sp.sample(sample, seed)
    bar, step = _progress(len(hw_names), "profile")
    with bar:
        lat = sp.latency(cands, hw_names, mode=_mode(fitted, False), progress=step)
    text = pd.concat([cands, lat], axis=1).to_csv(index_label="candidate", float_format="%.6g")
    if output is None or str(output) == "-":
        typer.echo(text, nl=False)
    else:
        write_atomic(output, text)
        err.print(f"wrote {output} ({len(cands):,} candidates x {len(hw_names)} profiles)")


@app.command("lut", cls=_Command)
def lut_cmd(
    name: SpaceArg,
    hw_name: HwOpt = None,
    fitted: FittedOpt = None,
    output: Annotated[Optional[Path], typer.Option("-o", "--output", help="The CSV to write.")] = None,
) -> None:
    """A search space's latency look-up table on one profile: ms per block choice per input shape
    (FBNet / ProxylessNAS style), with the whole-model terms a search adds (per-inference cost, family
    multiplier) as '# key: value' lines above the header."""
    from ..studies.space import space
    from ..studies.space_cost import lut_csv

    if not hw_name:
        raise RooflineError("missing --hw (one profile; 'roofline hw' lists them)")
    if output is None:
        raise RooflineError("missing -o FILE.csv")
    check_writable(output)
    table, terms = space(name).lut(hw_name, mode=_mode(fitted, False))
    write_atomic(output, lut_csv(table, terms))
    err.print(f"wrote {output} ({len(table):,} rows; {terms['formula']})")
