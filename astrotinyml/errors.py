"""Exceptions raised by astrotinyml.

Every error the library raises on purpose is an :class:`AstroTinyMLError`.  Each subclass
also inherits the built-in exception it resembles, so ``except FileNotFoundError`` or
``except ValueError`` in user code keeps working.  Messages name the file or target and
say how to fix the problem.
"""

__all__ = [
    "AstroTinyMLError",
    "LightCurveFileNotFoundError",
    "LightCurveFormatError",
    "LightCurveDataError",
    "TimeFormatError",
    "InvalidParameterError",
    "SearchError",
    "OfflineError",
    "DataUnavailableError",
    "ArchiveConnectionError",
    "NoNetworkError",
    "NoTransitInDataError",
    "AstroTinyMLWarning",
    "ArchiveSnapshotWarning",
    "CalibrationDatabaseError",
    "CalibrationNotFoundError",
    "ModelIntegrityError",
    "ArchiveQueryError",
    "BatchLockedError",
    "TargetTimeoutError",
    "printable",
    "error_boundary",
]

import contextlib
import re


class AstroTinyMLError(Exception):
    """Base class of every error raised on purpose by astrotinyml."""


class LightCurveFileNotFoundError(AstroTinyMLError, FileNotFoundError):
    """A light-curve path does not exist (or is a directory where a file was expected)."""


class LightCurveFormatError(AstroTinyMLError, ValueError):
    """A file exists but cannot be parsed as a light curve (corrupt, truncated, wrong columns)."""


class LightCurveDataError(AstroTinyMLError, ValueError):
    """A light curve was parsed but its values are unusable (empty, all NaN, non-positive flux)."""


class TimeFormatError(AstroTinyMLError, ValueError):
    """The time system of a file cannot be known from the file; ``time_format`` must say it."""


class InvalidParameterError(AstroTinyMLError, ValueError):
    """A keyword argument has an invalid value."""


class SearchError(AstroTinyMLError, ValueError):
    """A transit search cannot run on the light curve given (too short, too few points)."""


class OfflineError(AstroTinyMLError, ConnectionError):
    """Offline mode is on and what was asked for is not in the cache."""


class DataUnavailableError(AstroTinyMLError, LookupError):
    """The archive holds no data for the requested target / mission / sector."""


class ArchiveConnectionError(AstroTinyMLError, ConnectionError):
    """An archive (MAST, the Exoplanet Archive, ...) could not be reached."""


class NoTransitInDataError(LightCurveDataError):
    """None of a known ephemeris's predicted transits falls on data (gaps, or another span)."""


class NoNetworkError(ArchiveConnectionError):
    """This machine has no network: nothing was (or will be, for a while) asked of any archive."""


class AstroTinyMLWarning(UserWarning):
    """Base class of the warnings astrotinyml emits (filter them with ``warnings.filterwarnings``)."""


class ArchiveSnapshotWarning(AstroTinyMLWarning):
    """An archive answer came from a cache past its expiry or from a bundled catalogue snapshot.

    The message says the date of the data and how old it is.
    """


class ModelIntegrityError(AstroTinyMLError, ValueError):
    """A classifier model file is missing or does not match the SHA-256 in its registry."""


class CalibrationDatabaseError(AstroTinyMLError, OSError):
    """The calibration database file is unusable (not SQLite, corrupted, or a newer schema).

    Nothing is written to such a file; the message names it and says how to start a new one.
    """


class CalibrationNotFoundError(AstroTinyMLError, LookupError):
    """A named calibration run is not in the database (or no calibration exists at all)."""


class ArchiveQueryError(AstroTinyMLError, ValueError):
    """An archive answered, but not with a usable table (HTTP 4xx, an HTML page, bad VOTable)."""


class BatchLockedError(AstroTinyMLError, RuntimeError):
    """Another batch run holds the lock of the output directory."""


class TargetTimeoutError(AstroTinyMLError, TimeoutError):
    """One target of a batch ran past its time limit; it is recorded as failed."""


# Control characters (C0, DEL, C1), bidi overrides and other format characters: escaping them
# keeps a file name like "tess_\x1b[2J.csv" from clearing or retitling the user's terminal.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")


def _escape_char(m: re.Match) -> str:
    c = m.group(0)
    if c == "\n":
        return "\\n"
    if c == "\t":
        return "\\t"
    o = ord(c)
    return f"\\x{o:02x}" if o < 0x100 else f"\\u{o:04x}"


def printable(text, *, keep: str = "") -> str:
    """``text`` with control and invisible format characters escaped (``\\x1b``, ``\\u202e``).

    Every message the library and the command line show goes through it, so that names taken
    from files or the user's arguments cannot send escape sequences to a terminal.  ``keep``
    lists characters left as they are (the command line keeps ``"\\n\\r\\t"`` in its output).

    Examples
    --------
    >>> from astrotinyml.errors import printable
    >>> printable("tess_\x1b[2J.csv")
    'tess_\\\\x1b[2J.csv'
    >>> print(printable("tess_\x1b[2J.csv"))
    tess_\\x1b[2J.csv
    """
    text = str(text)
    text = _UNPRINTABLE.sub(lambda m: m.group(0) if m.group(0) in keep else _escape_char(m), text)
    # other non-printable code points (unassigned, surrogates, private use) likewise
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() or ch == " " or ch in keep else
                       (f"\\u{ord(ch):04x}" if ord(ch) < 0x10000 else f"\\U{ord(ch):08x}")
                       for ch in text)
    return text


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


@contextlib.contextmanager
def error_boundary(what: str, error: type = None, *, fix: str = "", passthrough: tuple = (),
                   detail: bool = True):
    """Turn any exception from a dependency into the project's error naming ``what``.

    Errors the project raises on purpose (:class:`AstroTinyMLError`), ``KeyboardInterrupt``,
    ``MemoryError`` and the types in ``passthrough`` go through unchanged; anything else
    (astropy, numpy, pyvo, sqlite3, json, LiteRT, ``RuntimeError`` of a symlink loop, ...)
    becomes ``error(f"{what}: {type}: {first line} {fix}")`` raised from the original.

    Parameters
    ----------
    what : str
        The file or target the operation was about (escaped for printing).
    error : type, optional
        An :class:`AstroTinyMLError` subclass (default :class:`AstroTinyMLError`).
    fix : str
        What the user can do, appended to the message.
    passthrough : tuple of exception types
        Exceptions that the caller handles itself.
    detail : bool
        Quote the dependency's message (False where it may quote the input's content, as a
        parser's "could not convert 'root:x:0:0' to float" does: only the exception type and
        its module are named; the original stays chained as ``__cause__``).

    Examples
    --------
    >>> from astrotinyml.errors import error_boundary, LightCurveFormatError
    >>> try:
    ...     with error_boundary("x.fits", LightCurveFormatError, fix="Re-download it."):
    ...         raise KeyError("TIME")
    ... except LightCurveFormatError as err:
    ...     print(err)
    x.fits: KeyError: 'TIME'. Re-download it.
    """
    error = error or AstroTinyMLError
    try:
        yield
    except (AstroTinyMLError, KeyboardInterrupt, MemoryError, GeneratorExit):
        raise
    except passthrough:
        raise
    except Exception as exc:
        if detail:
            msg = f"{printable(what)}: {type(exc).__name__}: {printable(_first_line(exc))}"
        else:
            module = type(exc).__module__.split(".")[0]
            where = "" if module == "builtins" else f" in {module}"
            msg = f"{printable(what)}: could not be read ({type(exc).__name__}{where})"
        if fix:
            msg = msg.rstrip(".") + ". " + fix
        raise error(msg) from exc
