"""Text and NumPy exports: CSV, TSV, whitespace ``.txt``/``.dat``/``.tran``, ``.npy`` and ``.npz``.

A loader (:func:`load_text`, :func:`load_npy`, :func:`load_npz`) turns the file into a
:class:`TextTable` of named float columns, and :func:`table_to_lightcurve` picks the time, flux,
error and quality columns (:mod:`._columns`), decides the time system and hands the columns to
:func:`._normalize.finish`.

Text files may have comment lines (``#``, ``%``, ``!``, ``;``, ``//``), at most one header line
(or the column names in the last comment line), and comma, tab, semicolon or white-space
delimiters (standard CSV quoting is understood).  Missing values may be empty or NA tokens; a
column that is entirely text (an instrument name) is kept aside, while a stray non-numeric
value in the time or flux column is an error naming its line.  Header-less files are read as
``time, flux[, flux_err]`` (seven numeric columns: the QLP-tutorial layout).

The time system of a text or NumPy file is never guessed: the ``time_format`` keyword, the
time column's name, the comment lines, full-JD values, then the mission's standard offset
(checked against its lifetime) -- else :class:`~astrotinyml.errors.TimeFormatError`.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import (
    InvalidParameterError,
    LightCurveDataError,
    LightCurveFormatError,
    TimeFormatError,
    printable,
)
from ._columns import QUALITY_NAMES, TIME_NAMES, choose_flux, norm
from ._normalize import MIN_POINTS, FinishOptions, finish, time_format_list
from .conventions import (
    MISSION_BJD_RANGES,
    MISSION_TIME_FORMATS,
    TIME_FORMATS,
    is_full_jd,
    mission_from_filename,
    segments_from_filename,
    target_from_filename,
)

__all__ = ["TextTable", "load_npy", "load_npz", "load_text", "table_to_lightcurve"]

_NA_TOKENS = {"", "na", "nan", "-nan", "+nan", "null", "none", "--", "n/a", "inf", "-inf", "+inf", "infinity"}
#: NA tokens that float() refuses, as files usually spell them (the fast path of _to_float;
#: other spellings take the token-by-token loop, with the same result).
_NA_COMMON = {"", "NA", "na", "N/A", "n/a", "null", "NULL", "Null", "None", "none", "NONE", "--"}


@dataclass(frozen=True)
class TextTable:
    """Float columns of a text or NumPy file, before the light-curve columns are chosen.

    Attributes
    ----------
    names : list of str or None
        The column names the file gives; None for a header-less file (``columns`` is then
        keyed ``__0``, ``__1``, ...).
    columns : dict of str to ndarray
        Every column as floats (NaN for missing values and junk).
    text_keys : frozenset of str
        Columns that are entirely text.
    bad_tokens : dict of str to (int, str)
        For columns with a few non-numeric values: the first one's line number and token.
    comments : str
        The comment lines and the header line (where a time system may be named).
    has_header : bool
        The columns are named.
    format : str
        ``"text"``, ``"npy"`` or ``"npz"`` (``meta['reader']``).
    """

    names: list[str] | None
    columns: dict[str, np.ndarray]
    comments: str
    has_header: bool
    format: str
    text_keys: frozenset[str] = frozenset()
    bad_tokens: dict[str, tuple[int, str]] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# text
# --------------------------------------------------------------------------------------------


def _looks_numeric(token: str) -> bool:
    t = token.strip().strip('"').strip("'")
    if t.lower() in _NA_TOKENS:
        return True
    try:
        float(t)
    except ValueError:
        return False
    return True


def _split(line: str, delim: str | None) -> list[str]:
    if delim is None:
        return line.split()
    if '"' in line:
        # standard CSV quoting: a quoted field may hold the delimiter ("ok, fine")
        import csv

        return [x.strip() for x in next(csv.reader([line], delimiter=delim, skipinitialspace=True))]
    return [x.strip() for x in line.split(delim)]


def _clean_name(s: str) -> str:
    return s.strip().strip('"').strip("'").strip()


def load_text(p: Path, display: str) -> TextTable:
    """The columns of a delimited or white-space text export (see the module documentation)."""
    lines = _decoded_text(p, display).splitlines()
    comments, header, data_start = _layout(lines, display)
    first_line = lines[data_start].strip()
    delim = _delimiter(first_line)
    ncols = len(_split(first_line, delim))
    body, cols_tokens, quoted = _data_columns(lines, data_start, delim, ncols, display)
    names = _column_names(header, comments, delim, ncols, display)
    keys = names if names is not None else [f"__{j}" for j in range(ncols)]
    columns, text_keys, bad_tokens = _parsed_columns(keys, cols_tokens, body, quoted=quoted)
    return TextTable(
        names=names,
        columns=columns,
        text_keys=frozenset(text_keys),
        bad_tokens=bad_tokens,
        comments="\n".join(comments + ([header[1]] if header else [])),
        has_header=names is not None,
        format="text",
    )


def _decoded_text(p: Path, display: str) -> str:
    raw = p.read_bytes()
    if not raw.strip():
        raise LightCurveFormatError(
            f"{display}: the file is empty (no text). Re-export the light curve."
        )
    if b"\x00" in raw[:65536]:
        raise LightCurveFormatError(
            f"{display}: is a binary file, not text, FITS or NumPy; cannot read it as a light curve."
        )
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            return raw.decode("latin-1")
        except UnicodeDecodeError as err:  # pragma: no cover - latin-1 decodes everything
            raise LightCurveFormatError(f"{display}: is not a text file ({err}).") from err


def _layout(lines: list[str], display: str) -> tuple[list[str], tuple[int, str] | None, int]:
    """(comment lines, (index, text) of the header line or None, index of the first data line)."""
    comments: list[str] = []
    header: tuple[int, str] | None = None
    data_start = None
    for i, line in enumerate(lines):
        s = line.strip()
        if not s:
            continue
        if s[0] in "#%!;" or s.startswith("//"):
            comments.append(s)
            continue
        first = re.split(r"[,\t ;]+", s)[0]
        if _looks_numeric(first):
            data_start = i
            break
        if header is None:
            header = (i, s)
            continue
        raise LightCurveFormatError(
            f"{display}: line {i + 1} is neither a header nor numeric data (a header was already "
            f"found on line {header[0] + 1}); is it a light-curve export at all? Remove the extra "
            f"text lines."
        )
    if data_start is None:
        what = "only a header line" if header is not None else "only comment lines"
        raise LightCurveDataError(
            f"{display}: has {what} and no data rows. A light curve needs at least {MIN_POINTS} "
            f"rows of time and flux."
        )
    return comments, header, data_start


def _delimiter(first_line: str) -> str | None:
    if "," in first_line:
        return ","
    if "\t" in first_line:
        return "\t"
    if ";" in first_line:
        return ";"
    return None


def _data_columns(lines, data_start: int, delim, ncols: int, display: str):
    """(data rows as (line number, text), the tokens of each column, whether any has a quote).

    A delimited file without quotes is split once as a whole instead of line by line: the
    same tokens (stripped only where the data has white space, as _split strips them), a
    fraction of the time for a wide CSV (lightkurve's 24-column export: 13k rows 0.23 ->
    0.1 s).  Ragged or quoted files, and white-space-delimited ones, take the line-by-line
    path, which names the bad line."""
    if delim is not None:
        body = _body(lines, data_start)
        texts = [s for _, s in body]
        joined = delim.join(texts)
        if ('"' not in joined and "'" not in joined
                and set(map(operator.methodcaller("count", delim), texts)) == {ncols - 1}):
            tokens = joined.split(delim)
            # (str.strip's white space: these in ASCII text; anything in other text)
            if not joined.isascii() or any(c in joined for c in " \t\r\x0b\x0c\x1c\x1d\x1e\x1f"):
                tokens = [x.strip() for x in tokens]
            return body, [tokens[j::ncols] for j in range(ncols)], False
    body, rows = _data_rows(lines, data_start, delim, ncols, display)
    return body, list(zip(*rows)), None


def _body(lines, data_start: int):
    """(line number, stripped text) of the data lines: not blank, not a comment."""
    return [(i, s) for i, ln in enumerate(lines[data_start:], start=data_start + 1)
            if (s := ln.strip()) and not s.startswith(("#", "%", "!", "//"))]


def _data_rows(lines, data_start: int, delim, ncols: int, display: str):
    """The data rows as (line number, text) and as fields; a ragged row is an error."""
    body = _body(lines, data_start)
    rows = [_split(s, delim) for _, s in body]
    bad = next((k for k, r in enumerate(rows) if len(r) != ncols), None)
    if bad is not None:
        raise LightCurveFormatError(
            f"{display}: line {body[bad][0]} has {len(rows[bad])} fields where the first data line "
            f"has {ncols}. The file is ragged or truncated; fix or "
            f"re-export it."
        )
    return body, rows


def _column_names(header, comments: list[str], delim, ncols: int, display: str) -> list[str] | None:
    """The header line's names, else a last comment line of names, else None."""
    names: list[str] | None = None
    if header is not None:
        hdr = header[1]
        for cand in (_split(hdr, delim), hdr.replace(",", " ").split()):
            cand = [_clean_name(c) for c in cand]
            if len(cand) == ncols and all(cand):
                names = cand
                break
        if names is None:
            raise LightCurveFormatError(
                f"{display}: the header line {header[0] + 1} does not have the "
                f"{ncols} column names the data rows need. Fix the header."
            )
    elif comments:
        last = re.sub(r"^[#%!/;\s]+", "", comments[-1])
        for cand in (_split(last, delim), last.replace(",", " ").split()):
            cand = [_clean_name(c) for c in cand]
            if len(cand) == ncols and all(
                c and not _looks_numeric(c) and re.match(r"^[A-Za-z_][\w\-+() .\[\]/]*$", c) for c in cand
            ):
                names = cand
                break
    return _unique_names(names) if names is not None else None


