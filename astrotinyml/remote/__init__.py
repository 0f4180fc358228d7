"""Remote services: light curves from MAST (:mod:`astrotinyml.remote.mast`), labels and
ephemerides from the NASA Exoplanet Archive (:mod:`astrotinyml.remote.archives`), and the
network policy they share (timeouts, retries, fail-fast when offline; ``_net``).

Every answer is cached under :func:`astrotinyml.config.cache_dir`; offline, the cache and the
bundled archive snapshots answer instead.

>>> from astrotinyml.remote import snapshot_info
>>> sorted(str(k) for k in snapshot_info()["kind"])
['koi', 'planets', 'toi']
"""

from .archives import (
    archive_summary,
    query_koi,
    query_planets,
    query_toi,
    reference_ephemerides,
    snapshot_info,
)
from .mast import cached_products, fetch_lightcurve, fetch_lightcurves, fetch_products, import_to_cache

__all__ = [
    "archive_summary",
    "cached_products",
    "fetch_lightcurve",
    "fetch_lightcurves",
    "fetch_products",
    "import_to_cache",
    "query_koi",
    "query_planets",
    "query_toi",
    "reference_ephemerides",
    "snapshot_info",
]
