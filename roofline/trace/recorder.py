"""Record every aten op of a forward pass on the meta device, without running counted ops.

The recorder is a ``TorchDispatchMode``. For an op with a rule in
:mod:`roofline.trace.rules` it asks the rule for MACs and output shapes and
answers with empty meta tensors of those shapes (no meta kernel runs: on meta,
elementwise ops and batch norm cost 0.2-1 ms a call). Views and other free ops
run their cheap meta kernels; their outputs alias their inputs. Ops without a
rule are decomposed where torch knows how, else run on meta and reported as
unsupported. Module attribution comes from global forward hooks.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn
from torch._ops import OpOverload, OpOverloadPacket
from torch.utils._python_dispatch import TorchDispatchMode

from ..core import checks
from ..core.errors import InvalidInputError, RooflineError, TraceError
from ..core.taxonomy import kind
from .rules import FREE, RULES, Count, DataDependentOpError, Rule

Key = tuple[int, int]  # (id of the tensor object, version: bumped by in-place ops)


@dataclass
class Event:
    """One recorded aten op."""

    aten: str
    op: str
    category: str  # compute | elementwise | memory | unsupported
    module: str
    macs: int
    acts: list[tuple[Key, int, tuple[int, ...], int]]  # activation inputs: key, elements, shape, offset
    weights: list[int]  # root ids of the weight tensors read (parameters or buffers)
    outs: list[tuple[Key, int, tuple[int, ...]]]
    info: dict = field(default_factory=dict)


def rule_table(extra: object = None) -> Mapping[object, Rule]:
    """The rules one trace counts with: the registry, with ``extra`` (``{aten op: rule}``, where
    ``None`` or empty is none) on top, for that trace only; the registry is left as it is.

    A rule in ``extra`` wins over a registered one for the same op: one given for an overload packet
    also over the rules registered for that packet's overloads. Each rule given must return a
    :class:`Count` with a non-negative integer ``macs`` and a kind and category that
    :data:`roofline.core.taxonomy.OPS` lists (else the trace fails with a TraceError)."""
    if extra is None:
        return RULES
    if not isinstance(extra, Mapping):
        raise InvalidInputError(f"rules must be a mapping of aten ops to counting rules (functions that "
                                f"return a Count), got {checks.show(extra)}")
    for op, fn in extra.items():
        if not isinstance(op, (OpOverload, OpOverloadPacket)):
            raise InvalidInputError(f"rules: key {checks.show(op)} is not an aten op (give torch.ops.aten."
                                    f"linear or an overload such as torch.ops.aten.linear.default)")
        if not callable(fn):
            raise InvalidInputError(f"rules: the rule for {op} must be a function that returns a Count, "
                                    f"got {checks.show(fn)}")
    if not extra:
        return RULES
    table = dict(RULES)
    for op in extra:
        if isinstance(op, OpOverloadPacket):
            for k in [k for k in table if isinstance(k, OpOverload) and k.overloadpacket is op]:
                del table[k]
    table.update({op: _checked(op, fn) for op, fn in extra.items()})
    return table


def _checked(op: object, fn: Callable[..., object]) -> Rule:
    """``fn``, with what it returns checked: a rule passed to one trace is a user's code."""

    def count(*args, **kwargs) -> Count:
        c = fn(*args, **kwargs)
        if not isinstance(c, Count):
            raise TraceError(f"the rule given for {op} returned {checks.show(c)}, not a Count")
        if not isinstance(c.macs, int) or isinstance(c.macs, bool) or c.macs < 0:
            raise TraceError(f"the rule given for {op} returned macs={checks.show(c.macs)}; macs must be a "
                             f"non-negative integer")
        try:
            kind(c.op, c.category)
        except RooflineError as e:
            raise TraceError(f"the rule given for {op} returned a Count whose {e}") from None
        return c

    return count


def _op_name(func: object) -> str:
    return str(func)


def _tensors(args: tuple) -> list[torch.Tensor]:
    out: list[torch.Tensor] = []
    for a in args:
        if isinstance(a, torch.Tensor):
            out.append(a)
        elif isinstance(a, (list, tuple)):
            out.extend(x for x in a if isinstance(x, torch.Tensor))
    return out