def _parsed_columns(keys: list[str], cols_tokens, body, *, quoted: bool | None = None):
    """(float columns, all-text columns, first junk token of partly numeric columns);
    ``quoted``: whether a token has a quote (None: look)."""
    columns: dict[str, np.ndarray] = {}
    text_keys: set[str] = set()
    bad_tokens: dict[str, tuple[int, str]] = {}
    if quoted is None:
        quoted = any(any('"' in t or "'" in t for t in toks) for toks in cols_tokens)
    for key, toks in zip(keys, cols_tokens):
        if quoted:  # stripping quotes from a file that has none changes nothing
            toks = [t.strip('"').strip("'") for t in toks]
        vals, n_bad = _to_float(toks)
        columns[key] = vals
        if n_bad:
            if n_bad == len(toks):
                text_keys.add(key)
            else:
                k = next(k for k, t in enumerate(toks) if not _looks_numeric(t))
                bad_tokens[key] = (body[k][0], toks[k])
    return columns, text_keys, bad_tokens


def _unique_names(names: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for n in names:
        k = norm(n)
        if k in seen:
            seen[k] += 1
            out.append(f"{n}_{seen[k]}")
        else:
            seen[k] = 0
            out.append(n)
    return out


def _to_float(tokens: list[str]) -> tuple[np.ndarray, int]:
    """Floats (NaN for NA tokens and junk) and the number of non-numeric, non-NA tokens."""
    try:
        arr = np.array(tokens, dtype=float)
        return arr, 0
    except ValueError:
        pass
    if not any(tokens):  # an empty column (wide exports leave most columns empty): all NaN
        return np.full(len(tokens), np.nan), None
    try:
        # Missing values spelled the common ways (empty, NA, null, ...) are NaN, as in the
        # loop below; one vectorised conversion instead of a Python float() per token.
        arr = np.array(["nan" if t in _NA_COMMON else t for t in tokens], dtype=float)
        return arr, None
    except ValueError:
        pass
    out = np.empty(len(tokens), float)
    n_bad = 0
    for k, t in enumerate(tokens):
        try:
            out[k] = float(t)
        except ValueError:
            out[k] = np.nan
            if t.lower() not in _NA_TOKENS:
                n_bad += 1
    return out, (n_bad if n_bad else None)


# --------------------------------------------------------------------------------------------
# NumPy
# --------------------------------------------------------------------------------------------


def load_npy(p: Path, display: str) -> TextTable:
    """A structured array's named columns, or an ``(N, 2|3)`` array (or its transpose) unnamed."""
    try:
        arr = np.load(p, allow_pickle=False)
    except ValueError as err:
        raise LightCurveFormatError(
            f"{display}: holds Python objects (pickled) or is corrupt ({err}); only numeric arrays "
            f"are read. Save time, flux[, flux_err] as a float array with numpy.save."
        ) from err
    except Exception as err:
        raise LightCurveFormatError(
            f"{display}: is not a readable NumPy array ({type(err).__name__}: {err}); it is "
            f"corrupt or truncated."
        ) from err
    if arr.dtype.names:
        cols = {n: np.asarray(arr[n], dtype=float) for n in arr.dtype.names if np.ndim(arr[n]) == 1}
        return TextTable(names=list(cols), columns=cols, comments="", has_header=True, format="npy")
    if arr.ndim != 2 or min(arr.shape) < 2:
        raise LightCurveFormatError(
            f"{display}: the array has shape {arr.shape}; expected (N, 2) or (N, 3) columns "
            f"time, flux[, flux_err] (or the transpose)."
        )
    if arr.shape[1] > arr.shape[0]:
        arr = arr.T
    if arr.dtype.kind not in "fiu":
        raise LightCurveFormatError(f"{display}: the array is of type {arr.dtype}, not numeric.")
    cols = {f"__{j}": np.asarray(arr[:, j], dtype=float) for j in range(arr.shape[1])}
    return TextTable(names=None, columns=cols, comments="", has_header=False, format="npy")


def load_npz(p: Path, display: str) -> TextTable:
    """The numeric 1-D arrays of an archive that share the most common length."""
    try:
        with np.load(p, allow_pickle=False) as z:
            items = {k: z[k] for k in z.files}
    except Exception as err:
        raise LightCurveFormatError(
            f"{display}: is not a readable NumPy .npz archive ({type(err).__name__}: {err}); it "
            f"is corrupt, truncated or holds pickled objects."
        ) from err
    if not items:
        raise LightCurveFormatError(f"{display}: the .npz archive holds no arrays.")
    lengths = {k: v.shape[0] for k, v in items.items() if v.ndim == 1}
    if not lengths:
        raise LightCurveFormatError(
            f"{display}: the .npz archive holds no 1-D arrays; save time, flux, flux_err as "
            f"separate named arrays (numpy.savez(path, time=..., flux=..., flux_err=...))."
        )
    n = max(set(lengths.values()), key=list(lengths.values()).count)
    cols = {}
    for k, v in items.items():
        if v.ndim == 1 and v.shape[0] == n and v.dtype.kind in "fiub":
            cols[k] = np.asarray(v, dtype=float)
    return TextTable(names=list(cols), columns=cols, comments="", has_header=True, format="npz")


# --------------------------------------------------------------------------------------------
# table -> light curve
# --------------------------------------------------------------------------------------------


def _headerless_names(ncols: int, text_cols: set[int]) -> list[str]:
    if ncols == 7 and not text_cols:
        return ["time", "raw", "flux", "flux1", "flux2", "flux3", "quality"]
    base = ["time", "flux", "flux_err"]
    names = []
    for j in range(ncols):
        if j in text_cols:
            names.append("instrument" if j == ncols - 1 and "instrument" not in names else f"col{j}")
        elif j < 3:
            names.append(base[j])
        else:
            names.append(f"col{j}")
    return names


def _time_format_from_name(name: str, values: np.ndarray) -> str | None:
    n = norm(name).replace("_", "").replace("(", "").replace(")", "")
    if "btjd" in n or "bjd-2457000" in n or "tbjd" in n:
        return "btjd"
    if "bkjd" in n or "bjd-2454833" in n:
        return "bkjd"
    if "bjd-2450000" in n:
        return "bjd-2450000"
    if "bjd-2400000" in n or n == "rjd":
        return "bjd-2400000"
    if n in ("mjd", "bmjd", "timemjd"):
        return "mjd"
    if n in ("bjd", "bjdtdb", "timebjd", "jd", "bjdtdbjd") and is_full_jd(values):
        return "bjd"
    return None


def _time_format_from_comments(text: str) -> str | None:
    if not text:
        return None
    t = text.lower().replace(" ", "")
    found = set()
    if re.search(r"(?<![a-z])btjd(?![a-z])", t) or "bjd-2457000" in t:
        found.add("btjd")
    if re.search(r"(?<![a-z])bkjd(?![a-z])", t) or "bjd-2454833" in t:
        found.add("bkjd")
    if "bjd-2450000" in t:
        found.add("bjd-2450000")
    if "bjd-2400000" in t:
        found.add("bjd-2400000")
    return found.pop() if len(found) == 1 else None


def table_to_lightcurve(table: TextTable, p: Path, display: str, *, time_format, flux_column,
                        quality_bitmask, mission):
    """The light curve of a loaded table: columns chosen, time system decided, then finished."""
    columns, text_keys, bad_tokens = _named_columns(table)
    names = list(columns)
    numeric = [n for n in names if n not in text_keys]
    time_name = _time_column(numeric, names, table.has_header, display)
    flux_name, err_name, is_mag = _flux_columns(numeric, names, time_name, text_keys, bad_tokens,
                                                flux_column, display)
    t, flux = _time_and_flux(columns, time_name, flux_name, display)
    name_mission = mission_from_filename(p.name)
    miss = mission or name_mission
    tf, source = _time_format(table, time_name, t, time_format=time_format, mission=mission,
                              name_mission=name_mission, display=display)
    err = np.asarray(columns[err_name], dtype=float) if err_name else np.full(len(flux), np.nan)
    extras = {n: columns[n] for n in numeric if n not in (time_name, flux_name, err_name)}
    qname = next((n for n in numeric if norm(n) in QUALITY_NAMES and n != flux_name), None)
    options = FinishOptions(
        display=display,
        mission=miss,
        target=target_from_filename(p.name),
        flux_column=flux_name,
        time_format_in=tf,
        time_format_source=source,
        reader=table.format,
        quality_bitmask=quality_bitmask,
        flux_unit="",
        is_mag=is_mag,
        segments=segments_from_filename(p.name),
    )
    return finish((TIME_FORMATS[tf], t), flux, err, options, extras=extras,
                  quality=columns[qname] if qname else None)


def _named_columns(table: TextTable):
    """(columns, text columns, junk tokens), header-less columns named time, flux, flux_err, ..."""
    columns: dict[str, np.ndarray] = dict(table.columns)
    text_keys: set[str] = set(table.text_keys)
    bad_tokens: dict[str, tuple[int, str]] = dict(table.bad_tokens)
    if table.names is None:
        keys = list(columns)
        names = _headerless_names(len(keys), {j for j, k in enumerate(keys) if k in text_keys})
        rename = dict(zip(keys, names))
        columns = {rename[k]: v for k, v in columns.items()}
        text_keys = {rename[k] for k in text_keys}
        bad_tokens = {rename[k]: v for k, v in bad_tokens.items()}
    return columns, text_keys, bad_tokens


def _time_column(numeric: list[str], names: list[str], has_header: bool, display: str) -> str:
    low = {norm(n): n for n in reversed(numeric)}
    time_name = next((low[k] for k in TIME_NAMES if k in low), None)
    if time_name is None:
        time_name = next((n for n in numeric if norm(n).startswith(("time", "bjd", "btjd", "bkjd"))), None)
    if time_name is None:
        if has_header:
            raise LightCurveFormatError(
                f"{display}: no time column found among {', '.join(names)}. Name it 'time' (or "
                f"BJD_TDB, btjd, bkjd, ...)."
            )
        time_name = numeric[0] if numeric else None
    if time_name is None:
        raise LightCurveFormatError(f"{display}: has no numeric columns; it is not a light curve.")
    return time_name


def _flux_columns(numeric, names, time_name, text_keys, bad_tokens, flux_column, display: str):
    """(flux, flux error or None, is magnitude); junk in the time or flux column is an error."""
    flux_candidates = [n for n in numeric if n != time_name]
    if not flux_candidates:
        if flux_column is not None:
            choose_flux(flux_candidates, flux_column, display)
        raise LightCurveFormatError(
            f"{display}: has only a time column ({time_name!r}) and no numeric flux column "
            f"(columns: {', '.join(names)})."
        )
    if flux_column is not None and norm(flux_column) in {norm(n) for n in text_keys}:
        raise InvalidParameterError(
            f"{display}: column {flux_column!r} is not numeric; numeric columns are "
            f"{', '.join(flux_candidates)}."
        )
    flux_name, err_name, is_mag = choose_flux(flux_candidates, flux_column, display)
    for used in (time_name, flux_name):
        if used in bad_tokens:
            line_no, tok = bad_tokens[used]
            raise LightCurveFormatError(
                f"{display}: a non-numeric value in column {printable(used)!r} (line {line_no}). Remove "
                f"or fix the junk rows (missing values may be left empty or written NaN/NA)."
            )
    return flux_name, err_name, is_mag


def _time_and_flux(columns, time_name: str, flux_name: str, display: str):
    t = np.asarray(columns[time_name], dtype=float)
    if not np.isfinite(t).any():
        raise LightCurveDataError(f"{display}: the time column {time_name!r} has no finite values.")
    flux = np.asarray(columns[flux_name], dtype=float)
    if not np.isfinite(flux).any():
        raise LightCurveDataError(
            f"{display}: the flux column {flux_name!r} has no finite values (all NaN or empty). "
            f"Choose another column with flux_column=... or check the file."
        )
    n_ok = int(np.sum(np.isfinite(t) & np.isfinite(flux)))
    if n_ok < MIN_POINTS:
        raise LightCurveDataError(
            f"{display}: only {n_ok} row(s) with finite time and flux; at least {MIN_POINTS} are "
            f"needed for a light curve."
        )
    return t, flux


def _time_format(table: TextTable, time_name: str, t: np.ndarray, *, time_format, mission, name_mission,
                 display: str) -> tuple[str, str]:
    """(time system, how it was known): the first rule of the module documentation that applies."""
    if time_format is not None:
        return time_format, "time_format keyword"
    if table.has_header:
        tf = _time_format_from_name(time_name, t)
        if tf is not None:
            return tf, f"column name {time_name!r}"
    tf = _time_format_from_comments(table.comments)
    if tf is not None:
        return tf, "comment/header text"
    if is_full_jd(t):
        return "bjd", "values above 2,400,000 (full JD)"
    miss = mission or name_mission
    if miss is None:
        raise TimeFormatError(
            f"{display}: cannot tell the time system of column {time_name!r} (values "
            f"{np.nanmin(t):.6g}..{np.nanmax(t):.6g}): it could be BTJD (TESS, BJD-2457000), "
            f"BKJD (Kepler/K2, BJD-2454833) or another offset. Pass time_format= one of "
            f"{time_format_list()}, or mission='Kepler'/'K2'/'TESS'."
        )
    tf = MISSION_TIME_FORMATS[miss]
    source = (f"mission {miss} from the file name prefix" if mission is None
              else f"mission={miss!r} keyword")
    lo, hi = MISSION_BJD_RANGES[miss]
    bjd = t[np.isfinite(t)] + TIME_FORMATS[tf]
    if bjd.min() < lo or bjd.max() > hi:
        raise TimeFormatError(
            f"{display}: times {np.nanmin(t):.5g}..{np.nanmax(t):.5g} are not {tf.upper()} "
            f"dates of {miss} (would give BJD {bjd.min():.1f}..{bjd.max():.1f}, outside "
            f"{lo:.0f}..{hi:.0f}). Pass time_format= one of {time_format_list()}."
        )
    return tf, source
