"""Counting rules: one small pure function per aten op, registered in one table.

A rule takes the op's arguments (as aten passes them) and returns a :class:`Count`:
the op's kind, its MACs and the shapes of its outputs. The tracer creates the
outputs itself as empty meta tensors, so no meta kernel runs for a counted op.
Adding an op is adding one function with ``@rule(...)``.

MAC conventions (one MAC = one multiply-accumulate):
- convolution: N * C_out * prod(out spatial) * (C_in / groups) * prod(kernel)
- matrix products: prod(batch) * n * k * m for (n x k) @ (k x m)
- attention: Q.K^T plus A.V, i.e. B * H * L * S * (E + E_v)
- elementwise ops, norms, pooling and softmax: 0 MACs (memory-only)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
from torch._ops import OpOverload, OpOverloadPacket

from ..core import checks
from ..core.errors import TraceError
from ..core.taxonomy import kind

aten = torch.ops.aten

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Count:
    """What a rule says about one op call."""

    op: str  # kind, one of roofline.core.taxonomy.OPS: conv2d, dwconv2d, fc, matmul, add, relu, pool, ...
    macs: int
    outs: tuple[Shape, ...] | None  # output shapes, in the op's output order (see below)
    category: str  # "compute", "elementwise" (fusable epilogue or memory op), "memory" (own row)
    info: dict = field(default_factory=dict)  # kernel / stride / groups for convolutions
    # outputs: None means "run the op's meta kernel for them" (ops whose outputs are awkward to
    # derive, such as advanced indexing, or that return auxiliary tensors, such as SDPA backends)


Rule = Callable[..., Count]
RULES: dict[object, Rule] = {}  # aten overload or overload packet -> its rule; one rule per op


def rule(*ops: object) -> Callable[[Rule], Rule]:
    """Register ``fn`` as the counting rule for each aten overload or overload packet in ``ops``.

    An op has one rule: registering another for it (or naming it twice) is a :class:`TraceError`
    that registers nothing. To count an op otherwise in one trace, give ``trace(..., rules=...)``."""

    def register(fn: Rule) -> Rule:
        for i, op in enumerate(ops):
            if not isinstance(op, (OpOverload, OpOverloadPacket)):
                raise TraceError(f"rule(): {checks.show(op)} is not an aten op (give torch.ops.aten.linear "
                                 f"or an overload such as torch.ops.aten.linear.default)")
            if op in ops[:i]:
                raise TraceError(f"rule(): {op} is named twice")
            if op in RULES:
                had = getattr(RULES[op], "__name__", "?")
                raise TraceError(f"rule(): {op} already has a counting rule ({had}); an op has one rule "
                                 f"(trace(..., rules={{op: fn}}) counts it otherwise in one trace)")
        for op in ops:
            RULES[op] = fn
        return fn

    return register


def _shape(t: object) -> Shape:
    return tuple(t.shape) if isinstance(t, torch.Tensor) else ()


def _pair(v: int | Sequence[int], n: int) -> tuple[int, ...]:
    return tuple(v) * (n if len(v) == 1 else 1) if isinstance(v, (list, tuple)) else (int(v),) * n


# --- compute ops -----------------------------------------------------------------------------------

def _conv_count(x: torch.Tensor, w: torch.Tensor, stride, padding, dilation, groups: int,
                transposed: bool = False, output_padding=0) -> Count:
    n_sp = w.dim() - 2
    in_sp = x.shape[-n_sp:]
    k = tuple(w.shape[2:])
    s, d = _pair(stride, n_sp), _pair(dilation, n_sp)
    if isinstance(padding, str):
        p = tuple(0 if padding == "valid" else (d[i] * (k[i] - 1)) // 2 for i in range(n_sp))
        out_sp = tuple(in_sp) if padding == "same" else tuple(
            (in_sp[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(n_sp))
    else:
        p = _pair(padding, n_sp)
        if transposed:
            op_ = _pair(output_padding, n_sp)
            out_sp = tuple((in_sp[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op_[i] + 1
                           for i in range(n_sp))
        else:
            out_sp = tuple((in_sp[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1) // s[i] + 1 for i in range(n_sp))
    batch = x.shape[0] if x.dim() == n_sp + 2 else 1
    cin = x.shape[-n_sp - 1]
    if x.dim() not in (n_sp + 1, n_sp + 2):
        raise ValueError(f"conv with a {n_sp + 2}-d weight got a {x.dim()}-d input {tuple(x.shape)}")
    if (cin != w.shape[0]) if transposed else (cin != w.shape[1] * groups):
        raise ValueError(f"conv expects {w.shape[0] if transposed else w.shape[1] * groups} input "
                         f"channels, got input {tuple(x.shape)}")
    if any(o <= 0 for o in out_sp):
        raise ValueError(f"conv output would be empty for input {tuple(x.shape)}")
    if transposed:  # weight is (C_in, C_out / groups, *k)
        cout = w.shape[1] * groups
        macs = batch * cin * math.prod(in_sp) * w.shape[1] * math.prod(k)
    else:
        cout = w.shape[0]
        macs = batch * cout * math.prod(out_sp) * (cin // groups) * math.prod(k)
    out = ((batch,) if x.dim() == n_sp + 2 else ()) + (cout,) + tuple(out_sp)
    if n_sp == 2 and groups == cin and cin > 1 and not transposed:
        op = "dwconv2d"
    elif n_sp == 2 and math.prod(k) == 1 and math.prod(out_sp) == 1 and groups == 1:
        op = "fc"  # a 1x1 conv on a 1x1 map is a fully connected layer (SE, pooled heads)
    else:
        op = f"conv{'_transpose' if transposed else ''}{n_sp}d"
    info = {"kernel": "x".join(map(str, k)), "stride": "x".join(map(str, s)), "groups": int(groups)}
    return Count(op, int(macs), (out,), "compute", info)


@rule(aten.conv2d, aten.conv1d, aten.conv3d)
def conv(x, w, bias=None, stride=1, padding=0, dilation=1, groups=1) -> Count:
    return _conv_count(x, w, stride, padding, dilation, groups)


@rule(aten.convolution, aten._convolution)
def convolution(x, w, bias, stride, padding, dilation, transposed, output_padding, groups, *_) -> Count:
    return _conv_count(x, w, stride, padding, dilation, groups, transposed, output_padding)


@rule(aten.conv_transpose2d, aten.conv_transpose1d, aten.conv_transpose3d)
def conv_transpose(x, w, bias=None, stride=1, padding=0, output_padding=0, groups=1, dilation=1) -> Count:
    return _conv_count(x, w, stride, padding, dilation, groups, True, output_padding)


def _matmul_count(a: Shape, b: Shape) -> Count:
    a1, b1 = len(a) == 1, len(b) == 1
    a2 = (1,) + a if a1 else a
    b2 = b + (1,) if b1 else b
    batch = broadcast(a2[:-2], b2[:-2])
    n, k, m = a2[-2], a2[-1], b2[-1]
    if k != b2[-2]:
        raise ValueError(f"matrix product of shapes {a} and {b}: inner sizes {k} and {b2[-2]} differ")
    out = tuple(batch) + ((n,) if not a1 else ()) + ((m,) if not b1 else ())
    return Count("matmul", math.prod(batch) * n * k * m, (out,), "compute")


@rule(aten.linear)
def linear(x, w, bias=None) -> Count:
    c = _matmul_count(_shape(x), _shape(w)[::-1])
    return Count("fc", c.macs, c.outs, "compute")


@rule(aten.mm, aten.bmm, aten.matmul)
def matmul(a, b) -> Count:
    return _matmul_count(_shape(a), _shape(b))


@rule(aten.addmm, aten.baddbmm, aten.addbmm)
def addmm(bias, a, b, *, beta=1, alpha=1) -> Count:
    c = _matmul_count(_shape(a), _shape(b))
    if c.outs[0] and _shape(bias) != c.outs[0] and len(_shape(a)) == 3 and len(_shape(bias)) == 2:
        return Count("matmul", c.macs, (c.outs[0][1:],), "compute")  # addbmm sums over the batch
    return c


@rule(aten.scaled_dot_product_attention)
def attention(q, k, v, *args, **kwargs) -> Count:
    """Q.K^T (L x S x E per head) plus A.V (L x S x E_v per head); K/V heads may be shared."""
    *batch, L, E = _shape(q)
    S, Ev = _shape(k)[-2], _shape(v)[-1]
    b = math.prod(batch)
    return Count("attention", b * L * S * (E + Ev), (tuple(batch) + (L, Ev),), "compute")


@rule(aten._scaled_dot_product_attention_math, aten._scaled_dot_product_flash_attention_for_cpu,
      aten._scaled_dot_product_flash_attention, aten._scaled_dot_product_efficient_attention,
      aten._scaled_dot_product_cudnn_attention)
def attention_backend(q, k, v, *args, **kwargs) -> Count:
    """The backends return auxiliary tensors too (log-sum-exp, attention weights, RNG state): the
    meta kernel gives the full tuple, the MACs are those of attention."""
    c = attention(q, k, v)
    return Count(c.op, c.macs, None, "compute")


@rule(aten.addmv)
def addmv(bias, mat, vec, *, beta=1, alpha=1) -> Count:
    n, k = _shape(mat)
    return Count("fc", n * k, ((n,),), "compute")


@rule(aten.mv)
def mv(mat, vec) -> Count:
    n, k = _shape(mat)
    return Count("fc", n * k, ((n,),), "compute")


@rule(aten.addr)
def addr(bias, a, b, *, beta=1, alpha=1) -> Count:
    n, m = _shape(a)[0], _shape(b)[0]
    return Count("matmul", n * m, ((n, m),), "compute")


@rule(aten.dot, aten.vdot)
def dot(a, b) -> Count:
    return Count("matmul", _shape(a)[0], ((),), "compute")


@rule(aten._trilinear)
def trilinear(i1, i2, i3, expand1, expand2, expand3, sumdim, unroll_dim=1) -> Count:
    """nn.Bilinear's kernel: the three inputs, each with size-1 dims inserted at its ``expand``
    positions, broadcast to one iteration space; ``sumdim`` is summed. One MAC per point of the
    space (y_bo = sum_ij x1_bi W_oij x2_bj is B x O x I x J MACs)."""
    shapes = []
    for t, expand in ((i1, expand1), (i2, expand2), (i3, expand3)):
        s = list(_shape(t))
        for d in sorted(expand):
            s.insert(d, 1)
        shapes.append(tuple(s))
    space = broadcast(*shapes)
    out = tuple(n for i, n in enumerate(space) if i not in set(sumdim))
    return Count("matmul", math.prod(space), (out,), "compute")


# --- elementwise ops: fusable into the producer's epilogue, or a memory op of their own -----------

def broadcast(*shapes: Shape) -> Shape:
    """NumPy broadcasting of shapes (pure Python: torch.broadcast_shapes imports sympy)."""
    out: list[int] = []
    for dims in zip(*(((1,) * (max(map(len, shapes)) - len(s)) + tuple(s)) for s in shapes)):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            raise ValueError(f"shapes {shapes} do not broadcast")
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _broadcast(*xs: object) -> Shape:
    shapes = [_shape(x) for x in xs if isinstance(x, torch.Tensor)]
    if not shapes:
        return ()
    first = shapes[0]
    return first if all(s == first for s in shapes) else broadcast(*shapes)


def _elementwise(op: str) -> Rule:
    op = kind(op, "elementwise")  # the op table lists every kind a rule emits

    def count(*args, **kwargs) -> Count:
        return Count(op, 0, (_broadcast(*args),), "elementwise")

    count.__name__ = op
    return count


_ELEMENTWISE = {
    "add": (aten.add, aten.add_, aten.sub, aten.sub_, aten.rsub),
    "mul": (aten.mul, aten.mul_, aten.div, aten.div_),
    "relu": (aten.relu, aten.relu_, aten.threshold, aten.threshold_),
    "relu6": (aten.relu6,),
    "hswish": (aten.hardswish, aten.hardswish_),
    "hsigmoid": (aten.hardsigmoid, aten.hardsigmoid_),
    "gelu": (aten.gelu, aten.gelu_),
    "silu": (aten.silu, aten.silu_),
    "sigmoid": (aten.sigmoid, aten.sigmoid_),
    "tanh": (aten.tanh, aten.tanh_),
    "clamp": (aten.clamp, aten.clamp_, aten.clamp_min, aten.clamp_min_, aten.clamp_max, aten.clamp_max_),
    "leaky_relu": (aten.leaky_relu, aten.leaky_relu_),
    "elu": (aten.elu, aten.elu_),
    "mish": (aten.mish, aten.mish_),
    "exp": (aten.exp, aten.exp_),
    "sqrt": (aten.sqrt, aten.rsqrt),
    "neg": (aten.neg,),
}
for _op, _funcs in _ELEMENTWISE.items():
    rule(*_funcs)(_elementwise(_op))


@rule(aten.hardtanh, aten.hardtanh_)
def hardtanh(x, min_val=-1.0, max_val=1.0) -> Count:
    """nn.ReLU6 is hardtanh(0, 6): named relu6 then."""
    return Count("relu6" if (min_val, max_val) == (0.0, 6.0) else "hardtanh", 0, (_shape(x),), "elementwise")


@rule(aten.batch_norm, aten.instance_norm)
def batch_norm(x, *args, **kwargs) -> Count:
    return Count("bn", 0, (_shape(x),), "elementwise")


@rule(aten.native_batch_norm, aten._native_batch_norm_legit_no_training, aten._native_batch_norm_legit)
def native_batch_norm(x, weight, *args, **kwargs) -> Count:
    c = _shape(x)[1] if x.dim() > 1 else 0
    return Count("bn", 0, (_shape(x), (c,), (c,)), "elementwise")


@rule(aten.layer_norm, aten.group_norm)
def norm(x, *args, **kwargs) -> Count:
    return Count("norm", 0, (_shape(x),), "elementwise")


@rule(aten.native_layer_norm)
def native_layer_norm(x, normalized_shape, *args) -> Count:
    stat = _shape(x)[: x.dim() - len(normalized_shape)] + (1,) * len(normalized_shape)
    return Count("norm", 0, (_shape(x), stat, stat), "elementwise")


# --- memory ops that always get a row of their own ------------------------------------------------

def _reduce_shape(shape: Shape, dims, keepdim: bool) -> Shape:
    if dims is None or (isinstance(dims, (list, tuple)) and len(dims) == 0):
        dims = range(len(shape))
    dims = {d % len(shape) for d in ([dims] if isinstance(dims, int) else dims)}
    return tuple(1 if i in dims else s for i, s in enumerate(shape) if keepdim or i not in dims)


@rule(aten.mean, aten.sum, aten.amax)
def reduce(x, dim=None, keepdim=False, *args, **kwargs) -> Count:
    return Count("pool", 0, (_reduce_shape(_shape(x), dim, keepdim),), "memory")


@rule(aten.adaptive_avg_pool2d, aten._adaptive_avg_pool2d)
def adaptive_avg_pool(x, output_size) -> Count:
    return Count("pool", 0, (_shape(x)[:-2] + _pair(output_size, 2),), "memory")


@rule(aten.adaptive_max_pool2d)
def adaptive_max_pool(x, output_size) -> Count:
    out = _shape(x)[:-2] + _pair(output_size, 2)
    return Count("pool", 0, (out, out), "memory")


def _pool_out(x, kernel, stride, padding, dilation=1, ceil_mode=False) -> Shape:
    k = _pair(kernel, 2)
    s = _pair(stride, 2) if stride not in (None, [], ()) else k
    p, d = _pair(padding, 2), _pair(dilation, 2)
    sp = []
    for i, size in enumerate(_shape(x)[-2:]):
        eff = d[i] * (k[i] - 1) + 1
        num = size + 2 * p[i] - eff
        o = (-(-num // s[i]) if ceil_mode else num // s[i]) + 1
        if ceil_mode and (o - 1) * s[i] >= size + p[i]:
            o -= 1
        sp.append(o)
    return _shape(x)[:-2] + tuple(sp)


@rule(aten.avg_pool2d)
def avg_pool(x, kernel, stride=(), padding=0, ceil_mode=False, *args) -> Count:
    return Count("pool", 0, (_pool_out(x, kernel, stride, padding, 1, ceil_mode),), "memory")


@rule(aten.max_pool2d)
def max_pool(x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False) -> Count:
    return Count("pool", 0, (_pool_out(x, kernel, stride, padding, dilation, ceil_mode),), "memory")


@rule(aten.max_pool2d_with_indices)
def max_pool_indices(x, kernel, stride=(), padding=0, dilation=1, ceil_mode=False) -> Count:
    out = _pool_out(x, kernel, stride, padding, dilation, ceil_mode)
    return Count("pool", 0, (out, out), "memory")


@rule(aten.softmax, aten._softmax, aten.log_softmax, aten._log_softmax)
def softmax(x, *args, **kwargs) -> Count:
    return Count("softmax", 0, (_shape(x),), "memory")


@rule(aten.cat, aten.concat)
def cat(tensors, dim=0) -> Count:
    shapes = [_shape(t) for t in tensors if _shape(t) != (0,)]
    d = dim % len(shapes[0])
    out = list(shapes[0])
    out[d] = sum(s[d] for s in shapes)
    return Count("concat", 0, (tuple(out),), "memory")


# --- ops that move no data: views, layout, metadata, factories, identities in eval ---------------
# They run their own (cheap) meta kernel; the tracer treats their outputs as aliases.

FREE: frozenset[object] = frozenset({
    aten.view, aten._unsafe_view, aten.reshape, aten.flatten, aten.unflatten, aten.transpose,
    aten.permute, aten.expand, aten.expand_as, aten.unsqueeze, aten.squeeze, aten.t,
    aten.contiguous, aten.clone, aten.detach, aten.alias, aten.slice, aten.select, aten.split,
    aten.split_with_sizes, aten.chunk, aten.unbind, aten.narrow, aten.movedim, aten.view_as,
    aten.reshape_as, aten.lift_fresh, aten.lift_fresh_copy, aten._to_copy, aten.to,
    aten.dropout, aten.feature_dropout, aten.alpha_dropout,
    aten._fused_sdp_choice, aten.empty, aten.empty_like, aten.zeros, aten.zeros_like, aten.ones,
    aten.ones_like, aten.full, aten.full_like, aten.arange, aten.scalar_tensor, aten.detach_,
    aten.fill_, aten.zero_, aten.is_same_size, aten.sym_size, aten.sym_stride, aten.sym_numel,
    aten._has_compatible_shallow_copy_type, aten.new_empty, aten.new_zeros, aten.new_ones,
    aten.empty_strided, aten.as_strided, aten.randn, aten.rand, aten.randn_like, aten.rand_like,
    aten.normal, aten.bernoulli, aten.linspace, aten.eye,
})


# --- data movement: no MACs, bytes read and written ------------------------------------------------

def _memory(op: str, category: str = "memory") -> Rule:
    """A data-movement op whose outputs the meta kernel gives (gathers, padding, stacking, ...)."""
    op = kind(op, category)

    def count(*args, **kwargs) -> Count:
        return Count(op, 0, None, category)

    count.__name__ = op
    return count


_MEMORY = {
    "pad": (aten.constant_pad_nd, aten.reflection_pad2d, aten.replication_pad2d, aten.pad),
    "gather": (aten.index, aten._unsafe_index, aten.index_select, aten.gather, aten.take_along_dim,
               aten.embedding),
    "interpolate": (aten.upsample_nearest2d, aten.upsample_bilinear2d, aten._upsample_nearest_exact2d,
                    aten.upsample_bicubic2d, aten._upsample_bilinear2d_aa, aten.grid_sampler_2d),
    "stack": (aten.stack,),
    "roll": (aten.roll, aten.flip),
    "cumsum": (aten.cumsum, aten.cumprod),
    "unfold": (aten.im2col, aten.col2im, aten.unfold),
    "norm": (aten.linalg_vector_norm, aten.norm, aten.var_mean, aten.var, aten.std),
    "scatter": (aten.index_put, aten.index_put_, aten.scatter, aten.scatter_, aten.masked_scatter),
    "copy": (aten.copy_, aten.copy),
    "repeat": (aten.repeat, aten.tile),
    "minmax": (aten.max, aten.min, aten.argmax, aten.argmin, aten.topk, aten.sort),
}
for _op, _funcs in _MEMORY.items():
    rule(*_funcs)(_memory(_op))
_MEMORY_ELEMENTWISE = {
    "trig": (aten.sin, aten.cos, aten.sin_, aten.cos_),
    "pow": (aten.pow, aten.pow_, aten.square, aten.reciprocal, aten.abs, aten.log, aten.erf),
    "masked_fill": (aten.masked_fill, aten.masked_fill_, aten.where),
    "addcmul": (aten.addcmul, aten.addcmul_, aten.addcdiv, aten.lerp),
    "compare": (aten.eq, aten.ne, aten.lt, aten.le, aten.gt, aten.ge, aten.logical_not, aten.logical_and),
}
for _op, _funcs in _MEMORY_ELEMENTWISE.items():
    rule(*_funcs)(_memory(_op, "elementwise"))


class DataDependentOpError(Exception):
    """An op whose output size depends on tensor values, which a trace on meta cannot know."""


def _data_dependent(name: str) -> Rule:
    def refuse(*args, **kwargs) -> Count:
        raise DataDependentOpError(name)

    return refuse


for _f in (aten.nonzero, aten.nonzero_numpy, aten.argwhere, aten.masked_select, aten._unique2,
           aten.unique_consecutive, aten.unique_dim, aten.bincount):
    rule(_f)(_data_dependent(str(_f)))
rule(aten.repeat_interleave)(_memory("repeat"))
