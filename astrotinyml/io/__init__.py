"""Reading light curves: one entry point, a sniffer, and one small reader per format.

:func:`read_lightcurve` reads one file (Kepler/K2/TESS FITS, K2SC, EVEREST, plain text and
CSV) into a normalised :class:`lightkurve.LightCurve` in BJD_TDB; :func:`read_lightcurves`
reads several; :func:`stitch` joins quarters, campaigns or sectors of one target.

* :mod:`astrotinyml.io.read`: the entry points and the sniffer that picks the reader;
* :mod:`astrotinyml.io.conventions`: the missions' time systems (BKJD = BJD - 2454833,
  BTJD = BJD - 2457000), their date ranges, and target names;
* private readers: ``_fits`` (mission products, K2SC, other FITS tables), ``_text`` (text and
  NumPy exports), ``_columns`` (which column is which) and ``_normalize`` (the finishing step
  every reader ends with).

>>> from astrotinyml.io import read_lightcurve
>>> from astrotinyml.datasets import sample_path
>>> read_lightcurve(sample_path("wasp-18")).meta["mission"]
'TESS'
"""

from .conventions import BKJD_OFFSET, BTJD_OFFSET, target_name
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
    "BKJD_OFFSET",
    "BTJD_OFFSET",
    "MIN_POINTS",
    "MISSION_BJD_RANGES",
    "TIME_FORMATS",
    "read_lightcurve",
    "read_lightcurves",
    "stitch",
    "target_name",
    "time_format_from_label",
]
