"""Tracer: hand-computed small layers, analytic model totals, attention, coverage, errors."""

import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import roofline
from roofline.core.errors import TraceError, UnsupportedOpError
from roofline.zoo.blocks import MultiQueryAttention

from conftest import ZOO


def only(table, op):
    rows = table.layers[table.layers["op"] == op]
    assert len(rows) == 1, table.layers
    return rows.iloc[0]


def test_conv3x3():
    t = roofline.trace(nn.Conv2d(16, 32, 3, padding=1), (1, 16, 10, 10))
    r = only(t, "conv2d")
    assert r["macs"] == 32 * 10 * 10 * 16 * 9 == 460_800
    assert r["weight_elems"] == 32 * 16 * 9 + 32  # weights + bias
    assert r["params"] == 4640
    assert (r["in_elems"], r["out_elems"]) == (1600, 3200)
    assert (r["kernel"], r["stride"], r["groups"]) == ("3x3", "1x1", 1)


def test_depthwise_5x5_stride2():
    t = roofline.trace(nn.Conv2d(24, 24, 5, stride=2, padding=2, groups=24, bias=False), (1, 24, 14, 14))
    r = only(t, "dwconv2d")
    assert r["out_shape"] == "1x24x7x7"
    assert r["macs"] == 24 * 7 * 7 * 25 == 29_400
    assert r["weight_elems"] == 600
    assert (r["in_elems"], r["out_elems"]) == (24 * 14 * 14, 24 * 49)


def test_grouped_conv():
    t = roofline.trace(nn.Conv2d(32, 64, 3, padding=1, groups=4, bias=False), (2, 32, 8, 8))
    r = only(t, "conv2d")
    assert r["macs"] == 2 * 64 * 8 * 8 * (32 // 4) * 9 == 589_824
    assert r["weight_elems"] == 64 * 8 * 9 == 4608
    assert r["groups"] == 4


def test_linear_on_tokens():
    t = roofline.trace(nn.Linear(64, 128), (2, 10, 64))
    r = only(t, "fc")
    assert r["macs"] == 2 * 10 * 64 * 128 == 163_840
    assert r["weight_elems"] == 64 * 128 + 128
    assert (r["in_elems"], r["out_elems"]) == (1280, 2560)


def test_conv_bn_relu_fuse_into_one_layer():
    m = nn.Sequential(nn.Conv2d(8, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU())
    t = roofline.trace(m, (1, 8, 6, 6))
    assert len(t) == 1
    r = t.layers.iloc[0]
    assert r["fused"] == "bn,relu"
    assert r["weight_elems"] == 16 * 8 * 9 + 16  # BN folds into one bias vector
    assert r["params"] == 16 * 8 * 9 + 32  # BN's scale and shift are parameters
    raw = roofline.trace(m, (1, 8, 6, 6), fuse=False)
    assert list(raw.layers["op"]) == ["conv2d", "bn", "relu"]
    assert raw.layers["weight_elems"].tolist() == [1152, 64, 0]  # BN reads 4 vectors unfused
    assert raw.macs == t.macs == 16 * 36 * 8 * 9


class MHA(nn.Module):
    """Plain multi-head self-attention on tokens (B, L, C) through SDPA."""

    def __init__(self, dim=32, heads=4):
        super().__init__()
        self.heads, self.qkv, self.proj = heads, nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, c))


def test_mha():
    t = roofline.trace(MHA(), (1, 16, 32))
    att = only(t, "attention")
    # Q.K^T and A.V: 4 heads x 16 queries x 16 keys x (8 + 8)
    assert att["macs"] == 4 * 16 * 16 * (8 + 8) == 16_384
    assert att["in_elems"] == 3 * 16 * 32 and att["out_elems"] == 16 * 32
    assert t.macs == 16 * 32 * 96 + 16_384 + 16 * 32 * 32


def test_mqa_with_kv_downsampling():
    m = MultiQueryAttention(dim=32, heads=2, key_dim=8, kv_stride=2)
    t = roofline.trace(m, (1, 32, 8, 8))
    by_name = t.layers.set_index("name")
    assert by_name.loc["query", "macs"] == 64 * 16 * 32  # 1x1 conv 32 -> 2 x 8 at 8x8
    assert by_name.loc["key.down", "macs"] == 32 * 16 * 9  # DW 3x3 stride 2 -> 4x4
    assert by_name.loc["key.down", "weight_elems"] == 288 + 32  # + folded BN bias
    assert by_name.loc["key.proj", "macs"] == 16 * 8 * 32
    assert by_name.loc["value.proj", "macs"] == 16 * 8 * 32
    att = by_name.loc["(model)"]
    assert att["op"] == "attention"
    assert att["macs"] == 2 * 64 * 16 * (8 + 8) == 32_768  # 2 heads, 64 queries, 16 keys
    # the single shared K and V head is read once, not once per query head
    assert att["in_elems"] == 2 * 64 * 8 + 16 * 8 + 16 * 8
    assert by_name.loc["output", "macs"] == 64 * 32 * 16
    assert t.macs == 32768 + 2 * (4608 + 4096) + 32768 + 32768 == 115_712


