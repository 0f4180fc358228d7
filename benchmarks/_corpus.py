"""Load the real corpus for the benchmarks (../shared/data/lightcurves + MANIFEST.csv).

Uses :func:`astrotinyml.io.read.read_lightcurve` when it is available; otherwise a minimal
fallback reader (FITS through lightkurve, text through numpy) good enough for timing and
period recovery (it does not convert every time system: periods do not need it).
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(os.environ.get("ASTROTINYML_SHARED_DATA", REPO.parent / "shared" / "data")) / "lightcurves"


def manifest():
    path = CORPUS / "MANIFEST.csv"
    if not path.exists():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def known_periods(row):
    text = (row.get("known_period_days") or "").strip()
    return [float(x) for x in text.split(";") if x.strip()]


def _fallback(path: Path):
    import lightkurve as lk

    name = path.name
    if name.endswith(".fits"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            lc = lk.read(str(path), quality_bitmask="default")
        lc = lc.remove_nans()
        return lc.normalize()
    if name.endswith(".npy"):
        arr = np.load(path)
        t, f, e = arr[:, 0], arr[:, 1], arr[:, 2]
    elif name.endswith(".npz"):
        z = np.load(path)
        keys = list(z.keys())
        tk = [k for k in keys if "time" in k.lower()][0]
        fk = [k for k in keys if k.lower() in ("flux", "pdcsap_flux", "f")] or [k for k in keys if "flux" in k.lower() and "err" not in k.lower()]
        t, f = z[tk], z[fk[0]]
        e = None
    else:
        lines = [l for l in open(path) if l.strip()]
        header = None
        data = []
        for l in lines:
            s = l.strip()
            if s.startswith("#"):
                continue
            parts = s.replace(",", " ").replace("\t", " ").split()
            try:
                data.append([float(x) if x not in ("NA", "nan", "") else np.nan for x in parts[:3]])
            except ValueError:
                if header is None:
                    header = [p.strip('"').lower() for p in parts]
                continue
        # csv with empty fields: use genfromtxt for those
        if name.endswith(".csv"):
            arr = np.genfromtxt(path, delimiter=",", comments="#", names=True, dtype=float,
                                missing_values=("NA", ""), filling_values=np.nan)
            cols = [c.lower() for c in arr.dtype.names]
            t = arr[arr.dtype.names[0]]
            pick = None
            for want in ("pdcsap_flux", "kspflux", "flux", "sap_flux"):
                if want in cols:
                    pick = arr.dtype.names[cols.index(want)]
                    break
            if pick is None:
                pick = arr.dtype.names[1]
            f = arr[pick]
            e = None
        else:
            data = np.array([r + [np.nan] * (3 - len(r)) for r in data])
            t, f = data[:, 0], data[:, 1]
            e = None
            if header and "corrflux" in header:
                f = np.loadtxt(path, skiprows=1, usecols=header.index("corrflux"))
    ok = np.isfinite(t) & np.isfinite(f)
    t, f = t[ok], f[ok]
    if e is not None:
        e = e[ok]
    f = f / np.nanmedian(f)
    if e is not None:
        e = e / np.nanmedian(arr[:, 1]) if name.endswith(".npy") else e
    return lk.LightCurve(time=t, flux=f, flux_err=e)


def time_format(row):
    """read_lightcurve time_format for a MANIFEST row's text/NumPy file (None for FITS)."""
    # The package owns the label -> time_format rule (astrotinyml cache import uses it too).
    from astrotinyml.io import time_format_from_label

    if row is None:
        return None
    return time_format_from_label(row.get("time_system"), path=row["file"])


def load(path, row=None):
    path = Path(path)
    try:
        from astrotinyml.io import read_lightcurve
    except ImportError:
        return _fallback(path)
    try:
        return read_lightcurve(path, time_format=time_format(row))
    except Exception as exc:  # a reader gap must not stop the benchmark
        warnings.warn(f"read_lightcurve failed on {path.name} ({exc}); using the fallback reader")
        return _fallback(path)
