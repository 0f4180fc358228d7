"""Provenance: what a result was made from (file checksums, software versions).

One home for the sha256 of files (inputs, models, report sets) and the versions of the
packages a result depends on; reports, results, training and the cache all use these.
Standard library only, so importing it costs nothing.

>>> from astrotinyml.provenance import package_versions
>>> package_versions(("numpy",))["astrotinyml"] != ""
True
"""

from __future__ import annotations

import hashlib
import os
import platform

from ._version import __version__

__all__ = ["sha256_file", "package_versions"]


def sha256_file(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks (light curves can be large).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> _ = p.write_bytes(b"abc")
    >>> sha256_file(p)[:12]
    'ba7816bf8f01'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def package_versions(distributions, *, python: bool = False) -> dict[str, str]:
    """Installed versions of ``distributions`` (those not installed are left out), plus astrotinyml.

    Package metadata is read, not module attributes: wotan has no ``__version__``, and
    nothing gets imported.

    Parameters
    ----------
    distributions : iterable of str
        Distribution names as pip knows them (``"batman-package"``, ``"ai-edge-litert"``).
    python : bool
        Add the Python version under ``"python"``.

    Returns
    -------
    dict
        ``{"astrotinyml": ..., ["python": ...,] name: version, ...}`` in that order.

    Examples
    --------
    >>> v = package_versions(("numpy", "not-a-package"), python=True)
    >>> sorted(v)[:3], "not-a-package" in v
    (['astrotinyml', 'numpy', 'python'], False)
    """
    # importlib.metadata pulls in the email package (~20 ms): imported when versions are asked for.
    from importlib import metadata

    out = {"astrotinyml": __version__}
    if python:
        out["python"] = platform.python_version()
    for dist in distributions:
        if dist not in _VERSIONS:
            try:
                _VERSIONS[dist] = metadata.version(dist)
            except metadata.PackageNotFoundError:
                _VERSIONS[dist] = None
        if _VERSIONS[dist] is not None:
            out[dist] = _VERSIONS[dist]
    return out


#: Versions already looked up in this process (None: not installed).  Reading the metadata
#: costs ~0.5 ms a package and every report asks again (JSON and CSV: 6 ms a target); the
#: code running is the one imported at start, whatever is installed since.
_VERSIONS: dict[str, str | None] = {}
