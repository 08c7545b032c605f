"""The figures the README quotes from a command's output are what the command prints now.

Each case names a passage of README.md (found by a pattern, so that a reworded passage fails loudly
rather than being skipped) and the command it quotes; every number in the passage must be a number
of the output, and a quoted output block must appear in the output as printed (line breaks aside).
Commands run in-process.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
NUMBER = re.compile(r"(?<![\w.])\d[\d,]*(?:\.\d+)?")


def numbers(text: str) -> list[str]:
    return [n.rstrip(",") for n in NUMBER.findall(text)]


def flat(text: str) -> str:
    return " ".join(text.split())


def passage(pattern: str) -> re.Match:
    m = re.search(pattern, README, re.S)
    assert m, f"README.md has no passage matching {pattern!r}: update this test with the README"
    return m


def missing(quoted: str, out: str) -> list[str]:
    printed = set(numbers(out))
    return [n for n in numbers(quoted) if n not in printed]


def test_number_parsing():
    assert numbers("3.81 ms (80 %: 3.4–4.3 ms, 7.71 G MACs, 8,683,712,256 MACs, x0.931, RP 95.2:") == \
        ["3.81", "80", "3.4", "4.3", "7.71", "8,683,712,256", "95.2"]
    assert missing("3.47 ms, 80 %", "3.81 ms (80 %: 3.4–4.3 ms)") == ["3.47"]


@pytest.fixture(scope="module")
def main_job():
    """``roofline analyze mnv4-hybrid-l --hw pixel8-edgetpu``: the main job of the quick start."""
    from roofline.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["analyze", "mnv4-hybrid-l", "--hw", "pixel8-edgetpu"])
    assert code == 0, err.getvalue()[-2000:]
    return out.getvalue()


def test_main_job_command_is_the_quick_start_one():
    assert "pip install -e . && roofline analyze mnv4-hybrid-l --hw pixel8-edgetpu" in README


def test_main_job_quoted_block_is_printed(main_job):
    m = passage(r"The first prints a summary.*?```\n(.*?)```")
    block = m.group(1)
    assert "mnv4-hybrid-l on pixel8-edgetpu:" in block
    assert flat(block) in flat(main_job), f"README:\n{block}\nprinted:\n{main_job[:600]}"


def test_main_job_quoted_figures_are_printed(main_job):
    m = passage(r"The first prints a summary(.*?)has them all\)")
    text = m.group(1).split("```")
    quoted = text[0] + text[-1]  # the prose around the block (the block itself: the test above)
    quoted = re.sub(r"under \d+ columns|within \d+ columns", "", quoted)  # layout, not output
    assert numbers(quoted), quoted
    assert missing(quoted, main_job) == [], quoted
    conv = re.search(r"convention\s+`(\w[\w-]*)`", quoted).group(1)
    assert f"convention: {conv}:" in flat(main_job)
    assert re.search(r"\bint8\b", quoted) and "dtype int8" in flat(main_job)


def test_sweep_at_the_profile_ridge_point_equals_the_quoted_analyze(main_job):
    """``a sweep at the profile's own ridge point equals analyze (... at its fitted RP X: Y ms both)``."""
    import roofline
    from roofline.core import units
    from roofline.studies.sweep import sweep

    m = passage(r"for `mnv4-hybrid-l` on `pixel8-edgetpu` at its fitted RP ([\d.]+): ([\d.]+) ms both")
    rp_text, ms_text = m.groups()
    rp = roofline.load_hardware("pixel8-edgetpu").fitted.ridge_point_macs_per_byte
    assert units.ridge_point(rp) == rp_text and f"ridge point {rp_text} MAC/B" in flat(main_job)
    row = sweep(["mnv4-hybrid-l"], [rp], hw="pixel8-edgetpu").iloc[0]
    assert f"{row['latency_s'] * 1e3:.3g}" == ms_text and f"{ms_text} ms" in main_job


def test_band_example_is_printed(cli):
    """The band section's example line (mnv4-hybrid-l on s23-gpu)."""
    m = passage(r"and the notebook views:\n\n```\n(.*?)```")
    line = m.group(1)
    assert line.startswith("mnv4-hybrid-l on s23-gpu:")
    code, out, err = cli("analyze", "mnv4-hybrid-l", "--hw", "s23-gpu")
    assert code == 0, err
    assert flat(line) in flat(out)


def test_model_card_figures():
    import roofline

    m = passage(r'card = roofline\.model_card\("mnv2-1\.5x"\)\s+# params ([\d,]+), top-1 ([\d.]+) %')
    card = roofline.model_card("mnv2-1.5x")
    assert f"{card.params:,}" == m.group(1)
    assert m.group(2) in numbers(repr(card))


def test_timm_mac_count(cli):
    pytest.importorskip("timm")
    m = passage(r"roofline analyze timm:convnext_small --hw pixel8-edgetpu\s+# ([\d,]+) MACs")
    code, out, err = cli("analyze", "timm:convnext_small", "--hw", "pixel8-edgetpu", "--format", "json")
    assert code == 0, err
    assert f"{json.loads(out)['totals']['macs']:,}" == m.group(1)


@pytest.mark.parametrize("report", ["validation-onnxruntime", "validation-onnxruntime-int8", "validation-litert-int8"])
@pytest.mark.parametrize("threads", [2, 1])
def test_readme_quotes_the_committed_runtime_reports(report, threads):
    """README.md's figures for a committed runtime validation are its models.csv's: median error, the worst
    model's signed error, Spearman."""
    import pandas as pd

    from roofline.core.stats import spearman

    words = "median error" if threads == 2 else "median"
    m = passage(rf"\[`threads-{threads}`\]\(reports/{report}/threads-{threads}/README.md\):\s+{words}\s+([\d.]+) %,"
                r"\s+the worst\s+([\w .-]+?)\s+([+-]\d+) %,\s+Spearman\s+([\d.]+)")
    rows = pd.read_csv(ROOT / "reports" / report / f"threads-{threads}" / "models.csv")
    err = rows["predicted_ms"] / rows["measured_ms"] - 1
    worst = err.abs().idxmax()
    assert (m[1], m[3], m[4]) == (f"{err.abs().median() * 100:.1f}", f"{err[worst] * 100:+.0f}",
                                  f"{spearman(rows['predicted_ms'], rows['measured_ms']):.3f}"), rows["model"][worst]
