"""The engine: a traced model on a hardware profile, layer by layer.

``roofline`` (Eq. 1 of the MobileNetV4 paper; with a measured profile each layer at its
op class's ceiling, lowered by ``shape`` for small layers) -> ``latency`` (its fixed costs
per kernel and per inference) -> ``analysis`` (the result users hold).
"""

from .analysis import Analysis, analyze, resolve_execution
from .latency import EXECUTIONS, LatencyModel, add_overheads, kernel_counts, kernel_overheads, latency_model
from ..core.taxonomy import op_class
from .reading import Reading, resolve_reading
from .roofline import costs_of, evaluate, layer_bytes, layer_costs, layer_peaks, roofline_times

__all__ = ["EXECUTIONS", "Analysis", "LatencyModel", "Reading", "add_overheads", "analyze", "costs_of",
           "evaluate",
           "kernel_counts", "kernel_overheads", "latency_model", "layer_bytes", "layer_costs", "layer_peaks",
           "op_class", "resolve_execution", "resolve_reading", "roofline_times"]
