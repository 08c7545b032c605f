"""Group recorded aten ops into layers as an inference engine deploys them.

Fusion rules (``fuse=True``):
- A compute op (conv, depthwise conv, FC, matmul, attention) starts a layer.
- An elementwise op with one activation input (the others weights or scalars)
  joins the layer that produced that input: bias, batch norm, activation,
  layer scale, scalar scaling. Batch norm and bias fold into one bias vector
  of C_out elements (nothing if the conv already has a bias); a per-channel
  scale after a conv folds into its weights.
- An elementwise op with two activation inputs (residual add, SE multiply),
  pooling, softmax and concatenation are memory-only layers of their own.
- A layer's input elements are the activations it reads from other layers
  (or the model input); its output elements are what it writes that another
  layer (or the caller) reads. A layer that writes two tensors that are read
  later counts both.

``fuse=False`` gives one row per recorded aten op with its raw weights
(batch norm reads four vectors: scale, shift, mean, variance).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..core.taxonomy import COMPUTE_KINDS
from .recorder import Event, Key

COMPUTE_OPS = COMPUTE_KINDS  # the kinds rules count as compute (roofline.core.taxonomy)


@dataclass
class _Layer:
    name: str
    op: str
    compute: bool
    macs: int = 0
    params: int = 0
    weight_elems: int = 0
    has_bias: bool = False
    fused: list[str] = field(default_factory=list)
    inputs: dict[tuple[Key, int], int] = field(default_factory=dict)
    produced: dict[Key, int] = field(default_factory=dict)
    in_shape: tuple[int, ...] = ()
    out_shape: tuple[int, ...] = ()
    info: dict = field(default_factory=dict)
    aten: str = ""


def _shape_str(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def build_rows(events: list[Event], roots: dict[int, tuple[int, bool, str]],
               final_outputs: list[Key], fuse: bool, derived: dict[int, frozenset[int]] | None = None,
               written_into_views: set[Key] | None = None) -> list[dict]:
    """Turn events into row dicts (the columns of a LayerTable)."""
    layers: list[_Layer] = []
    layer_of: dict[Key, int] = {}
    read_outside: set[Key] = set(final_outputs) | set(written_into_views or ())
    params_seen: set[int] = set()
    name_count: dict[str, int] = {}

    for ev in events:
        ext_acts = {a[0] for a in ev.acts}
        producers = {layer_of.get(k) for k in ext_acts}
        target: int | None = None
        if fuse and ev.category == "elementwise" and len(ext_acts) == 1:
            target = next(iter(producers))
        if target is None:
            name = ev.module or "(model)"
            n = name_count.get(name, 0)
            name_count[name] = n + 1
            layers.append(_Layer(f"{name}#{n + 1}" if n else name, ev.op,
                                 ev.category == "compute", info=dict(ev.info), aten=ev.aten,
                                 in_shape=ev.acts[0][2] if ev.acts else ()))
            target = len(layers) - 1
            layer = layers[target]
            layer.macs = ev.macs
            if fuse and ev.category != "compute":
                _fold_weights(layer, ev, roots)
            else:
                layer.weight_elems = sum(roots[r][0] for r in set(ev.weights))
                layer.has_bias = len(set(ev.weights)) > 1
        else:
            layer = layers[target]
            layer.fused.append(ev.op)
            layer.macs += ev.macs
            _fold_weights(layer, ev, roots)
        for w in ev.weights:
            for r in (derived or {}).get(w, (w,)):  # a folded tensor: the params it was made of
                if r not in params_seen:
                    params_seen.add(r)
                    if roots[r][1]:
                        layer.params += roots[r][0]
        for k, numel, _, offset in ev.acts:
            if layer_of.get(k) != target:
                layer.inputs[(k, offset)] = numel  # slices of one tensor are distinct reads
                read_outside.add(k)
        for k, numel, shape in ev.outs:
            layer_of[k] = target
            layer.produced[k] = numel
            layer.out_shape = shape

    rows = []
    for layer in layers:
        rows.append({
            "name": layer.name,
            "op": layer.op,
            "in_shape": _shape_str(layer.in_shape),
            "out_shape": _shape_str(layer.out_shape),
            "kernel": layer.info.get("kernel", ""),
            "stride": layer.info.get("stride", ""),
            "groups": layer.info.get("groups", 0),
            "macs": layer.macs,
            "params": layer.params,
            "weight_elems": layer.weight_elems,
            "in_elems": sum(layer.inputs.values()),
            "out_elems": sum(n for k, n in layer.produced.items() if k in read_outside),
            "fused": ",".join(layer.fused),
            "memory_only": not layer.compute,
            "aten": layer.aten,
        })
    return rows


def _per_channel(ev, layer: _Layer, roots: dict[int, tuple[int, bool, str]]) -> bool:
    """Whether the weights ``ev`` multiplies by hold one value per output channel (foldable), not one
    per position (a rotary table, a mask)."""
    shape = layer.out_shape  # (N, C, H, W) on the meta device; (N, L, C) and (N, C) for tokens
    channels = {shape[1]} if len(shape) >= 4 else set(shape[-1:])
    return all(roots[r][0] in channels for r in set(ev.weights))


def _fold_weights(layer: _Layer, ev: Event, roots: dict[int, tuple[int, bool, str]]) -> None:
    """Add the weight elements an epilogue op reads once deployed (see module docstring)."""
    if not ev.weights:
        return
    if ev.op == "bn":
        channels = roots[ev.weights[0]][0]
        if not layer.compute:
            layer.weight_elems += 2 * channels  # a standalone scale and shift
        elif not layer.has_bias:
            layer.weight_elems += channels  # folds into the conv: one bias vector
        layer.has_bias = True
    elif ev.op == "add" and layer.compute and _per_channel(ev, layer, roots):
        if not layer.has_bias:  # a per-channel bias: one bias vector, however many adds
            layer.weight_elems += sum(roots[r][0] for r in ev.weights)
        layer.has_bias = True
    elif ev.op == "mul" and layer.compute and _per_channel(ev, layer, roots):
        pass  # a per-channel scale (layer scale) after a conv or FC folds into its weights
    else:
        layer.weight_elems += sum(roots[r][0] for r in set(ev.weights))