@pytest.mark.parametrize(("name", "macs", "params"), [
    # params: the reference implementations' exact counts (torchvision / timm / TF Model Garden)
    ("mnv2", 300_774_272, 3_504_872), ("mnv4-conv-s", 186_005_568, 3_774_024), ("mnv3-l", 216_589_760, 5_483_032),
])
def test_analytic_totals(name, macs, params):
    t = roofline.trace(name)
    assert t.macs == macs and type(t.macs) is int
    assert t.params == params  # every parameter lands in exactly one row
    assert t.model_params == params


@pytest.mark.parametrize("name", ZOO)
def test_trace_params_equal_model(name):
    t = roofline.trace(name)
    assert t.params == roofline.model_card(name).params
    assert not t.unsupported
    assert t.layers["out_elems"].gt(0).all()


# Q.K^T + A.V per MQA block: 2 x heads x N_query x N_kv x key_dim
HYBRID_ATTENTION = {
    "mnv4-hybrid-m": 4 * 2 * 4 * 256 * 64 * 64 + 4 * 2 * 4 * 64 * 64 * 64,  # 16x16 (kv 8x8), 8x8
    "mnv4-hybrid-l": 4 * 2 * 8 * 576 * 144 * 48 + 4 * 2 * 8 * 144 * 144 * 64,  # 24x24 (kv 12x12), 12x12
}


