"""astrotinyml: find and vet transiting exoplanets in Kepler, K2 and TESS light curves.

The stages are plain functions, one module each, usable alone from a notebook::

    read_lightcurve -> detrend -> search -> vet -> fold_views -> classify -> write_report

and :func:`detect` chains them for one target.  The functions are exported here; their
modules are named for the stage (``astrotinyml.detrending``, ``searching``, ``vetting``,
``classification``, ``detection``), so ``import astrotinyml.searching`` gives the module and
``astrotinyml.search`` the function.  ARCHITECTURE.md in the repository shows the layout.  ``import astrotinyml`` stays light: the
stage modules import lightkurve, wotan, numba, matplotlib and TensorFlow inside the
functions that need them, so importing the package costs about as much as numpy.

Examples
--------
>>> import astrotinyml as atml
>>> lc = atml.datasets.load_sample("wasp-18")
>>> lc.meta["mission"]
'TESS'
"""

import os as _os
import warnings as _warnings

# numba's parallel box search runs on OpenMP (libgomp), whose idle threads by default spin
# after each parallel launch, burning a core while the serial stages run.  On a TESS 2-min
# sector with 2 threads that doubled detect()'s process CPU (1.25-1.32 s against 0.71-0.75 s
# with passive waiting, 5 sectors x 2, same process, load ~5), with the same results.
# libgomp reads this when numba first loads it (the first parallel search), so it is set
# here, before that; a value the user set is kept.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# lightkurve warns on import that an optional PRF-fitting module (unused here) is missing;
# it says nothing about the user's data, so it is silenced by its exact message.
_warnings.filterwarnings("ignore", message=r".*tpfmodel submodule is not available.*")

from . import datasets
from .remote.archives import archive_summary, query_koi, query_planets, query_toi
from ._version import __version__
from .apps.batch import run_batch
from .classification import classify
from .detection import DetectionResult, detect, search_masked
from .detrending import detrend
from .errors import AstroTinyMLError
from .remote.mast import fetch_lightcurve, fetch_lightcurves
from .io import read_lightcurve, read_lightcurves, stitch
from .report import write_report
from .searching import periodogram, search
from .star import StellarParameters, stellar_parameters
from .transitfit import fit_transit
from .vetting import vet
from .views import Views, fold_all, fold_views



def __getattr__(name):
    # ``atml.explore`` is astrotinyml.apps.widgets.explore, imported on first use: it needs
    # ipywidgets (the docs extra), which ``import astrotinyml`` must not import.
    if name == "explore":
        try:
            from .apps.widgets import explore
        except ImportError as err:
            raise ImportError(f"astrotinyml.explore needs ipywidgets ({err}); install it with "
                              "`pip install ipywidgets` or the docs extra: pip install 'astrotinyml[docs]'") from None
        return explore
    raise AttributeError(f"module 'astrotinyml' has no attribute {name!r}")


__all__ = [
    "__version__",
    "AstroTinyMLError",
    "archive_summary",
    "classify",
    "fetch_lightcurve",
    "fetch_lightcurves",
    "query_koi",
    "query_planets",
    "query_toi",
    "DetectionResult",
    "Views",
    "datasets",
    "detect",
    "detrend",
    "fold_views",
    "fold_all",
    "fit_transit",
    "StellarParameters",
    "stellar_parameters",
    "periodogram",
    "read_lightcurve",
    "read_lightcurves",
    "run_batch",
    "search",
    "search_masked",
    "stitch",
    "vet",
    "write_report",
]
