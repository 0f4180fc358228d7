"""Small helpers shared by several stages (kept import-light: standard library only)."""

from __future__ import annotations

import hashlib
import os

__all__ = ["sha256_file", "target_name"]


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


def target_name(lc, default: str = "<unnamed light curve>") -> str:
    """The target name a light curve's ``meta`` gives (our readers' key first, then FITS keys)."""
    meta = getattr(lc, "meta", {}) or {}
    for key in ("target", "OBJECT", "object", "target_name", "LABEL", "TARGETID"):
        value = meta.get(key)
        if value not in (None, ""):
            return str(value)
    return default