@pytest.mark.parametrize("name", list(HYBRID_ATTENTION))
@pytest.mark.parametrize("backend", ["MATH", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION"])
def test_attention_counted_under_every_backend(name, backend):
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from roofline.trace.api import _trace_zoo

    _trace_zoo.cache_clear()
    with sdpa_kernel([getattr(SDPBackend, backend)]):
        t = roofline.trace(name)
    att = t.layers[t.layers["op"] == "attention"]
    assert len(att) == 8
    assert att["macs"].sum() == HYBRID_ATTENTION[name]


def test_unrolled_attention_matmuls_count():
    class Manual(nn.Module):
        def forward(self, x):  # (B, H, L, E)
            a = (x @ x.transpose(-1, -2)).softmax(-1)
            return a @ x

    t = roofline.trace(Manual(), (1, 2, 10, 4))
    assert t.layers["op"].tolist() == ["matmul", "softmax", "matmul"]
    assert t.macs == 2 * (2 * 10 * 10 * 4)


@torch.library.custom_op("roofline_test::twice", mutates_args=())
def _twice(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@_twice.register_fake
def _(x):
    return torch.empty_like(x)


class WithCustomOp(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x):
        return _twice(self.conv(x))


def test_unsupported_op_is_reported():
    from roofline.core.errors import UnsupportedOpWarning

    with pytest.warns(UnsupportedOpWarning, match="no counting rule for roofline_test.twice.default"):
        t = roofline.trace(WithCustomOp(), (1, 3, 4, 4))
    assert t.unsupported == {"roofline_test.twice.default": 1}
    assert "roofline_test.twice.default" in t.layers["op"].tolist()
    assert "WARNING" in repr(t)
    with pytest.raises(UnsupportedOpError, match="roofline_test.twice"):
        roofline.trace(WithCustomOp(), (1, 3, 4, 4), strict=True)


def test_user_module_is_not_touched():
    m = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)).train()
    before = m[0].weight.detach().clone()
    t = roofline.trace(m, (1, 3, 8, 8))
    assert t.macs == 8 * 36 * 27
    assert m.training and m[1].training
    assert m[0].weight.device.type == "cpu" and torch.equal(m[0].weight, before)
    assert int(m[1].num_batches_tracked) == 0


def test_cache_and_repr():
    a = roofline.trace("mnv4-conv-s")
    b = roofline.trace("mobilenetv4_conv_small", resolution=224)  # cached: the same table, a copy of its own
    assert b is not a and b.layers is not a.layers and b.layers.equals(a.layers) and b.model == a.model
    assert "mnv4-conv-s" in repr(a) and "186,005,568" in repr(a)
    assert "<table" in a._repr_html_()
    assert int(a.totals["macs"]) == 186_005_568


def test_unfused_totals_match():
    fused, raw = roofline.trace("mnv3-l"), roofline.trace("mnv3-l", fuse=False)
    assert raw.macs == fused.macs and raw.params == fused.params
    assert len(raw) > len(fused)
    assert {"bn", "hswish", "hsigmoid", "add", "mul", "pool"} <= set(raw.layers["op"])


def test_memory_only_rows():
    t = roofline.trace("mnv3-l")
    ops = t.layers["op"].value_counts()
    assert ops["add"] == 10  # residual adds of the blocks with stride 1 and in == out
    assert ops["mul"] == 8  # SE multiplies
    assert ops["pool"] == 9  # 8 SE pools + the global pool
    assert t.layers.loc[t.layers["op"] == "add", "macs"].eq(0).all()


def test_bad_input_shapes():
    with pytest.raises(TraceError, match="rank 3"):
        roofline.trace("mnv2", input_shape=(3, 224, 224))
    with pytest.raises(roofline.RooflineError, match="resolution must be an integer from 1 to 65536, got 0"):
        roofline.trace("mnv2", resolution=0)
    with pytest.raises(TraceError, match="failed on input shape"):
        roofline.trace(nn.Conv2d(3, 8, 3), (1, 4, 8, 8))
    with pytest.raises(TraceError, match="zoo name or a torch.nn.Module"):
        roofline.trace(42)


@pytest.mark.slow
def test_fvcore_agrees_on_the_whole_zoo():
    from roofline.trace.crosscheck import fvcore_check

    for name in ZOO:
        per_module, extras = fvcore_check(roofline.build_model(name), roofline.trace(name))
        diff = per_module[per_module["diff_macs"] != 0]
        assert (diff["ops"] == "attention").all(), diff
        assert diff["reason"].str.contains("scaled_dot_product_attention").all()
        assert len(diff) == (8 if "hybrid" in name else 0)
        assert "batch_norm" in set(extras["fvcore_op"])


def test_hybrid_l_2048_memory():
    """Tracing at 2048 px allocates no activations: the peak RSS grows by little over the import's
    (which depends on the torch build: about 260 MB for the CPU build, 760 MB for a CUDA one)."""
    code = textwrap.dedent("""
        import roofline

        def rss(key):  # of this process (ru_maxrss would include the forking parent's)
            status = open("/proc/self/status").read()
            return int(next(line.split()[1] for line in status.splitlines() if line.startswith(key)))

        base = rss("VmRSS")
        t = roofline.trace("mnv4-hybrid-l", resolution=2048)
        assert t.macs > 4e11
        print(rss("VmHWM") - base)
    """)
    grown_kb = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout.strip())
    assert grown_kb < 100 * 1024  # measured: 8-12 MB


USER_FILE = """
import torch
from torch import nn
def good():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU())
def boom():
    raise ValueError("no weights here")
def not_a_module():
    return 42
"""


def test_cli_trace_user_model(cli, tmp_path):
    f = tmp_path / "user.py"
    f.write_text(USER_FILE)
    code, out, err = cli("trace", "--model", f"{f}:good", "--resolution", "8", "--format", "csv")
    assert code == 0, err
    assert out.splitlines()[1].startswith("0,conv2d") or ",conv2d," in out.splitlines()[1]
    assert "4,3,3" not in err
    for spec, message in [(f"{f}:boom", "raised ValueError: no weights here"),
                          (f"{f}:not_a_module", "returned int, not a torch.nn.Module"),
                          (f"{f}:missing", "has no attribute 'missing'"),
                          (f"{tmp_path}/nope.py:good", "does not exist"),
                          ("no_such_pkg_xyz.mod:f", "importing no_such_pkg_xyz.mod failed")]:
        code, out, err = cli("trace", "--model", spec)
        assert code == 2 and message in err and err.count("\n") == 1, (spec, err)


def test_cli_trace_errors(cli, tmp_path):
    for args, message in [(("trace", "mnv9"), "unknown model"),
                          (("trace", "mnv2", "--input-shape", "3,224,224"), "rank 3"),
                          (("trace", "mnv2", "-o", str(tmp_path / "no" / "x.csv")), "does not exist")]:
        code, out, err = cli(*args)
        assert code == 2 and message in err and err.count("\n") == 1, err


