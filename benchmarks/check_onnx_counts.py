"""ONNX files read as models (issue 27): every zoo model and 20 timm / torchvision models of other families,
exported with ``torch.onnx.export`` (eval mode, one fixed input, opset 17, constant folding), read back by
``roofline.trace("model.onnx")`` and compared with the PyTorch trace of the same model at the same input.

Per model: MACs (ONNX vs PyTorch) and their relative difference (acceptance: within 0.5 %); parameters,
equal to those of the deployed module the exporter writes (batch norm folded into the conv before it, which
:func:`fold_bn` does to the PyTorch module too); and whether the conv / FC / matmul rows match one to one in
order (kind and MACs; an ONNX attention row matches a PyTorch attention row, or the two matmuls of an
attention written out).

Every parameter and float buffer is given random values before export: the exporter merges initializers of
equal value, which untrained models are full of (zero biases, unit scales), and a trained model is not.

    python benchmarks/check_onnx_counts.py            # all 39 models (19 zoo + 20), about 5 minutes on 2 cores
    python benchmarks/check_onnx_counts.py mnv2 timm:vit_tiny_patch16_224

tests/test_onnx.py runs :func:`compare` on a handful of these models.
"""

from __future__ import annotations

import sys
import tempfile
import time
import warnings
from pathlib import Path

import torch
from torch import nn

OTHERS = [  # 20 models of other families than the zoo's: CNNs, ViTs and hybrids
    "torchvision:resnet18", "torchvision:mobilenet_v3_large", "torchvision:efficientnet_b0",
    "torchvision:regnet_y_400mf", "torchvision:shufflenet_v2_x1_0", "torchvision:squeezenet1_1",
    "torchvision:densenet121", "timm:convnext_atto", "timm:ghostnet_100", "timm:repvgg_a0", "timm:mobileone_s0",
    "timm:vit_tiny_patch16_224", "timm:deit_tiny_patch16_224", "timm:swin_tiny_patch4_window7_224",
    "timm:levit_128s", "timm:fastvit_t8", "timm:efficientformer_l1", "timm:mobilevit_xs", "timm:efficientvit_b0",
    "timm:edgenext_xx_small",
]
COMPUTE = ("conv1d", "conv2d", "conv3d", "dwconv2d", "fc", "matmul", "attention", "conv_transpose1d",
           "conv_transpose2d", "conv_transpose3d")
RESOLUTION = 128  # where the model takes it; models with a fixed input size run at their own


def randomize(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with random values in every parameter (around 1 for norm scales) and batch norm
    statistics (:func:`roofline.measure.onnx_quantize.distinct_weights`)."""
    from roofline.measure.onnx_quantize import distinct_weights

    return distinct_weights(model, seed)


def fold_bn(model: nn.Module, x: torch.Tensor) -> nn.Module:
    """Fold each BatchNorm2d that reads a Conv2d's output into that conv, as the ONNX exporter does (in eval
    mode): the deployed module, whose parameters are what the ONNX file stores."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    names = {id(m): n for n, m in model.named_modules()}
    outs: dict[int, tuple[str, torch.Tensor]] = {}
    pairs: list[tuple[str, str]] = []
    hooks = []
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            hooks.append(m.register_forward_hook(lambda mod, i, o: outs.__setitem__(id(o), (names[id(mod)], o))))
        if isinstance(m, nn.BatchNorm2d):
            hooks.append(m.register_forward_pre_hook(
                lambda mod, i: pairs.append((outs[id(i[0])][0], names[id(mod)])) if id(i[0]) in outs else None))
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    for n, m in model.named_modules():  # a conv that applies its own batch norm (the zoo's ConvNormAct)
        if isinstance(m, nn.Conv2d) and isinstance(getattr(m, "bn", None), nn.BatchNorm2d):
            pairs.append((n, f"{n}.bn" if n else "bn"))
    for c, b in dict.fromkeys(pairs):
        conv, bn = model.get_submodule(c), model.get_submodule(b)
        fused = fuse_conv_bn_eval(conv, bn)
        conv.weight, conv.bias = fused.weight, fused.bias
        parent, _, leaf = b.rpartition(".")
        setattr(model.get_submodule(parent) if parent else model, leaf, nn.Identity())
    return model


def export(model: nn.Module, x: torch.Tensor, path: Path, **kwargs) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), x, str(path), dynamo=False, opset_version=17, do_constant_folding=True,
                          **kwargs)
    return path


