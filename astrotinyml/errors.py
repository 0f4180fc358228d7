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
    "AstroTinyMLWarning",
    "ArchiveSnapshotWarning",
    "CalibrationDatabaseError",
    "CalibrationNotFoundError",
]


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
