"""Atomic file writing: a file is either complete or absent, never half-written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from .errors import AstroTinyMLError


class OutputExistsError(AstroTinyMLError, FileExistsError):
    """An output file exists and ``overwrite`` was not given."""


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


# Read once, at import: os.umask() can only be read by setting it, which is process-wide and
# would race with threads creating files (threaded Dask workers, notebooks).
_UMASK = _read_umask()


def _new_temp(path: Path) -> Path:
    """An empty temporary file beside ``path`` with the mode an ordinary open() would give."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    # mkstemp creates the file 0600: reports on a shared cluster stay readable by collaborators.
    os.chmod(tmp, 0o666 & ~_UMASK)
    return tmp


@contextlib.contextmanager
def atomic_path(path, *, overwrite: bool = False):
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    The temporary file lives in the same directory so the final ``os.replace`` is atomic
    on POSIX; on any exception it is removed and ``path`` is left untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrotinyml._atomic import atomic_path
    >>> out = pathlib.Path(tempfile.mkdtemp()) / "x.txt"
    >>> with atomic_path(out) as tmp:
    ...     _ = tmp.write_text("done")
    >>> out.read_text()
    'done'
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise OutputExistsError(f"{path} already exists; pass overwrite=True (or --overwrite) to replace it.")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _new_temp(path)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_paths(paths: dict, *, overwrite: bool = False):
    """Like :func:`atomic_path` for several files that must appear together or not at all.

    Yields a dict of temporary paths (same keys); only when the block succeeds are they all
    renamed onto their targets, so a failure leaves the previous files (if any) untouched.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrotinyml._atomic import atomic_paths
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_paths({"a": d / "a.txt", "b": d / "b.txt"}) as tmp:
    ...     _ = tmp["a"].write_text("1"); _ = tmp["b"].write_text("2")
    >>> sorted(p.name for p in d.iterdir())
    ['a.txt', 'b.txt']
    """
    paths = {key: Path(p) for key, p in paths.items()}
    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{', '.join(existing)} already exist(s); pass overwrite=True "
                                "(or --overwrite) to replace them.")
    temps: dict = {}
    try:
        for key, path in paths.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            temps[key] = _new_temp(path)
        yield temps
        for key, path in paths.items():
            os.replace(temps[key], path)
    finally:
        for tmp in temps.values():
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
