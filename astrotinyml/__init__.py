"""astrotinyml: find and vet transiting exoplanets in Kepler, K2 and TESS light curves.

The stages are plain functions, one module each, usable alone from a notebook::

    read_lightcurve -> detrend -> search -> vet -> fold_views -> classify -> write_report

``import astrotinyml`` stays light: lightkurve, wotan, numba and TensorFlow are imported
inside the functions that need them.
"""

from ._version import __version__
from .errors import AstroTinyMLError

__all__ = ["__version__", "AstroTinyMLError"]
