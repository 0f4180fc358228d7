"""Network helpers shared by :mod:`astrotinyml.remote.mast` and :mod:`astrotinyml.remote.archives`.

* :func:`call_with_retries` runs a request, retrying *transient* failures (connection errors,
  timeouts, HTTP 429 and 5xx) with exponential backoff, and turns a failure that persists into
  :class:`~astrotinyml.errors.ArchiveConnectionError`.  Permanent errors (HTTP 4xx, a bad query)
  are raised at once: retrying them cannot help.
* :func:`is_transient` says whether an exception (or one it was raised from) is transient.
* Deadline: ``timeout`` is the most a whole query may take (retries and backoff included);
  request functions bound each wait with :func:`attempt_timeout`, so a server that accepts the
  connection and never answers costs ``timeout`` seconds, not attempts x timeout + backoff.
* No network: a host name that does not resolve (or no route) means the machine is offline.
  It is not retried, it raises :class:`NoNetworkError` (one line), and for
  :data:`NO_NETWORK_MEMORY_S` seconds further queries fail at once instead of asking again;
  the callers then fall back to the cache and the bundled snapshots where they can.

Nothing here imports requests, astroquery or pyvo at module level.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import socket
import sys
import time
from typing import Callable, TypeVar

from ..errors import ArchiveConnectionError, AstroTinyMLError, NoNetworkError, printable

log = logging.getLogger("astrotinyml.net")

T = TypeVar("T")

#: Attempts after the first one, for a transient failure.
DEFAULT_RETRIES = 3
#: First backoff delay in seconds; it doubles after every failed attempt (2, 4, 8 s).
DEFAULT_BACKOFF_S = 2.0
#: Seconds one archive query may take in all, retries and backoff included (``timeout=``,
#: ``--timeout``); each request waits at most what is left of it.  A download that keeps
#: receiving data is not cut: the limit applies to waiting for an answer.
DEFAULT_TIMEOUT_S = 60.0

# indirection so that tests can patch the sleep without touching time.sleep
_sleep = time.sleep


class TransientError(Exception):
    """Internal: a failure worth retrying (HTTP 5xx / 429, truncated download)."""


TRANSIENT_STATUS = {408, 425, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524}
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
        return status in TRANSIENT_STATUS
    # astroquery and pyvo re-wrap HTTP errors into their own exception types, keeping only
    # the text; judge those by their message
    return bool(_TRANSIENT_TEXT.search(str(exc)))


def is_transient(exc: BaseException) -> bool:
    """Whether ``exc``, or an exception it was raised from, is worth retrying.

    Examples
    --------
    >>> from astrotinyml.remote._net import is_transient
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


def _chain(exc: BaseException):
    seen: set[int] = set()
    e: BaseException | None = exc
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        yield e
        e = e.__cause__ or e.__context__


_NO_NETWORK_TEXT = re.compile(
    r"name or service not known|temporary failure in name resolution|nodename nor servname|"
    r"failed to resolve|getaddrinfo failed|network is unreachable|no route to host",
    re.IGNORECASE)


def is_no_network(exc: BaseException) -> bool:
    """Whether ``exc`` says this machine has no network (DNS cannot resolve, no route).

    A host name of MAST or the Exoplanet Archive that does not resolve means the machine is
    offline, not that the service is busy: retrying cannot help.

    Examples
    --------
    >>> import socket
    >>> from astrotinyml.remote._net import is_no_network
    >>> is_no_network(socket.gaierror(-2, "Name or service not known")), is_no_network(TimeoutError())
    (True, False)
    """
    for e in _chain(exc):
        if isinstance(e, socket.gaierror):
            return True
        if type(e).__name__ == "NameResolutionError":
            return True
        if _NO_NETWORK_TEXT.search(str(e)):
            return True
    return False


#: After a "no network" failure, further requests fail at once for this many seconds.
NO_NETWORK_MEMORY_S = 60.0
_no_network: dict = {"since": None, "why": ""}
# the deadline (time.monotonic()) of the query running now, read by attempt_timeout()
_deadline: contextvars.ContextVar = contextvars.ContextVar("astrotinyml_net_deadline", default=None)


def attempt_timeout(timeout: float, *, floor: float = 1.0) -> float:
    """Seconds one request may wait: ``timeout`` cut to what is left of the query's deadline.

    Request functions passed to :func:`call_with_retries` call it when they open a connection,
    so a server that never answers costs at most the deadline, retries included.

    Examples
    --------
    >>> from astrotinyml.remote._net import attempt_timeout
    >>> attempt_timeout(30.0)   # outside a query: the timeout itself
    30.0
    """
    end = _deadline.get()
    if end is None:
        return float(timeout)
    return max(floor, min(float(timeout), end - time.monotonic()))


def _raise_if_known_offline(service: str, what: str) -> None:
    """NoNetworkError at once when a probe found no network less than NO_NETWORK_MEMORY_S ago."""
    since = _no_network["since"]
    if since is not None and time.monotonic() - since < NO_NETWORK_MEMORY_S:
        raise NoNetworkError(
            f"no network: {service} was not asked for {what} ({_no_network['why']} a moment ago). "
            f"Connect to the internet, or work from the cache and the bundled snapshots "
            f"(--offline, offline=True or ASTROTINYML_OFFLINE=1).")


