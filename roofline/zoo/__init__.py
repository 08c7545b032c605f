"""The model zoo: MobileNet V1, V2, V3 and V4 as block-spec tables fed to one builder."""

from .blocks import make_divisible
from .registry import ModelCard, build_model, list_models, model_card, model_name, native_resolution, resolve
from .specs import ARCHS

__all__ = ["ARCHS", "ModelCard", "build_model", "list_models", "make_divisible", "model_card",
           "model_name", "native_resolution", "resolve"]
