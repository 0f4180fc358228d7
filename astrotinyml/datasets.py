"""Small real light curves shipped with astrotinyml, for demos, tutorials and tests.

The files live in ``astrotinyml/data`` and are described, one row per file, by
``astrotinyml/data/manifest.csv`` (a subset of the project's corpus manifest: target, mission,
label, known periods and epochs, provenance, sha256).  A *sample* is a named set of files
of one star:

==================  ==============================================================  =========
name                what                                                            label
==================  ==============================================================  =========
``kepler-90``       Kepler-90, 7 planets; Kepler long cadence Q3, Q4, Q5 (3 files)  planet
``wasp-18``         WASP-18 b hot Jupiter; TESS sector 2, 2-min cadence             planet
``kic-2306740``     KIC 2306740 eccentric detached eclipsing binary; Kepler Q2       EB
``epic-210651981``  spotted rotating star; K2 campaign 13, K2SC                     variable
``epic-248045685``  quiet star; K2 campaign 13, K2SC                                quiet
==================  ==============================================================  =========

Examples
--------
>>> from astrotinyml import datasets
>>> lc = datasets.load_sample("kepler-90")
>>> lc.meta["target"]
'KIC 11442793'
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

from .config import DATA_DIR
from .errors import DataUnavailableError, InvalidParameterError
from .io import read_lightcurves

if TYPE_CHECKING:  # pragma: no cover
    import lightkurve
    from astropy.table import Table

__all__ = ["DATA_DIR", "list_samples", "sample_paths", "sample_path", "load_sample", "sample_info"]

#: Directory of the bundled light curves.
_MANIFEST = DATA_DIR / "manifest.csv"


@lru_cache(maxsize=1)
def _rows() -> tuple[dict, ...]:
    if not _MANIFEST.exists():
        raise DataUnavailableError(
            f"{_MANIFEST}: the bundled-data manifest is missing; the astrotinyml installation is "
            f"incomplete. Reinstall the package."
        )
    with open(_MANIFEST, newline="", encoding="utf-8") as fh:
        return tuple(csv.DictReader(fh))


def _names() -> list[str]:
    seen: list[str] = []
    for r in _rows():
        if r["sample"] not in seen:
            seen.append(r["sample"])
    return seen


def _resolve(name: str) -> str:
    if not isinstance(name, str):
        raise InvalidParameterError(f"sample name must be a string, got {type(name).__name__}.")
    key = name.strip().lower().replace("_", "-").replace(" ", "-")
    if key not in _names():
        raise InvalidParameterError(
            f"unknown sample {name!r}; available samples: {', '.join(_names())}. "
            f"See astrotinyml.datasets.list_samples()."
        )
    return key


def sample_info(name: str) -> list[dict]:
    """Manifest rows (one dict per file) of a bundled sample.

    Parameters
    ----------
    name : str
        Sample name, e.g. ``"kepler-90"`` (case-insensitive; ``_`` and ``-`` are the same).

    Returns
    -------
    list of dict
        Keys as in ``astrotinyml/data/manifest.csv``: ``file``, ``target``, ``mission``,
        ``label``, ``known_period_days``, ``known_epoch``, ``sha256``, ``notes``, ...

    Raises
    ------
    InvalidParameterError
        Unknown sample name (the message lists the available ones).

    Examples
    --------
    >>> from astrotinyml.datasets import sample_info
    >>> sample_info("wasp-18")[0]["known_period_days"]
    '0.941453'
    """
    key = _resolve(name)
    return [dict(r) for r in _rows() if r["sample"] == key]


def list_samples() -> Table:
    """Table of the bundled samples, one row per sample.

    Returns
    -------
    astropy.table.Table
        Columns ``name``, ``target``, ``mission``, ``label``, ``n_files``,
        ``known_period_days`` (``;``-separated when several planets), ``description`` and
        ``files`` (``;``-separated file names).

    Examples
    --------
    >>> from astrotinyml.datasets import list_samples
    >>> t = list_samples()
    >>> "kepler-90" in list(t["name"])
    True
    """
    from astropy.table import Table

    out = []
    for name in _names():
        rows = [r for r in _rows() if r["sample"] == name]
        first = rows[0]
        out.append(
            (
                name,
                first["target"],
                first["mission"],
                first["label"],
                len(rows),
                first["known_period_days"],
                first["description"],
                ";".join(r["file"] for r in rows),
            )
        )
    return Table(
        rows=out,
        names=("name", "target", "mission", "label", "n_files", "known_period_days", "description", "files"),
    )


def sample_paths(name: str) -> list[Path]:
    """Paths of the files of a bundled sample (several for multi-quarter samples).

    Parameters
    ----------
    name : str
        Sample name, see :func:`list_samples`.

    Returns
    -------
    list of pathlib.Path
        In time order (quarter / sector order).

    Raises
    ------
    InvalidParameterError
        Unknown sample name.
    DataUnavailableError
        A file of the sample is missing from the installation.

    Examples
    --------
    >>> from astrotinyml.datasets import sample_paths
    >>> [p.name[:27] for p in sample_paths("kepler-90")]
    ['kepler_Kepler-90_KIC1144279', 'kepler_Kepler-90_KIC1144279', 'kepler_Kepler-90_KIC1144279']
    """
    paths = [DATA_DIR / r["file"] for r in sample_info(name)]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DataUnavailableError(
            f"sample {name!r}: bundled file(s) {', '.join(missing)} missing from {DATA_DIR}; the "
            f"installation is incomplete. Reinstall astrotinyml."
        )
    return paths


def sample_path(name: str) -> Path:
    """Path of the file of a single-file bundled sample.

    Parameters
    ----------
    name : str
        Sample name, see :func:`list_samples`.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    InvalidParameterError
        Unknown sample name, or a sample made of several files (use :func:`sample_paths`).

    Examples
    --------
    >>> from astrotinyml.datasets import sample_path
    >>> sample_path("wasp-18").suffix
    '.fits'
    """
    paths = sample_paths(name)
    if len(paths) != 1:
        raise InvalidParameterError(
            f"sample {name!r} has {len(paths)} files; use sample_paths({name!r}) for the list, or "
            f"load_sample({name!r}) for the stitched light curve."
        )
    return paths[0]


def load_sample(name: str, **kwargs) -> lightkurve.LightCurve:
    """Read a bundled sample as one light curve (multi-file samples are stitched).

    Parameters
    ----------
    name : str
        Sample name, see :func:`list_samples`.
    **kwargs
        Passed to :func:`astrotinyml.io.read.read_lightcurves` (``flux_column``,
        ``quality_bitmask``, ...).

    Returns
    -------
    lightkurve.LightCurve
        Normalised, BJD_TDB time; ``meta['sample']`` holds the sample name and
        ``meta["catalog_label"]`` / ``meta["known_period_days"]`` the catalogue label and periods.

    Examples
    --------
    >>> from astrotinyml.datasets import load_sample
    >>> lc = load_sample("kepler-90")
    >>> lc.meta["quarters"], lc.meta["mission"]
    ([3, 4, 5], 'Kepler')
    """

    key = _resolve(name)
    lc = read_lightcurves(sample_paths(key), **kwargs)
    info = sample_info(key)[0]
    lc.meta["sample"] = key
    lc.meta["catalog_label"] = info["label"]
    lc.meta["known_period_days"] = [float(x) for x in info["known_period_days"].split(";") if x.strip()]
    return lc