def check_network(host: str, *, service: str, what: str, wait: float = 5.0) -> None:
    """Raise :class:`NoNetworkError` at once if ``host`` does not resolve (the machine is offline).

    A cheap probe before the slow part (importing lightkurve, building a TAP session): offline,
    a query fails in well under a second with one line instead of after seconds of imports and
    retries.  A resolver that does not answer within ``wait`` seconds proves nothing: the
    probe then returns and the request itself decides.

    Examples
    --------
    >>> from astrotinyml.remote._net import check_network
    >>> check_network("localhost", service="a test", what="nothing")
    """
    import threading

    if os.environ.get("ASTROTINYML_NET_PROBE", "1").strip() == "0" or any(
            os.environ.get(v) for v in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        # behind a proxy the archive's name need not resolve here; ASTROTINYML_NET_PROBE=0 skips it
        return
    _raise_if_known_offline(service, what)
    box: dict = {}

    def probe():
        try:
            socket.getaddrinfo(host, 443, proto=socket.IPPROTO_TCP)
        except OSError as exc:
            box["error"] = exc

    thread = threading.Thread(target=probe, daemon=True, name="astrotinyml-dns-probe")
    thread.start()
    thread.join(wait)
    err = box.get("error")
    if err is not None and is_no_network(err):
        _no_network.update(since=time.monotonic(), why=_short(err))
        raise NoNetworkError(
            f"no network: {service} cannot be reached for {what} ({host}: {_short(err)}). "
            f"Connect to the internet, or work from the cache and the bundled snapshots "
            f"(--offline, offline=True or ASTROTINYML_OFFLINE=1).") from err


def _short(exc: BaseException | None, limit: int = 160) -> str:
    if exc is None:
        return "no error recorded"
    # the innermost reason is the readable one ("Name or service not known"), not urllib3's
    # three nested reprs
    inner = [e for e in _chain(exc)][-1]
    text = " ".join(str(inner).split()) or type(inner).__name__
    text = text if len(text) <= limit else text[: limit - 1] + "\u2026"
    return printable(f"{type(inner).__name__}: {text}")


def call_with_retries(
    fn: Callable[[], T],
    *,
    service: str,
    what: str,
    retries: int = DEFAULT_RETRIES,
    backoff: float = DEFAULT_BACKOFF_S,
    deadline: float | None = DEFAULT_TIMEOUT_S,
) -> T:
    """Call ``fn()``; retry transient failures with exponential backoff, within a deadline.

    Parameters
    ----------
    fn : callable
        The request, without arguments.  It should bound its own waits with
        :func:`attempt_timeout`.
    service : str
        Name of the remote service, for messages (``"MAST"``, ``"NASA Exoplanet Archive"``).
    what : str
        What is being asked for, for messages (``"light curves of Kepler-90"``).
    retries : int
        Attempts after the first one.
    backoff : float
        Delay before the first retry in seconds; doubled after each failure.
    deadline : float or None
        Seconds the whole call may take, retries and backoff included (None: no limit).  No
        retry starts that could not finish in time.

    Returns
    -------
    object
        Whatever ``fn`` returns.

    Raises
    ------
    NoNetworkError
        The machine has no network (a host name did not resolve, now or in the last
        :data:`NO_NETWORK_MEMORY_S` seconds): raised after one attempt, without retries.
    ArchiveConnectionError
        Every attempt failed with a transient error, or the deadline passed.

    Examples
    --------
    >>> from astrotinyml.remote._net import call_with_retries
    >>> call_with_retries(lambda: 42, service="MAST", what="an example")
    42
    """
    retries = max(0, int(retries))
    _raise_if_known_offline(service, what)
    start = time.monotonic()
    end = None if deadline is None else start + float(deadline)
    token = _deadline.set(end)
    last: BaseException | None = None
    timed_out = False
    try:
        for attempt in range(retries + 1):
            try:
                result = fn()
                _no_network["since"] = None
                return result
            except AstroTinyMLError:
                raise
            except Exception as exc:  # classified below; permanent errors propagate unchanged
                if is_no_network(exc):
                    _no_network.update(since=time.monotonic(), why=_short(exc))
                    raise NoNetworkError(
                        f"no network: {service} cannot be reached for {what} ({_short(exc)}). "
                        f"Connect to the internet, or work from the cache and the bundled snapshots "
                        f"(--offline, offline=True or ASTROTINYML_OFFLINE=1).") from exc
                if not is_transient(exc):
                    raise
                last = exc
                if attempt == retries:
                    break
                delay = backoff * (2**attempt)
                if end is not None and time.monotonic() + delay + 1.0 > end:
                    timed_out = True
                    break
                log.warning("%s: %s failed (%s); retry %d/%d in %.0f s", service, what,
                            _short(exc), attempt + 1, retries, delay)
                _sleep(delay)
    finally:
        _deadline.reset(token)
    took = time.monotonic() - start
    if timed_out or (end is not None and time.monotonic() >= end - 0.5):
        raise ArchiveConnectionError(
            f"{service} did not answer {what} within the {deadline:g} s deadline ({took:.0f} s, "
            f"last error {_short(last)}). Retry later, give more time (timeout=, --timeout), or "
            f"work offline from the cache (offline=True or ASTROTINYML_OFFLINE=1)."
        ) from last
    raise ArchiveConnectionError(
        f"{service} could not be reached for {what} after {attempt + 1} attempt(s) "
        f"(last error {_short(last)}). Check the internet connection and the "
        f"service status, retry later, or work offline from the cache (offline=True or "
        f"ASTROTINYML_OFFLINE=1)."
    ) from last
