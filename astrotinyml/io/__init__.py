"""Reading light curves: one entry point, a sniffer, and one small reader per format.

:func:`read_lightcurve` reads one file (Kepler/K2/TESS FITS, K2SC, EVEREST, plain text and
CSV) into a normalised :class:`lightkurve.LightCurve` in BJD_TDB; :func:`read_lightcurves`
reads several; :func:`stitch` joins quarters, campaigns or sectors of one target.

>>> from astrotinyml.io import read_lightcurve
>>> from astrotinyml.datasets import sample_path
>>> read_lightcurve(sample_path("wasp-18")).meta["mission"]
'TESS'
"""

from .read import (
    MIN_POINTS,
    MISSION_BJD_RANGES,
    TIME_FORMATS,
    read_lightcurve,
    read_lightcurves,
    stitch,
    time_format_from_label,
)

__all__ = [
    "MIN_POINTS",
    "MISSION_BJD_RANGES",
    "TIME_FORMATS",
    "read_lightcurve",
    "read_lightcurves",
    "stitch",
    "time_format_from_label",
]
