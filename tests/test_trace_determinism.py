"""A trace is the same in every run (no tensor id reused as another's key), and the fit's dates honour
SOURCE_DATE_EPOCH."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import date

import pytest

import roofline
from roofline.core import clock
from roofline.core.errors import InvalidInputError

# convit's GPSA pattern: a table built in forward in a helper (zeros, then slice assignments), moved with
# .to(), stored on the module (replacing a buffer), expanded and read by a Linear; the CPU tensor the
# helper made dies when it returns, and the next output (the qk Linear's) could take its id.
MODULE_SRC = '''
import torch
from torch import nn


class Block(nn.Module):
    def __init__(self, dim=8, heads=4):
        super().__init__()
        self.qk = nn.Linear(dim, 2 * dim, bias=False)
        self.pos_proj = nn.Linear(3, heads)
        self.register_buffer("rel_indices", torch.zeros(1, 1, 1, 3), persistent=False)

    def rel(self, n):
        side = int(n ** 0.5)
        rel = torch.zeros(1, n, n, 3)
        ind = torch.arange(side, dtype=torch.float32).view(1, -1) - torch.arange(side, dtype=torch.float32).view(-1, 1)
        indx = ind.repeat(side, side)
        indy = ind.repeat_interleave(side, dim=0).repeat_interleave(side, dim=1)
        rel[:, :, :, 2] = (indx ** 2 + indy ** 2).unsqueeze(0)
        rel[:, :, :, 1] = indy.unsqueeze(0)
        rel[:, :, :, 0] = indx.unsqueeze(0)
        return rel.to(device=self.qk.weight.device, dtype=self.qk.weight.dtype)

    def forward(self, x):
        b, n, _ = x.shape
        if self.rel_indices.shape[1] != n:
            self.rel_indices = self.rel(n)
        qk = self.qk(x)
        pos = self.pos_proj(self.rel_indices.expand(b, -1, -1, -1))
        return x + qk[..., :8] + pos.sum(dim=(1, 2)).mean(-1, keepdim=True).unsqueeze(1)


def make():
    return nn.Sequential(*[Block() for _ in range(12)])
'''

N = 16  # tokens: a 4x4 grid


def _make():
    ns: dict = {}
    exec(compile(MODULE_SRC, "<gpsa-like>", "exec"), ns)
    return ns["make"]()


def _linears(table) -> list[tuple[str, int, int]]:
    L = table.layers
    return [(n, int(i), int(o)) for n, op, i, o in zip(L["name"], L["op"], L["in_elems"], L["out_elems"])
            if op == "fc"]


def test_a_table_built_in_forward_is_read_by_its_linear_whole():
    t = roofline.trace(_make(), (1, N, 8), fuse=False)
    fcs = _linears(t)
    assert len(fcs) == 24
    for i in range(12):
        # qk reads x (1x16x8) and writes 1x16x16; pos_proj reads the whole 1x16x16x3 table, not qk's output
        assert fcs[2 * i] == (f"{i}.qk", 1 * N * 8, 1 * N * 16)
        assert fcs[2 * i + 1] == (f"{i}.pos_proj", 1 * N * N * 3, 1 * N * N * 4)


SCRIPT = f"""
import json, warnings
warnings.filterwarnings("ignore")
import roofline
ns = {{}}
exec(compile({MODULE_SRC!r}, "<gpsa-like>", "exec"), ns)
t = roofline.trace(ns["make"](), (1, {N}, 8), fuse=False)
rows = {{"small": t.layers.astype(str).values.tolist()}}
try:
    import timm  # noqa: F401
except ImportError:
    pass
else:
    rows["convit_tiny"] = roofline.trace("timm:convit_tiny", fuse=False).layers.astype(str).values.tolist()
print(json.dumps(rows))
"""


@pytest.mark.slow
def test_traces_are_the_same_under_any_hash_seed(tmp_path):
    tables = []
    for seed in ("0", "1", "4"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "ROOFLINE_CACHE_DIR": "off"}
        r = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env,
                           cwd=tmp_path, timeout=300)
        assert r.returncode == 0, r.stderr
        tables.append(json.loads(r.stdout))
    assert tables[0] == tables[1] == tables[2]
    if "convit_tiny" in tables[0]:  # every block's pos_proj reads the 1x196x196x3 rel_indices
        cols = list(roofline.trace("mnv2", fuse=False).layers.columns)
        name, in_elems = cols.index("name"), cols.index("in_elems")
        pos = [int(r[in_elems]) for r in tables[0]["convit_tiny"] if r[name].endswith("pos_proj")]
        assert pos == [196 * 196 * 3] * 10


@pytest.mark.parametrize("epoch, day", [("0", "1970-01-01"), ("86399", "1970-01-01"), ("86400", "1970-01-02"),
                                        ("1733356800", "2024-12-05"), (" 1733356800 ", "2024-12-05")])
def test_source_date_epoch_is_the_date_in_utc(monkeypatch, epoch, day):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)
    assert clock.today() == day


def test_without_source_date_epoch_it_is_today(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert clock.today() == date.today().isoformat()
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "")
    assert clock.today() == date.today().isoformat()


@pytest.mark.parametrize("bad", ["yesterday", "1.5", "1e9", "99999999999999999999"])
def test_a_malformed_source_date_epoch_is_refused(monkeypatch, bad):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", bad)
    with pytest.raises(InvalidInputError, match="SOURCE_DATE_EPOCH must be a whole number of seconds"):
        clock.today()


def _fit_table(tmp_path):
    csv = tmp_path / "m.csv"
    csv.write_text("model,ms\nmnv2,5\nmnv1,6\nmnv3-s,2\nmnv3-l,4\n")
    return csv


def test_the_fitted_profile_source_carries_source_date_epoch(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "86400")
    code, out, err = cli("fit", str(_fit_table(tmp_path)), "--terms", "none", "-o", str(tmp_path / "p.yaml"))
    assert code == 0, err
    text = (tmp_path / "p.yaml").read_text()
    assert "roofline fit on 1970-01-02" in text
    assert date.today().isoformat() not in text


def test_a_malformed_source_date_epoch_is_one_error_line_in_the_cli(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "tomorrow")
    code, out, err = cli("fit", str(_fit_table(tmp_path)), "--terms", "none", "-o", str(tmp_path / "p.yaml"))
    assert code == 2
    errors = [line for line in err.splitlines() if not line.startswith("tracing ")]  # progress lines
    assert errors == ["error: SOURCE_DATE_EPOCH must be a whole number of seconds since 1970-01-01 UTC, "
                      "got 'tomorrow'"]
    assert not (tmp_path / "p.yaml").exists()