def rows_match(onnx_rows: list[tuple[str, int]], torch_rows: list[tuple[str, int]]) -> tuple[bool, str]:
    """Compute rows one to one, in order: the same kind and MACs (an attention row may stand for two matmuls)."""
    i = j = 0
    while i < len(onnx_rows) and j < len(torch_rows):
        a, b = onnx_rows[i], torch_rows[j]
        if a == b:
            i, j = i + 1, j + 1
        elif (a[0] == "attention" and b[0] == "matmul" and j + 1 < len(torch_rows)
              and torch_rows[j + 1][0] == "matmul" and b[1] + torch_rows[j + 1][1] == a[1]):
            i, j = i + 1, j + 2
        else:
            return False, f"row {i}: ONNX {a} vs PyTorch {b}"
    if i < len(onnx_rows) or j < len(torch_rows):
        return False, f"{len(onnx_rows) - i} ONNX and {len(torch_rows) - j} PyTorch rows left over"
    return True, ""


def compare(name: str, folder: Path, resolution: int = RESOLUTION) -> dict:
    """Export ``name`` (a zoo, timm: or torchvision: name) to ``folder`` and compare the two traces."""
    import roofline

    model = randomize(roofline.build_model(name, device="cpu").eval())
    res = resolution
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, res, res))
    except Exception:  # noqa: BLE001  a model with a fixed input size: its own
        from roofline.zoo import native_resolution

        res = native_resolution(name)
    shape = (1, 3, res, res)
    x = torch.zeros(shape)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = roofline.trace(model, shape)
        deployed = roofline.trace(fold_bn(model, x), shape)
        path = export(model, x, folder / f"{name.replace(':', '_')}.onnx")
        t0 = time.perf_counter()
        got = roofline.trace(str(path))
        read_s = time.perf_counter() - t0

    def compute(df):
        df = df[df["op"].isin(COMPUTE)]
        return list(zip(df["op"], (int(v) for v in df["macs"])))

    ok, why = rows_match(compute(got.layers), compute(ref.layers))
    return {"model": name, "resolution": res, "onnx_macs": got.macs, "torch_macs": ref.macs,
            "rel_diff": got.macs / ref.macs - 1 if ref.macs else 0.0, "onnx_params": got.params,
            "torch_params": deployed.params, "params_equal": got.params == deployed.params,
            "rows_match": ok, "row_mismatch": why, "unsupported": dict(got.unsupported), "read_s": read_s,
            "folded_macs": got.folded_macs, "shapes_from": got.shapes_from,
            "onnx_rows": len(got), "torch_rows": len(ref)}


def main(names: list[str]) -> int:
    import roofline

    names = names or roofline.list_models() + OTHERS
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            try:
                r = compare(name, Path(tmp))
            except Exception as e:  # noqa: BLE001  report the model's failure and go on
                print(f"{name:34s} FAILED: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                results.append({"model": name, "failed": True})
                continue
            results.append(r)
            notes = [f"unsupported {r['unsupported']}"] if r["unsupported"] else []
            if r["folded_macs"]:
                notes.append(f"folded (constant inputs) {r['folded_macs']:,} MACs")
            if r["shapes_from"] != "onnx shape inference":
                notes.append(f"shapes from {r['shapes_from']}")
            print(f"{name:34s} {r['resolution']:4d}px MACs {r['onnx_macs']:>14,} vs {r['torch_macs']:>14,} "
                  f"({r['rel_diff']:+.4%})  params {'equal' if r['params_equal'] else 'DIFFER'} "
                  f"({r['onnx_params']:,} vs {r['torch_params']:,})  rows {'match' if r['rows_match'] else 'DIFFER'}"
                  f"{'' if r['rows_match'] else ': ' + r['row_mismatch']}  read {r['read_s']:.2f} s"
                  f"{'  (' + '; '.join(notes) + ')' if notes else ''}", flush=True)
            Path(tmp, f"{name.replace(':', '_')}.onnx").unlink(missing_ok=True)
    done = [r for r in results if not r.get("failed")]
    within = [r for r in done if abs(r["rel_diff"]) <= 0.005]
    print(f"\n{len(results)} models: {len(within)} with MACs within 0.5 %, "
          f"{sum(r['params_equal'] for r in done)} with equal parameters, "
          f"{sum(r['rows_match'] for r in done)} with conv/matmul rows matching one to one, "
          f"{len(results) - len(done)} failed")
    return 0 if len(within) == len(results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