class Recorder(TorchDispatchMode):
    """Records :class:`Event` objects for one forward pass."""

    @classmethod
    def _should_skip_dynamo(cls) -> bool:
        # torch wraps __torch_dispatch__ in a dynamo-disable shim that imports torch._dynamo
        # (about 1.7 s) on first use and adds a call per op; nothing here runs under dynamo.
        return False

    def __init__(self, weights: dict[int, tuple[int, bool, str]], index: set[int] | None = None,
                 rules: Mapping[object, Rule] | None = None) -> None:
        super().__init__()
        self.rules = RULES if rules is None else rules  # see rule_table
        self.index = set(index or ())  # ids of integer index buffers: neither weights nor activations
        # root id -> (elements, is_parameter, name); every parameter and buffer of the model
        self.roots = dict(weights)
        self.weight_root: dict[int, int] = {i: i for i in weights}
        self.keep: list[torch.Tensor] = []  # strong refs: ids stay unique for the whole trace
        self.version: dict[int, int] = {}
        self.alias: dict[Key, Key] = {}
        self.numel: dict[Key, int] = {}  # elements of each recorded output
        self.events: list[Event] = []
        self.stack: list[str] = []
        self.unsupported: Counter[str] = Counter()
        # weight-only subgraphs, folded as any engine folds them: the folded tensor is a root of its
        # own (its real size) made of the roots it was computed from (so their params stay counted)
        self.derived: dict[int, frozenset[int]] = {}
        self.written_into_views: set[Key] = set()  # in-place writes into views (mask[i] = v)
        self.folded_macs = 0
        self._returns_tuple: dict[object, bool] = {}
        self._mutating: dict[object, bool] = {}

    # -- tensor bookkeeping -----------------------------------------------------------------------
    def key(self, t: torch.Tensor) -> Key:
        k = (id(t), self.version.get(id(t), 0))
        alias = self.alias
        seen = 0
        while k in alias:
            k = alias[k]
            seen += 1
            if seen > len(alias):  # a cycle: stop at any of its keys rather than loop forever
                break
        return k

    def _classify(self, args: tuple) -> tuple[list, list[int]]:
        acts, weights = [], []
        for t in _tensors(args):
            if id(t) in self.index:
                continue
            root = self.weight_root.get(id(t))
            if root is not None:
                weights.append(root)
            elif t.dim() > 0:
                self.keep.append(t)  # its id is now a key: no later tensor may reuse it
                shape = tuple(t.shape)
                k = self.key(t)
                # a view reads at most its source's elements (an expanded shared K/V head: once)
                numel = math.prod(shape)
                acts.append((k, min(numel, self.numel.get(k, numel)), shape, t.storage_offset()))
        return acts, weights

    def _alias_outputs(self, args: tuple, out: object) -> None:
        ins = _tensors(args)
        outs = out if isinstance(out, (list, tuple)) else (out,)
        if not ins:  # a factory (zeros, arange): a tensor a model fills in place and reads later, whose id
            self.keep.extend(o for o in outs if isinstance(o, torch.Tensor))  # its views alias: keep it
            return
        src = ins[0]
        self.keep.append(src)  # what the outputs alias: its id must stay its own
        root = self.weight_root.get(id(src))
        for o in outs:
            if not isinstance(o, torch.Tensor) or o is src:
                continue
            self.keep.append(o)
            if root is not None:
                self.weight_root[id(o)] = root
            else:
                k_out, k_src = (id(o), self.version.get(id(o), 0)), self.key(src)
                if k_out != k_src:  # an op that hands back a tensor its input already aliases (x.to(x.dtype)
                    self.alias[k_out] = k_src  # of a view of x): no link to itself, which would never end

    def _fold(self, weights: list[int], out: object) -> None:
        """Make each output of a weight-only op a root of its own, remembering every input root."""
        sources = frozenset(r for w in weights for r in self.derived.get(w, {w}))
        for o in out if isinstance(out, (list, tuple)) else (out,):
            if isinstance(o, torch.Tensor):
                self.keep.append(o)
                self.roots[id(o)] = (o.numel(), False, "folded")
                self.derived[id(o)] = sources
                self.weight_root[id(o)] = id(o)

    # -- dispatch ---------------------------------------------------------------------------------
    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        packet = func.overloadpacket
        rules = self.rules
        rule = rules.get(func) or rules.get(packet)
        if rule is None:
            if packet in FREE or func in FREE:
                out = func(*args, **kwargs)
                self._alias_outputs(args, out)
                return out
            with self:
                out = func.decompose(*args, **kwargs)
            if out is not NotImplemented:
                return out
            out = func(*args, **kwargs)
            outs = [o for o in (out if isinstance(out, (list, tuple)) else (out,)) if isinstance(o, torch.Tensor)]
            self._record(func, Count(_op_name(func), 0, tuple(tuple(o.shape) for o in outs), "unsupported"),
                         args, outs)
            self.unsupported[_op_name(func)] += 1
            return out
        count = rule(*args, **kwargs)
        acts, weights = self._classify(args)
        if not acts and weights:  # an op on weights alone is constant-folded by any engine
            out = func(*args, **kwargs)
            self._fold(weights, out)
            self.folded_macs += count.macs
            return out
        mutating = self._mutating.get(func)
        if mutating is None:
            mutating = self._mutating[func] = bool(func._schema.is_mutable)
        if mutating and isinstance(args[0], torch.Tensor):
            t = args[0]
            self.keep.append(t)  # its id keys its version
            version = self.version.get(id(t), 0)
            into_view = self.key(t) != (id(t), version)  # it writes into another tensor's storage
            self.version[id(t)] = version + 1
            self._record(func, count, args, [t], acts, weights)
            if into_view:  # what it writes is that tensor's content, read by whoever reads it
                self.written_into_views.add((id(t), version + 1))
            return t
        if count.outs is None:  # the meta kernel gives the outputs
            try:
                out = func(*args, **kwargs)
            except NotImplementedError as e:  # e.g. indexing with a boolean mask: sized by the values
                if "data-independent" not in str(e) and "nonzero" not in str(e):
                    raise
                raise DataDependentOpError(f"{func} (here, with a boolean mask)") from None
            outs = [o for o in (out if isinstance(out, (list, tuple)) else (out,)) if isinstance(o, torch.Tensor)]
            self._record(func, count, args, outs, acts, weights)
            return out
        like = _tensors(args)[0]
        outs = [torch.empty(s, dtype=like.dtype, device="meta") for s in count.outs]
        self._record(func, count, args, outs, acts, weights)
        tup = self._returns_tuple.get(func)
        if tup is None:
            tup = self._returns_tuple[func] = len(func._schema.returns) > 1
        return tuple(outs) if tup else outs[0]

    def _record(self, func, count: Count, args, outs, acts=None, weights=None) -> None:
        if acts is None:
            acts, weights = self._classify(args)
        self.keep.extend(outs)
        out_rec = []
        for o in outs:
            shape = tuple(o.shape)
            key, numel = (id(o), self.version.get(id(o), 0)), math.prod(shape)
            self.numel[key] = numel
            out_rec.append((key, numel, shape))
        self.events.append(Event(_op_name(func), count.op, count.category,
                                 self.stack[-1] if self.stack else "", count.macs, acts, weights or [],
                                 out_rec, count.info))


class ModuleScope:
    """Global forward hooks that keep the recorder's module-path stack."""

    def __init__(self, recorder: Recorder, model: nn.Module) -> None:
        self.recorder = recorder
        self.names = {id(m): name for name, m in model.named_modules()}
        self.handles: list = []

    def __enter__(self) -> ModuleScope:
        stack, names = self.recorder.stack, self.names
        thread = threading.get_ident()  # the hooks are global: modules run by other threads are theirs

        def pre(module, args):
            if threading.get_ident() == thread:
                stack.append(names.get(id(module), type(module).__name__))

        def post(module, args, output):
            if stack and threading.get_ident() == thread:
                stack.pop()

        self.handles = [nn.modules.module.register_module_forward_pre_hook(pre),
                        nn.modules.module.register_module_forward_hook(post, always_call=True)]
        return self

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
