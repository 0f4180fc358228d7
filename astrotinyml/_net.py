"""Network helpers shared by :mod:`astrotinyml.fetch` and :mod:`astrotinyml.archives`.

* :func:`call_with_retries` runs a request, retrying *transient* failures (connection errors,
  timeouts, HTTP 429 and 5xx) with exponential backoff, and turns a failure that persists into
  :class:`~astrotinyml.errors.ArchiveConnectionError`.  Permanent errors (HTTP 4xx, a bad query)
  are raised at once: retrying them cannot help.
* :func:`is_transient` says whether an exception (or one it was raised from) is transient.

Nothing here imports requests, astroquery or pyvo at module level.
"""

from __future__ import annotations

import logging
import re
import socket
import sys
import time
from typing import Callable, TypeVar

from .errors import ArchiveConnectionError, AstroTinyMLError

log = logging.getLogger("astrotinyml.net")

T = TypeVar("T")

#: Attempts after the first one, for a transient failure.
DEFAULT_RETRIES = 3
#: First backoff delay in seconds; it doubles after every failed attempt (2, 4, 8 s).
DEFAULT_BACKOFF_S = 2.0
#: Timeout in seconds of one request (connect and read).
DEFAULT_TIMEOUT_S = 60.0

# indirection so that tests can patch the sleep without touching time.sleep
_sleep = time.sleep


class TransientError(Exception):
    """Internal: a failure worth retrying (HTTP 5xx / 429, truncated download)."""


_TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524}
_TRANSIENT_TEXT = re.compile(
    r"\b(?:408|429|500|502|503|504)\b|timed?[ -]?out|temporar(?:il)?y unavailable|"
    r"service unavailable|bad gateway|gateway time|connection (?:refused|reset|aborted|error)|"
    r"max retries exceeded|remote end closed|name or service not known|"
    r"temporary failure in name resolution|network is unreachable",
    re.IGNORECASE,
)


def _status_code(exc: BaseException) -> int | None:
    for attr in ("status_code", "code", "status"):
        val = getattr(exc, attr, None)
        if isinstance(val, int):
            return val
    resp = getattr(exc, "response", None)
    val = getattr(resp, "status_code", None)
    return val if isinstance(val, int) else None


def _is_transient_one(exc: BaseException) -> bool:
    if isinstance(exc, TransientError):
        return True
    if isinstance(exc, AstroTinyMLError):
        return False
    if isinstance(exc, (ConnectionError, TimeoutError, socket.timeout)):
        return True
    requests = sys.modules.get("requests")
    if requests is not None:
        rexc = requests.exceptions
        if isinstance(exc, (rexc.ConnectionError, rexc.Timeout, rexc.ChunkedEncodingError)):
            return True
    status = _status_code(exc)
    if status is not None:
        return status in _TRANSIENT_STATUS
    # astroquery and pyvo re-wrap HTTP errors into their own exception types, keeping only
    # the text; judge those by their message
    return bool(_TRANSIENT_TEXT.search(str(exc)))


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it was raised from, is worth retrying.

    Examples
    --------
    >>> from astrotinyml._net import is_transient
    >>> is_transient(ConnectionResetError("reset by peer")), is_transient(ValueError("bad column"))
    (True, False)
    """
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if _is_transient_one(e):
            return True
        if isinstance(e, AstroTinyMLError):
            return False
        e = e.__cause__ or e.__context__
    return False


def call_with_retries(
    fn: Callable[[], T],
    *,
    service: str,
    what: str,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF_S,
) -> T:
    """Call ``fn()``; retry transient failures with exponential backoff.

    Parameters
    ----------
    fn : callable
        The request, without arguments.
    service : str
        Name of the remote service, for messages (``"MAST"``, ``"NASA Exoplanet Archive"``).
    what : str
        What is being asked for, for messages (``"light curves of Kepler-90"``).
    retries : int
        Attempts after the first one.
    backoff : float
        Delay before the first retry in seconds; doubled after each failure.

    Returns
    -------
    object
        Whatever ``fn`` returns.

    Raises
    ------
    ArchiveConnectionError
        Every attempt failed with a transient error.

    Examples
    --------
    >>> from astrotinyml._net import call_with_retries
    >>> call_with_retries(lambda: 42, service="MAST", what="an example")
    42
    """
    retries = max(0, int(retries))
    last: BaseException | None = None
    for attempt in range(retries + 1):
        try:
            return fn()
        except AstroTinyMLError:
            raise
        except Exception as exc:  # classified below; permanent errors propagate unchanged
            if not is_transient(exc):
                raise
            last = exc
            if attempt == retries:
                break
            delay = backoff * (2**attempt)
            log.warning("%s: %s failed (%s: %s); retry %d/%d in %.0f s", service, what,
                        type(exc).__name__, exc, attempt + 1, retries, delay)
            _sleep(delay)
    raise ArchiveConnectionError(
        f"{service} could not be reached for {what} after {retries + 1} attempt(s) "
        f"(last error {type(last).__name__}: {last}). Check the internet connection and the "
        f"service status, retry later, or work offline from the cache (offline=True or "
        f"ASTROTINYML_OFFLINE=1)."
    ) from last
