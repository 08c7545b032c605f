import numpy as np
import pytest

import roofline
from roofline.cli import main
from roofline.core.conventions import get_convention
from roofline.fit.terms import Params, build_design, predict

ZOO = ["mnv1", "mnv2", "mnv3-l", "mnv3-s", "mnv4-conv-s", "mnv4-conv-m", "mnv4-conv-l",
       "mnv4-hybrid-m", "mnv4-hybrid-l"]
# the models of the fit tests (roofline fit on synthetic latencies)
FIT_ZOO = ["mnv1", "mnv2", "mnv2-0.5x", "mnv2-1.5x", "mnv3-l", "mnv3-s", "mnv4-conv-s", "mnv4-conv-m",
           "mnv4-hybrid-m", "mnv1-0.5x", "mnv3-l-0.5x", "mnv4-conv-l"]


def zoo_design(rows: list[tuple[str, int]], true: Params, execution: str = "fused", noise: float = 0.0,
               seed: int = 0):
    """A fit design of zoo ``rows`` (model, resolution) whose latencies are ``true``'s predictions, times
    lognormal noise of sd ``noise`` where given."""
    tables = [roofline.trace(m, resolution=r) for m, r in rows]
    conv = get_convention("default")
    d = build_design(tables, ["int8"] * len(rows), np.ones(len(rows)), [m for m, _ in rows], conv, execution)
    t = predict(d, true)
    if noise:
        t = t * np.exp(np.random.default_rng(seed).normal(0, noise, len(t)))
    return build_design(tables, ["int8"] * len(rows), t, [m for m, _ in rows], conv, execution)


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process; return (exit code, stdout, stderr)."""

    def run(*args: str):
        code = main(list(args))
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def cli_error(cli):
    """Run the CLI and check it refused: exit 2 and one line on stderr starting ``error: ``; return the line."""

    def run(*args: str) -> str:
        code, out, err = cli(*args)
        assert code == 2, (code, out, err)
        assert err.startswith("error: ") and err.strip().count("\n") == 0, err
        return err

    return run


@pytest.fixture(autouse=True, scope="session")
def _trace_cache_in_a_temporary_folder(tmp_path_factory):
    """Traces the tests cache go to a temporary folder, never the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("ROOFLINE_CACHE_DIR", str(tmp_path_factory.mktemp("trace-cache")))
    yield
    mp.undo()
