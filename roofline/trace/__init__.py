"""Tracer: walk a PyTorch model on the meta device and count MACs, weights and activations."""

from .api import input_shape_for, trace
from .rules import RULES, Count, rule
from .table import LayerTable

__all__ = ["RULES", "Count", "LayerTable", "input_shape_for", "rule", "trace"]
