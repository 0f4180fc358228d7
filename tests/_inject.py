"""Inject a planet into a real light curve as ``benchmarks/injection_recovery.py`` does.

Tests that replay one of that benchmark's injections (a Sun-like host, a/R* from Kepler's
third law, quadratic limb darkening u = 0.40, 0.25, the exposure integrated over five
sub-samples) share this one copy of its model.
"""

from __future__ import annotations

import math

import numpy as np


def inject_planet(lc, *, period: float, t0: float, rp: float, b: float):
    """Return ``(lc, model)``: ``lc`` with its flux multiplied by a batman transit model.

    ``t0`` is in the light curve's own time format (BTJD/BKJD), ``rp`` is Rp/R* and ``b``
    the impact parameter.  ``lc`` is modified in place and returned with the model flux.
    """
    import batman

    t = lc.time.value
    params = batman.TransitParams()
    params.t0, params.per, params.rp = t0, period, rp
    params.a = 215.03 * (period / 365.25) ** (2.0 / 3.0)  # a/R* of a Sun-like star
    params.inc = math.degrees(math.acos(b / params.a))
    params.ecc, params.w, params.limb_dark, params.u = 0.0, 90.0, "quadratic", [0.40, 0.25]
    m = batman.TransitModel(params, t, supersample_factor=5, exp_time=float(np.median(np.diff(t))))
    model = np.asarray(m.light_curve(params), dtype=float)
    lc.flux = lc.flux * model
    return lc, model
