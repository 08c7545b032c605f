"""How often the probe fit keeps a parallel step (roofline.measure.shape_model), with and without its t-statistic
check, on synthetic probe times of known truth: the grid's linear layers with no step and 12 % noise, and its 1x1
convs with a 40 µs step from 20,000 outputs and 5 % noise (30 noise draws each, lognormal, seeds 0-29).

Usage: python benchmarks/check_parallel_step.py
"""

import numpy as np

from roofline.engine.shape import ShapeTerms
from roofline.measure import shape_model
from roofline.measure.probes import LINEAR_GRID, POINTWISE_GRID

RATE, FIXED, BANDWIDTH, CAP = 6e10, 5e-6, 3e10, 1.5e11


def linear():
    rows, fin, fout = (np.array(x, dtype=float) for x in zip(*LINEAR_GRID))
    out = rows * fout
    return rows * fin * fout, 4 * (fin * fout + rows * (fin + fout)), out, fin, rows, ShapeTerms(464.0, 100.0, 10.0)


def pointwise():
    cin, cout, hw = (np.array(x, dtype=float) for x in zip(*POINTWISE_GRID))
    out = cout * hw * hw
    return (out * cin, 4 * (cin * cout + (cin + cout) * hw * hw), out, cin, hw * hw,
            ShapeTerms(10 ** (10 / 3), 10 ** (4 / 3), 10 ** 1.5, 100.0))


def main() -> None:
    cases = (("linear layers, no step, 12 % noise", linear, 0.0, 0.12),
             ("1x1 convs, 40 µs step, 5 % noise", pointwise, 40e-6, 0.05))
    checked = shape_model.MIN_EXTRA_T
    for label, check in (("without the check", -np.inf), (f"t >= {checked:g}", checked)):
        shape_model.MIN_EXTRA_T = check
        for name, data, extra, noise in cases:
            macs, byts, out, red, reuse, truth = data()
            base = FIXED + extra * (out >= 2e4) + np.maximum(macs / (RATE * truth.factor(out, red, reuse)),
                                                             byts / BANDWIDTH)
            steps = []
            for seed in range(30):
                secs = base * np.exp(np.random.default_rng(seed).normal(0, noise, len(base)))
                steps.append(shape_model.fit_compute(macs, byts, out, red, secs, BANDWIDTH, cap=CAP,
                                                     reuse=reuse).parallel_s)
            steps = np.array(steps)
            print(f"{label:>18}: {name}: a step in {int((steps > 0).sum())} of 30 fits, "
                  f"median {np.median(steps) * 1e6:.1f} µs")


if __name__ == "__main__":
    main()
