"""Search spaces (issue 28): the space as data, sampling, the layer-cost cache, equality with analyze,
the latency look-up table, the search helpers and bad input."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from roofline.hardware import load_hardware

import roofline
from roofline.core.errors import InvalidInputError, RooflineError
from roofline.studies import space_cost as sc
from roofline.studies.space import SKIP, UNUSED, space
from roofline.zoo.builder import build_arch
from roofline.zoo.specs import Block

# a measured profile read through its ceilings: calibrated, eager, per-kernel cost, fresh memory share
MEASURED = {"name": "measured-test", "kind": "cpu", "default_dtype": "fp32", "peak_macs_per_s": {"fp32": 1e11},
            "mem_bw_bytes_per_s": 2e10, "ceilings_macs_per_s": {"conv2d": 9e10, "dwconv2d": 1.5e10},
            "overhead": {"per_kernel_s": {"eager": 4e-6}, "per_inference_s": 1e-5,
                         "fresh_memory_s_per_byte": 4e-10, "fresh_memory_share": 0.085}}


def test_space_description_lists_the_choices_per_stage():
    sp = roofline.space("mnv4")
    assert [s.name for s in sp.stages] == ["s3", "s4", "s5"] and sp.resolutions == (224, 256)
    s3 = sp.stages[0]
    assert len(s3.choices) == 25 and SKIP in s3.choices and "extradw_k3_5_e4" in s3.choices
    # the first slot sets stride and width: no skip, and no FFN in a stride-2 stage
    assert len(s3.first_choices) == 21 and not any(c.startswith("ffn") or c == SKIP for c in s3.first_choices)
    assert s3.count() == 3 * (21 + 21 * 25 + 21 * 25 ** 2)
    assert sp.size() == 2 * s3.count() * sp.stages[1].count() * sp.stages[2].count()
    d = sp.describe()
    assert list(d["stage"]) == ["s3", "s4", "s5"] and d.loc[1, "widths"] == "128,160,192"
    assert sp.templates["ib_k5_e6"] == Block("uib", expand=6.0, mid_k=5)
    assert sp.templates["convnext_k3_e2"] == Block("uib", expand=2.0, start_k=3)
    v2 = space("mnv2")
    assert v2.family == "mnv2" and v2.columns[:5] == ["resolution", "s2.width", "s2.depth", "s2.b0", "s2.b1"]
    assert space("mnv3").templates["ir_k5_e6_se_hswish"] == Block("ir", kernel=5, expand=6.0, se=True, act="hswish")


def test_sampling_is_deterministic_and_valid():
    sp = space("mnv4")
    a, b, c = sp.sample(300, seed=3), sp.sample(300, seed=3), sp.sample(300, seed=4)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)
    sp.check(a)  # every value one the space offers
    depth = a["s4.depth"].to_numpy()
    assert ((a["s4.b3"] == UNUSED).to_numpy() == (depth <= 3)).all()
    assert set(a["s4.b0"]) <= set(sp.stages[1].first_choices)


def test_enumerate_a_small_table_space_and_refuse_a_large_one():
    sp = space([{"stage": "a", "stride": 2, "widths": "32,48", "depths": "1,2", "choices": "ib_k3_e4,skip"},
                {"stage": "b", "stride": 1, "widths": [64], "depths": [1], "choices": ["ffn_e2", "ib_k5_e2"]}],
               family="mnv4", resolutions=[128])
    rows = sp.enumerate()
    # stage a: 2 widths x (1 + 2) blocks; stage b: 2 choices
    assert sp.size() == len(rows) == 2 * 3 * 2 and not rows.duplicated().any()
    with pytest.raises(InvalidInputError, match="holds 3.11e\\+22 candidates.*use sample"):
        space("mnv4").enumerate()


def test_layers_with_one_signature_share_a_cost_and_strides_do_not():
    sp = space("mnv4")
    ib = sp.templates["ib_k3_e4"]
    keys = {}
    for stride in (1, 2):
        key = ("block", ib, sp.base.act, sp.base.layer_scale, 64, 64, stride, 28, 28)
        b = sc.CACHE.block(key, ("t", "ib_k3_e4", 64, 28, 28, 64, stride))
        sc._trace_block(sp.base, key, b, True)
        keys[stride] = sc.CACHE.layers(True).blocks[b]
    rows = sc.CACHE.layers(True).rows
    one, two = ([rows[i] for i in keys[s]] for s in (1, 2))
    assert [r[0] for r in one][:2] == ["conv2d", "dwconv2d"]
    # the 1x1 expand sees the same input either way: one signature, one cost; the strided DW does not
    assert keys[1][0] == keys[2][0]
    assert keys[1][1] != keys[2][1] and one[1][sc.SIGNATURE.index("stride")] != two[1][sc.SIGNATURE.index("stride")]
    # a candidate repeating one block at one shape: one block id, the same layer ids
    cand = sp.sample(1, seed=0)
    cand.loc[0, ["s4.depth", "s4.b1", "s4.b2", "s4.b3"]] = [4, "ib_k5_e4", "ib_k5_e4", "ib_k5_e4"]
    blocks, _ = sc.candidate_blocks(sp, cand)
    ids = blocks[0][blocks[0] >= 0]
    s4 = [i for i in ids if sc.CACHE.info[i][0] == "s4"]
    assert s4[1] == s4[2] == s4[3] and s4[0] != s4[1]


def _analyze(sp, row, name, hw):
    spec = sp.arch(row)
    res = spec.resolution
    a0 = roofline.analyze(build_arch(spec).eval(), hw, input_shape=(1, 3, res, res))
    return roofline.analyze(dataclasses.replace(a0.table, model=name), hw, family=sp.family)


@pytest.mark.parametrize("hw", ["pixel8-edgetpu", "pixel4-dsp", MEASURED], ids=["fitted", "reduction", "measured"])
def test_latency_equals_analyze_on_sampled_candidates(hw):
    sp = space("mnv4")
    cands = sp.sample(6, seed=11)
    lat = sp.latency(cands, [hw])
    name = "measured-test" if isinstance(hw, dict) else hw
    for i in range(len(cands)):
        a = _analyze(sp, cands.iloc[i], sp.candidate_name(i), hw)
        assert lat.loc[i, f"{name}_ms"] == pytest.approx(a.total_latency_s * 1e3, rel=1e-9, abs=0)
        assert lat.loc[i, "macs"] == a.totals["macs"] and lat.loc[i, "params"] == a.table.params
        if a.band is not None:
            lo, hi = a.latency_band_s
            assert lat.loc[i, f"{name}_low_ms"] == pytest.approx(lo * 1e3, rel=1e-9)
            assert lat.loc[i, f"{name}_high_ms"] == pytest.approx(hi * 1e3, rel=1e-9)
        else:
            assert f"{name}_low_ms" not in lat
    a = _analyze(sp, cands.iloc[0], sp.candidate_name(0), hw)
    if hw == "pixel8-edgetpu":  # the fitted terms really are in play
        assert a.family == ("mobilenetv4", a.hardware.fitted.family["mobilenetv4"]) and a.hardware.fitted.efficiency
    if isinstance(hw, dict):
        assert a.latency.execution == "eager" and a.latency.fresh_s(a.layers) > 0 and a.roof.ceilings


def test_lut_summed_per_candidate_plus_its_terms_equals_latency():
    sp = space("mnv2")
    table, terms = sp.lut("pixel8-edgetpu")
    assert terms["family_multiplier"] == load_hardware("pixel8-edgetpu").fitted.family["mobilenetv2"] and terms["per_inference_ms"] > 0 and terms["fresh_ms_per_byte"] == 0
    cands = sp.sample(1000, seed=5)
    want = sp.latency(cands, ["pixel8-edgetpu"])["pixel8-edgetpu_ms"].to_numpy()
    ms = {(r.stage, r.input, r.choice, r.out_channels, r.stride): r.ms for r in table.itertuples()}
    got = []
    for _, row in cands.iterrows():  # walk the candidate as a search would: stem, stage slots, head
        res = int(row["resolution"])
        total = ms[("stem0", f"3x{res}x{res}", "conv", 32, 2)]
        h = (res - 1) // 2 + 1
        total += ms[("stem1", f"32x{h}x{h}", "ir", 16, 1)]
        c = 16
        for st in sp.stages:
            first = True
            for i in range(int(row[f"{st.name}.depth"])):
                ch = row[f"{st.name}.b{i}"]
                if ch == SKIP:
                    continue
                s = st.stride if first else 1
                total += ms[(st.name, f"{c}x{h}x{h}", ch, int(row[f"{st.name}.width"]), s)]
                c, h, first = int(row[f"{st.name}.width"]), (h - 1) // s + 1, False
        total += ms[("head", f"{c}x{h}x{h}", "head", 0, 1)]
        got.append(terms["family_multiplier"] * (total + terms["per_inference_ms"]))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=0)
    text = sc.lut_csv(table, terms)
    assert text.startswith("# space: mnv2\n") and "# family_multiplier: 0.8549" in text


def test_front_sweep_and_constrained_sampler():
    frame = pd.DataFrame({"a_ms": [1.0, 2.0, 2.0, 3.0], "b_ms": [2.0, 1.0, 2.0, 3.0], "macs": [1, 1, 1, 5]})
    assert list(space("mnv2").front(frame, ["a_ms", "b_ms"])) == [True, True, False, True]
    sp = space("mnv2")
    cands = sp.sample(12, seed=2)
    swept = sp.sweep_front(cands, "pixel8-edgetpu", rps="0,50,500")
    assert len(swept) == 12 and swept["universal"].dtype == bool
    # the smallest-MAC fastest candidate is on the front somewhere; a universal one at every RP
    assert (swept["on_front_share"] > 0).any()
    got = sp.sample_within(5, "pixel8-edgetpu", target_ms=0.6, tolerance=0.1, seed=1)
    assert len(got) == 5 and ((got["latency_ms"] - 0.6).abs() <= 0.06 + 1e-12).all()
    from roofline.studies.space_search import constrained_sample

    with pytest.raises(InvalidInputError, match="only 0 of 2,000 candidates of space 'mnv2' are within 0.001 ms"):
        constrained_sample(sp, 1, "pixel8-edgetpu", target_ms=1e-3, tolerance=0.01, seed=1, max_draws=2000)


def test_bad_input_is_one_clear_error(capsys):
    with pytest.raises(InvalidInputError, match=r"unknown block choice 'uib_k9' in stage a; choices are written"):
        space([{"stage": "a", "stride": 2, "widths": "32", "depths": "1", "choices": "uib_k9"}])
    with pytest.raises(InvalidInputError, match=r"impossible width 30 in stage a: widths are whole multiples of 8"):
        space([{"stage": "a", "stride": 2, "widths": "30", "depths": "1", "choices": "ib_k3_e4"}])
    with pytest.raises(InvalidInputError, match=r"block choice 'ib_k4_e4' in stage a: kernels must be odd"):
        space([{"stage": "a", "stride": 2, "widths": "32", "depths": "1", "choices": "ib_k4_e4"}])
    sp = space("mnv2")
    cand = sp.sample(2, seed=0)
    bad = cand.assign(**{"s3.width": 36})
    with pytest.raises(InvalidInputError, match=r"impossible width 36 in stage s3: the space offers 24, 32, 40"):
        sp.latency(bad, ["pixel8-edgetpu"])
    bad = cand.assign(**{"s2.b0": "ib_k3_e4"})
    with pytest.raises(InvalidInputError, match=r"block choice 'ib_k3_e4' in stage s2 slot 0 is not one"):
        sp.latency(bad, ["pixel8-edgetpu"])
    with pytest.raises(RooflineError, match="unknown search space 'mnv9'"):
        space("mnv9")
    from roofline.cli import main

    assert main(["space", "mnv9", "--hw", "pixel8-edgetpu"]) == 2
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["error: unknown search space 'mnv9'; shipped spaces: mnv4, mnv2, mnv3 "
                                        "(or give a table of stages)"]
