"""Configuration: keyword arguments first, then environment variables, then defaults.

``ASTROTINYML_CACHE_DIR`` sets where downloads, caches and the calibration database live
(default ``~/.astrotinyml``); ``ASTROTINYML_OFFLINE`` (``1``/``true``/``yes``) forbids network
access.

The package's shipped files have one home each: :data:`DATA_DIR` (sample light curves,
catalogue snapshots, limb-darkening tables) and :data:`MODELS_DIR` (the model, its card, registry
and default calibration).
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .errors import InvalidParameterError

__all__ = ["DATA_DIR", "MODELS_DIR", "PACKAGE_DIR", "cache_dir", "is_offline", "single_thread_blas"]

#: The installed package directory.
PACKAGE_DIR = Path(__file__).resolve().parent
#: Data files shipped with the package (``astrotinyml/data``).
DATA_DIR = PACKAGE_DIR / "data"
#: Shipped model files (``astrotinyml/models``): TFLite models, registry, card, default calibration.
MODELS_DIR = PACKAGE_DIR / "models"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def cache_dir(cache_dir: str | os.PathLike | None = None, *, create: bool = True) -> Path:
    """Return the cache directory.

    Parameters
    ----------
    cache_dir : str or path-like, optional
        Explicit directory; wins over ``ASTROTINYML_CACHE_DIR``.
    create : bool
        Create the directory when it does not exist.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> from astrotinyml.config import cache_dir
    >>> cache_dir("/tmp/atml-cache-example").name
    'atml-cache-example'
    """
    if cache_dir is None:
        cache_dir = os.environ.get("ASTROTINYML_CACHE_DIR") or Path.home() / ".astrotinyml"
    path = Path(cache_dir).expanduser()
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def is_offline(offline: bool | None = None) -> bool:
    """Whether network access is forbidden.

    Parameters
    ----------
    offline : bool, optional
        Explicit choice; wins over ``ASTROTINYML_OFFLINE``.

    Returns
    -------
    bool

    Examples
    --------
    >>> from astrotinyml.config import is_offline
    >>> is_offline(True)
    True
    """
    if offline is not None:
        return bool(offline)
    value = os.environ.get("ASTROTINYML_OFFLINE", "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False

    raise InvalidParameterError(
        f"ASTROTINYML_OFFLINE={value!r} is not understood; set it to 1 (offline) or 0 (online)."
    )


@contextlib.contextmanager
def single_thread_blas():
    """Run the enclosed code (or the decorated function) with one BLAS thread.

    The linear algebra of one light curve (pre-whitening least squares, the trapezoid and
    transit fits) works on matrices of a few thousand by a few columns, where OpenBLAS's
    threads only wait and spin: with one BLAS thread, read + ``detect()`` + reports of a TESS
    2-min sector took 0.34-0.36 s median process CPU against 0.45-0.51 s with two
    (``benchmarks/batch_scaling.py --record-only``, 9 sectors, 2-core machine, same results).
    The limit (threadpoolctl) applies to every BLAS library loaded in the process while the
    block runs and is undone after it; a ``detect()`` run in a thread beside other numerical
    work limits that work too for as long.

    Examples
    --------
    >>> import numpy as np
    >>> from astrotinyml.config import single_thread_blas
    >>> with single_thread_blas():
    ...     float(np.linalg.lstsq(np.eye(3), np.ones(3), rcond=None)[0].sum())
    3.0
    """
    import scipy.linalg  # noqa: F401  (scipy's own OpenBLAS: loaded now, so that the limit covers it)
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
