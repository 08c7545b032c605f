"""Make the int8 TFLite models that ``benchmarks/litert_validate.sh`` validates under LiteRT (never committed:
tens of MB; the report under ``reports/validation-litert-int8`` lists what they were).

Run in an environment with TensorFlow (never a dependency of roofline: install it in a separate virtual
environment for this script only)::

    python -m venv /tmp/tfenv && /tmp/tfenv/bin/pip install tensorflow-cpu==2.21.0
    /tmp/tfenv/bin/python benchmarks/make_int8_tflite.py OUT_FOLDER [--fp32] [MODEL ...]

Each model is a ``keras.applications`` architecture at 224 x 224 with random weights (seeded; ``weights=None``:
nothing is downloaded, and a kernel's speed does not depend on its weights), 1,000 classes, converted by
``tf.lite.TFLiteConverter`` to full-integer int8 (``Optimize.DEFAULT``, a representative data set of 4 random
images, int8 builtins only; float32 input and output, so a QUANTIZE op starts the graph and a DEQUANTIZE ends it),
as a deployment to a phone's CPU or NPU converts it. With ``--fp32`` the converter's defaults are kept instead
(float32 weights and activations, nothing quantized): the set ``benchmarks/litert_validate.sh --fp32`` checks. Families: MobileNet V1, V2 and V3 (small, large),
EfficientNet B0 and V2-B0, ResNet-50, DenseNet-121 and NASNet-A Mobile.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import keras  # noqa: E402

A = keras.applications
MODELS = {
    "mobilenet_v1": lambda: A.MobileNet(weights=None),
    "mobilenet_v2": lambda: A.MobileNetV2(weights=None),
    "mobilenet_v3_small": lambda: A.MobileNetV3Small(input_shape=(224, 224, 3), weights=None,
                                                     include_preprocessing=False),
    "mobilenet_v3_large": lambda: A.MobileNetV3Large(input_shape=(224, 224, 3), weights=None,
                                                     include_preprocessing=False),
    "efficientnet_b0": lambda: A.EfficientNetB0(weights=None, include_top=True),
    "efficientnet_v2_b0": lambda: A.EfficientNetV2B0(weights=None, include_preprocessing=False),
    "resnet50": lambda: A.ResNet50(weights=None),
    "densenet121": lambda: A.DenseNet121(weights=None),
    "nasnet_mobile": lambda: A.NASNetMobile(weights=None),
}


def convert(model: keras.Model, dtype: str) -> bytes:
    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    if dtype == "fp32":  # the converter's defaults: float32 weights and activations, no quantization
        return conv.convert()
    rng = np.random.default_rng(0)

    def data():
        for _ in range(4):
            yield [rng.uniform(-1, 1, (1, 224, 224, 3)).astype(np.float32)]

    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = data
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    return conv.convert()


def main() -> None:
    args = sys.argv[1:]
    dtype = "fp32" if "--fp32" in args else "int8"
    args = [a for a in args if a != "--fp32"]
    out = Path(args[0] if args else f"{dtype}-tflite")
    out.mkdir(parents=True, exist_ok=True)
    only = set(args[1:])
    for name, make in MODELS.items():
        if only and name not in only:
            continue
        path = out / f"{name}_{dtype}.tflite"
        if path.exists():
            continue
        keras.utils.set_random_seed(0)
        data = convert(make(), dtype)
        tmp = path.with_suffix(".part")
        tmp.write_bytes(data)
        tmp.replace(path)
        print(f"{path}: {len(data) / 1e6:.1f} MB", flush=True)


if __name__ == "__main__":
    main()