def test_cli_trace_json_and_check(cli, tmp_path):
    import json

    out_file = tmp_path / "t.json"
    code, out, err = cli("trace", "mnv4-hybrid-m", "--format", "json", "-o", str(out_file), "--check")
    assert code == 0, err
    doc = json.loads(out_file.read_text())
    assert doc["totals"]["macs"] == roofline.trace("mnv4-hybrid-m").macs
    assert "scaled_dot_product_attention" in err and "8 differ" in err


class DataMovement(nn.Module):
    """Pads, resizes, rolls, gathers by an index buffer, stacks, normalises: plain data movement."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.register_buffer("index", torch.arange(16))

    def forward(self, x):
        y = self.conv(F.pad(x, (1, 1, 1, 1)))                      # 3x16x16 -> padded 3x18x18 -> 8x16x16
        y = torch.roll(F.interpolate(y, scale_factor=2), 1, dims=2)  # 8x32x32
        z = y.flatten(2)[:, :, self.index]                           # 8x16 gathered
        z = z / torch.linalg.vector_norm(z, dim=-1, keepdim=True)
        z = torch.stack([z, z.cumsum(-1), torch.sin(z) + z.pow(2)], 1)
        return z.masked_fill(z > 0, 0.0)


def test_data_movement_ops_are_memory_rows_not_unsupported():
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = roofline.trace(DataMovement(), (1, 3, 16, 16), fuse=False)
    assert t.unsupported == {}
    rows = t.layers.set_index("op")
    assert rows.loc["pad", "in_elems"] == 3 * 16 * 16 and rows.loc["pad", "out_elems"] == 3 * 18 * 18
    assert rows.loc["interpolate", "out_elems"] == 8 * 32 * 32 and rows.loc["roll", "out_elems"] == 8 * 32 * 32
    assert rows.loc["gather", "out_elems"] == 8 * 16
    assert t.macs == 8 * 16 * 16 * 27  # only the conv has MACs
    # the int64 index buffer is neither a weight nor a parameter
    assert t.params == 8 * 27 + 8 and t.layers["weight_elems"].sum() == 8 * 27 + 8


def test_new_compute_rules_count_by_hand():
    """addmv, addr, dot and nn.Bilinear's _trilinear (torch's FlopCounterMode counts none of them)."""

    class Products(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.bilinear = nn.Bilinear(6, 5, 4)
            self.w = nn.Parameter(torch.randn(7, 6))
            self.b = nn.Parameter(torch.randn(7))

        def forward(self, x1, x2):
            v = torch.addmv(self.b, self.w, x1[0])               # 7 x 6 = 42 MACs
            o = torch.addr(torch.zeros(6, 5), x1[0], x2[0])      # outer product 6 x 5 = 30
            d = torch.dot(x1[0], x1[0])                          # 6
            return self.bilinear(x1, x2).sum() + v.sum() + o.sum() + d   # 3 x 4 x 6 x 5 = 360

    t = roofline.trace(Products(), ((3, 6), (3, 5)))
    assert t.unsupported == {} and t.macs == 42 + 30 + 6 + 360
    assert t.other_inputs == ((3, 5),) and t.input_shape == (3, 6)
    # the two-input trace by name, and by example tensors
    assert roofline.trace(Products(), {"x1": (3, 6), "x2": (3, 5)}).macs == t.macs
    assert roofline.trace(Products(), (torch.zeros(3, 6), torch.zeros(3, 5))).macs == t.macs


def test_sdpa_backends_return_their_full_tuples():
    from torch.nn.attention import SDPBackend, sdpa_kernel

    class Attention(nn.Module):
        def forward(self, q):
            return F.scaled_dot_product_attention(q, q, q)

    for backend in (SDPBackend.MATH, SDPBackend.FLASH_ATTENTION):
        with sdpa_kernel(backend):
            t = roofline.trace(Attention(), (1, 2, 16, 8), fuse=False)
        assert t.macs == 2 * 16 * 16 * (8 + 8) and not t.unsupported, backend


def test_data_dependent_ops_fail_clearly_and_leave_the_module_usable():
    class Detector(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3)
            self.cache = None

        def forward(self, x):
            y = self.conv(x)
            self.cache = y            # state a trace on meta would leave behind
            return torch.nonzero(y > 0)

    m = Detector()
    with pytest.raises(TraceError, match="aten.nonzero is data-dependent"):
        roofline.trace(m, (1, 3, 8, 8))
    assert m.cache is None and m.conv.weight.device.type == "cpu"
    assert m(torch.ones(1, 3, 8, 8)).shape[1] == 4  # a real forward still works


def test_per_channel_scale_folds_position_table_does_not():
    class Scaled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 8, 1)
            self.gamma = nn.Parameter(torch.ones(8, 1, 1))   # layer scale: folds into the conv
            self.rope = nn.Parameter(torch.ones(8, 6, 6))    # one value per position: read every time

        def forward(self, x):
            return self.conv(x) * self.gamma * self.rope

    t = roofline.trace(Scaled(), (1, 4, 6, 6))
    assert len(t) == 1 and t.layers.loc[0, "fused"] == "mul,mul"
    assert t.layers.loc[0, "weight_elems"] == 32 + 8 + 8 * 36  # conv weight + bias, the table; not gamma


def test_by_module_rolls_up_exactly():
    t = roofline.trace("mnv4-conv-s")
    top = t.by_module(1)
    assert top["macs"].sum() == t.macs == 186_005_568 and top["params"].sum() == t.params
    assert top["macs_share"].sum() == pytest.approx(1.0)
    assert list(top["module"])[:2] == ["stem", "stage1"]
    deeper = t.by_module(2)
    assert len(deeper) > len(top) and deeper["macs"].sum() == t.macs


def test_folded_weight_only_subgraphs_keep_size_roots_and_macs():
    class PositionBias(nn.Module):
        """swinv2-style: a bias table computed from weights alone by a small MLP, added per position."""

        def __init__(self) -> None:
            super().__init__()
            self.coords = nn.Parameter(torch.randn(49, 2))                              # 98 params
            self.mlp = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 4))  # 64 + 32, 128 + 4
            self.q = nn.Linear(16, 16)                                                # 256 + 16

        def forward(self, x):                       # x: (1, 49, 16)
            bias = self.mlp(self.coords).sum(-1, keepdim=True)   # (49, 1): weight-only, folded
            return self.q(x) + bias

    t = roofline.trace(PositionBias(), (1, 49, 16))
    assert t.params == t.model_params == 98 + 64 + 32 + 128 + 4 + 256 + 16  # no param disappears
    assert t.folded_macs == 49 * 2 * 32 + 49 * 32 * 4                        # 9,408, outside the rows
    assert t.macs == 49 * 16 * 16
    # the folded (49, 1) table is read at its real size; being per position, not folded into q's bias
    assert t.layers.loc[0, "weight_elems"] == 256 + 16 + 49
    assert "folded weight-only subgraphs: 9,408 MACs" in repr(t)


def test_in_place_writes_into_views_count_what_they_write():
    class Mask(nn.Module):
        """swin-style: a mask filled slice by slice in place, then used."""

        def forward(self, x):                     # x: (1, 4, 8, 8)
            mask = torch.zeros(1, 1, 8, 8, device=x.device)
            mask[:, :, :4, :] = 1.0               # copy_ into a view of mask
            mask[:, :, 4:, :4] = 2.0
            return x * mask

    t = roofline.trace(Mask(), (1, 4, 8, 8), fuse=False)
    writes = t.layers[t.layers["op"] == "copy"]
    assert list(writes["out_elems"]) == [32, 16]  # not 0: what they write is read through mask
    assert t.layers.loc[t.layers["op"] == "mul", "in_elems"].item() == 256 + 64


class _TextAndImage(torch.nn.Module):
    """A conv over an image and an embedding over token ids: two inputs of different dtypes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3)
        self.emb = torch.nn.Embedding(100, 8)

    def forward(self, x, ids):
        return self.conv(x).mean() + self.emb(ids).mean()


def test_several_inputs_take_a_dtype_and_a_failure_names_each_input():
    from roofline.core.errors import TraceError

    conv_macs = 8 * 30 * 30 * 3 * 3 * 3  # 3x3 conv, 3 -> 8 channels, 32x32 in, 30x30 out: 194,400
    for ids in (((1, 77), torch.long), ((1, 77), "int64"), torch.zeros(1, 77, dtype=torch.long)):
        t = roofline.trace(_TextAndImage(), ((1, 3, 32, 32), ids))
        assert t.macs == conv_macs
    with pytest.raises(TraceError) as e:
        roofline.trace(_TextAndImage(), ((1, 3, 32, 32), (1, 77)))
    msg = str(e.value)
    assert "input 1 (1, 77) float32" in msg and "input 0 (1, 3, 32, 32) float32" in msg
    assert "(shape, torch.long)" in msg
    with pytest.raises(TraceError, match="input 1: unknown dtype 'int65'"):
        roofline.trace(_TextAndImage(), ((1, 3, 32, 32), ((1, 77), "int65")))
    one = roofline.trace(torch.nn.Embedding(100, 8), ((1, 77), torch.long))  # one input with a dtype
    assert one.input_shape == (1, 77)
