"""How a prediction reads a profile, resolved once: :func:`resolve_reading`.

A reading is the roofline mode (spec, fitted or calibrated; ``auto`` picks one), the counting
convention, the execution mode and the dtype and batch size, and the :class:`~roofline.hardware.Roof`
they give. ``analyze``, ``sweep`` and ``validate`` resolve theirs here, from whatever their callers
gave (strings or enums) and the profile's own defaults:

- ``auto`` reads the fitted roofline where the profile has one for the dtype, else its measured
  ceilings (calibrated) where it measured them at that dtype, else the spec sheet;
- where neither convention nor execution is given, a fitted reading counts as the fit did (its
  convention and execution: its validation holds for them), and a measured profile read through its
  ceilings runs eager (as ``roofline profile`` measured its per-kernel cost and ``validate`` runs
  models);
- the rest fill in from each other (:func:`resolve_execution`);
- a sweep varies the peak or the bandwidth, which per-op-class ceilings do not have: it reads spec where
  ``auto`` would read calibrated, and refuses ``calibrated`` (``sweep=True``).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..core import checks
from ..core.conventions import Convention, get_convention
from ..core.errors import InvalidInputError
from ..core.reading import Execution, Mode, parse_execution, parse_mode
from ..hardware import HardwareProfile, Roof


@dataclass(frozen=True)
class Reading:
    """One resolved reading of a profile: never ``auto``, every part filled in."""

    mode: Mode              # SPEC, FITTED or CALIBRATED
    convention: Convention
    execution: Execution
    dtype: str
    batch: int
    roof: Roof              # the numbers this reading gives (``roof.mode == mode``)

    def at_batch(self, profile: HardwareProfile, batch: int) -> Reading:
        """The same reading at another batch size (calibrated: the ceilings measured nearest it)."""
        if batch == self.batch:
            return self
        return resolve_reading(profile, self.mode, self.convention, self.execution, self.dtype, batch)


def resolve_execution(convention: str | Convention | None, execution: Execution | str | None
                      ) -> tuple[Convention, Execution]:
    """Fill in whichever of convention and execution is missing from the other.

    Fused execution counts the ``default`` convention; eager and graph execution
    run every aten op, so they count ``unfused`` bytes.
    """
    if execution is not None:
        execution = parse_execution(execution)
    if convention is None:
        convention = "default" if execution in (None, Execution.FUSED) else "unfused"
    conv = get_convention(convention)
    if execution is None:
        execution = Execution.FUSED if conv.fused else Execution.EAGER
    return conv, execution


def _measured_eager(profile: HardwareProfile) -> bool:
    """Whether the profile measured an eager per-kernel cost (PyTorch's; one timed through ONNX Runtime states
    its eager cost as assumed, ``low``, and its fused one as measured)."""
    k = profile.overhead.per_kernel_s.get(Execution.EAGER)
    return k is not None and k.confidence != "low"


def resolve_reading(profile: HardwareProfile, mode: Mode | str = Mode.AUTO, convention: str | Convention | None = None,
                    execution: Execution | str | None = None, dtype: str | None = None, batch: int = 1, *,
                    sweep: bool = False) -> Reading:
    """The reading of ``profile`` that these choices (None and ``auto``: the profile's own; see the
    module docstring) give; ``sweep``: a sweep's reading (no measured ceilings)."""
    if execution is not None:
        execution = parse_execution(execution)
    mode = parse_mode(mode)
    f = profile.fitted
    if convention is None and execution is None and f is not None and mode in (Mode.AUTO, Mode.FITTED):
        convention, execution = (f.convention or None), (f.execution or None)
    elif (execution is None and _measured_eager(profile)
          and (mode is Mode.CALIBRATED or (mode is Mode.AUTO and profile.reads_calibrated()))):
        execution = Execution.EAGER  # the way its probes ran (a profile timed through ONNX Runtime: fused)
    conv, execution = resolve_execution(convention, execution)
    if sweep:  # calibrated is not a sweep
        if mode is Mode.CALIBRATED:
            raise InvalidInputError("a sweep varies the peak or the bandwidth: per-op-class ceilings "
                                    "(--calibrated) do not apply; use --fitted or --spec")
        if mode is Mode.AUTO and profile.reads_calibrated(dtype):
            mode = Mode.SPEC
    batch = checks.integer(batch, "batch", 1, checks.MAX_BATCH)
    roof = profile.roof(dtype, mode, batch=batch)
    return Reading(roof.mode, conv, execution, roof.dtype, batch, roof)
