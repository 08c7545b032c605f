"""The tracer's global state: one rule per op in the registry, per-call rules, the trace cache's key,
and tables a caller may edit."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import roofline
from roofline.core.errors import InvalidInputError, TraceError
from roofline.trace import api
from roofline.trace import cache as trace_cache
from roofline.trace.api import trace
from roofline.trace.recorder import rule_table
from roofline.trace.rules import RULES, Count, linear, rule

aten = torch.ops.aten


def _twice(x, w, bias=None) -> Count:
    """A Linear counted as 2 MACs per multiply-accumulate: (N x K) @ (K x M) is 2 * N * K * M."""
    n, k = x.shape
    m = w.shape[0]
    return Count("fc", 2 * n * k * m, ((n, m),), "compute")


# --- the registry: one rule per op ---------------------------------------------------------------

def test_duplicate_registration_raises_and_leaves_the_registry_unchanged():
    before = dict(RULES)
    assert aten.lgamma not in RULES

    def other(*args, **kwargs) -> Count:
        return Count("mv", 0, None, "compute")

    with pytest.raises(TraceError, match=r"aten\.mv already has a counting rule \(mv\)"):
        rule(aten.mv)(other)
    # a new op named with a registered one: nothing is registered, also not the new op
    with pytest.raises(TraceError, match=r"aten\.mv already has a counting rule"):
        rule(aten.lgamma, aten.mv)(other)
    with pytest.raises(TraceError, match=r"aten\.lgamma is named twice"):
        rule(aten.lgamma, aten.lgamma)(other)
    with pytest.raises(TraceError, match=r"'aten\.lgamma' is not an aten op"):
        rule("aten.lgamma")(other)
    assert RULES == before  # same ops, same functions
    assert RULES[aten.mv].__name__ == "mv"


def test_a_new_op_registers_once():
    def lgamma(x) -> Count:
        return Count("lgamma", 0, (tuple(x.shape),), "elementwise")

    try:
        assert rule(aten.lgamma)(lgamma) is lgamma
        assert RULES[aten.lgamma] is lgamma
        with pytest.raises(TraceError, match=r"aten\.lgamma already has a counting rule \(lgamma\)"):
            rule(aten.lgamma)(_twice)
        assert RULES[aten.lgamma] is lgamma
    finally:
        RULES.pop(aten.lgamma, None)


# --- per-call rules ------------------------------------------------------------------------------

@pytest.mark.parametrize("op", [aten.linear, aten.linear.default])
def test_a_per_call_rule_counts_that_call_only(op):
    m = nn.Linear(4, 3)
    assert trace(m, (2, 4)).macs == 2 * 4 * 3  # 24: N x K x M
    t = trace(m, (2, 4), rules={op: _twice})
    assert t.macs == 48
    assert t.layers[["op", "out_shape", "macs"]].values.tolist() == [["fc", "2x3", 48]]
    assert trace(m, (2, 4)).macs == 24  # the next plain trace: the registry's rule again
    assert RULES[aten.linear] is linear


def test_a_per_call_rule_on_a_zoo_model_is_not_cached():
    plain = trace("mnv4-conv-s", resolution=96)
    head = 1280 * 1000  # the classifier, Linear(1280, 1000) on one pooled vector

    def nothing(x, w, bias=None) -> Count:
        return Count("fc", 0, ((x.shape[0], w.shape[0]),), "compute")

    assert trace("mnv4-conv-s", resolution=96, rules={aten.linear: nothing}).macs == plain.macs - head
    assert trace("mnv4-conv-s", resolution=96).macs == plain.macs


def test_a_per_call_rule_for_a_packet_wins_over_a_registered_overload(monkeypatch):
    def registered(x) -> Count:
        return Count("lgamma", 0, None, "elementwise")

    monkeypatch.setitem(RULES, aten.lgamma.default, registered)
    table = rule_table({aten.lgamma: _twice})
    func = aten.lgamma.default
    chosen = table.get(func) or table.get(func.overloadpacket)  # as the recorder looks up
    assert chosen is not registered and chosen is table[aten.lgamma]
    assert RULES[aten.lgamma.default] is registered and aten.lgamma not in RULES
    assert rule_table(None) is RULES and rule_table({}) is RULES


@pytest.mark.parametrize(("rules", "message"), [
    ([(aten.linear, _twice)], r"rules must be a mapping of aten ops to counting rules .* got list"),
    ({"aten.linear": _twice}, r"rules: key 'aten\.linear' is not an aten op"),
    ({aten.linear: 3}, r"rules: the rule for aten\.linear must be a function that returns a Count, got 3"),
])
def test_bad_rules_argument_is_one_clear_error(rules, message):
    with pytest.raises(InvalidInputError, match=message):
        trace(nn.Linear(4, 3), (2, 4), rules=rules)


@pytest.mark.parametrize(("returned", "message"), [
    (24, r"the rule given for aten\.linear returned 24, not a Count"),
    (Count("fc", -1, None, "compute"), r"the rule given for aten\.linear returned macs=-1; macs must be"),
    (Count("lgamma", 0, None, "compute"), r"aten\.linear returned a Count whose op kind 'lgamma' \(compute\) is not"),
])
def test_a_per_call_rule_that_returns_something_else_fails_the_trace(returned, message):
    with pytest.raises(TraceError, match=message):
        trace(nn.Linear(4, 3), (2, 4), rules={aten.linear: lambda *args, **kwargs: returned})


# --- the trace cache's key -----------------------------------------------------------------------

def test_cache_key_covers_the_counting_code(monkeypatch, tmp_path):
    req = trace_cache.TraceRequest("mnv1", 64)
    key = trace_cache.cache_key(req)
    assert trace_cache.cache_key(trace_cache.TraceRequest("mnv1", 64)) == key  # same inputs, same key
    assert trace_cache.cache_key(trace_cache.TraceRequest("mnv1", 96)) != key
    trace_cache.store(req, trace("mnv1", resolution=64), tmp_path)
    assert trace_cache.load(req, tmp_path).macs == trace("mnv1", resolution=64).macs

    monkeypatch.setattr(trace_cache, "rules_hash", lambda: "edited rules")
    assert trace_cache.cache_key(req) != key
    assert trace_cache.load(req, tmp_path) is None  # the entry of the old rules is not served


def test_rules_hash_reads_the_counting_modules(monkeypatch):
    full = trace_cache.rules_hash()
    assert full == trace_cache.rules_hash.__wrapped__() and len(full) == 16
    monkeypatch.setattr(trace_cache, "COUNTING_MODULES", trace_cache.COUNTING_MODULES[1:])
    assert trace_cache.rules_hash.__wrapped__() != full


# --- tables a caller may edit --------------------------------------------------------------------

@pytest.mark.parametrize("lazy", [True, False])
def test_editing_a_returned_table_leaves_the_next_call_alone(monkeypatch, lazy):
    monkeypatch.setattr(api, "_LAZY_COPY", lazy and api._LAZY_COPY)
    first = roofline.trace("mnv3-s", resolution=96)
    expected, macs, n = first.layers.copy(deep=True), first.macs, len(first)
    first.layers.loc[0, "macs"] = 10**9
    first.layers["params"] = 0
    del first.layers["aten"]
    first.unsupported["aten.edited"] = 1
    again = roofline.trace("mnv3-s", resolution=96)
    assert again.layers is not first.layers
    assert again.layers.equals(expected) and again.macs == macs and len(again) == n
    assert again.unsupported == {}
