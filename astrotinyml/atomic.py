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
    >>> from astrotinyml.atomic import atomic_path
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


#: Journal inside a staging directory; its presence means "this set is complete: move it in".
COMMIT_NAME = "COMMITTED"
_STAGING_PREFIX = ".set-"


@contextlib.contextmanager
def _directory_lock(directory: Path):
    """Exclusive ``flock`` on the directory itself (no lock file left; released on any exit)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows: writers are not serialised there
        yield
        return
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - a directory we may write but not open
        yield
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:  # pragma: no cover - file systems without flock on directories
            pass
        yield
    finally:
        os.close(fd)


def _safe_member(name) -> bool:
    return isinstance(name, str) and name and "/" not in name and "\\" not in name and name not in (".", "..")


def recover_sets(directory, names=()) -> dict:
    """Finish or undo the file sets an interrupted :func:`atomic_paths` left in ``directory``.

    A staging directory with its commit journal held a complete set: its files are moved in
    (roll forward).  One without the journal was interrupted while being written: it is
    removed, the previous files stay (roll back).  Stale ``.<name>.*.part`` temporaries of
    the given ``names`` (from killed single-file writes) are removed too.  Called by every
    :func:`atomic_paths` before it writes, under the directory lock; readers of a report
    directory may call it as well.

    Returns
    -------
    dict
        ``{"completed": n, "discarded": n, "parts_removed": n}``

    Examples
    --------
    >>> import tempfile
    >>> from astrotinyml.atomic import recover_sets
    >>> recover_sets(tempfile.mkdtemp())
    {'completed': 0, 'discarded': 0, 'parts_removed': 0}
    """
    import glob
    import json
    import shutil

    directory = Path(directory)
    out = {"completed": 0, "discarded": 0, "parts_removed": 0}
    if not directory.is_dir():
        return out
    for staging in sorted(directory.glob(_STAGING_PREFIX + "*")):
        if not staging.is_dir() or staging.is_symlink():
            continue
        journal = staging / COMMIT_NAME
        files = None
        if journal.is_file():
            try:
                files = [n for n in json.loads(journal.read_text())["files"] if _safe_member(n)]
            except (OSError, ValueError, KeyError, TypeError):
                files = None
        if files is not None:
            for name in files:
                src = staging / name
                if src.is_file():
                    os.replace(src, directory / name)
            out["completed"] += 1
        else:
            out["discarded"] += 1
        shutil.rmtree(staging, ignore_errors=True)
    for name in names:
        for part in directory.glob(glob.escape(f".{name}.") + "*.part"):
            with contextlib.suppress(OSError):
                part.unlink()
                out["parts_removed"] += 1
    return out


@contextlib.contextmanager
def atomic_paths(paths: dict, *, overwrite: bool = False):
    """Like :func:`atomic_path` for several files that must appear together or not at all.

    Yields a dict of temporary paths (same keys); only when the block succeeds do they all
    replace their targets, so a failure leaves the previous files (if any) untouched.

    Files of one directory (a report set) are written into a staging directory beside them;
    when all are complete a commit journal is written there (one atomic rename: the commit
    point) and then the files are renamed into place.  A process killed before the commit
    point leaves the old set; one killed after it, a journal that the next write into the
    directory (or :func:`recover_sets`) uses to finish moving the new set in.  Either way no
    mix of old and new files remains, and stale temporaries are removed.  Writers of one
    directory are serialised by a lock file in it.  Files in several directories are renamed
    one by one (atomic each, not as a set).

    Examples
    --------
    >>> import tempfile, pathlib
    >>> from astrotinyml.atomic import atomic_paths
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> with atomic_paths({"a": d / "a.txt", "b": d / "b.txt"}) as tmp:
    ...     _ = tmp["a"].write_text("1"); _ = tmp["b"].write_text("2")
    >>> sorted(p.name for p in d.iterdir() if not p.name.startswith("."))
    ['a.txt', 'b.txt']
    """
    paths = {key: Path(p) for key, p in paths.items()}
    parents = {p.parent for p in paths.values()}
    if len(parents) == 1 and len({p.name for p in paths.values()}) == len(paths):
        directory = parents.pop()
        directory.mkdir(parents=True, exist_ok=True)
        with _directory_lock(directory):
            recover_sets(directory, [p.name for p in paths.values()])
            with _staged(paths, directory, overwrite=overwrite) as temps:
                yield temps
        return
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


@contextlib.contextmanager
def _staged(paths: dict, directory: Path, *, overwrite: bool):
    import json
    import shutil

    existing = [str(p) for p in paths.values() if p.exists()]
    if existing and not overwrite:
        raise OutputExistsError(f"{', '.join(existing)} already exist(s); pass overwrite=True "
                                "(or --overwrite) to replace them.")
    staging = Path(tempfile.mkdtemp(prefix=_STAGING_PREFIX, dir=directory))
    committed = False
    try:
        temps = {}
        for key, path in paths.items():
            tmp = staging / path.name
            tmp.touch()
            os.chmod(tmp, 0o666 & ~_UMASK)  # as an ordinary open() would create it
            temps[key] = tmp
        yield temps
        journal = staging / (COMMIT_NAME + ".tmp")
        journal.write_text(json.dumps({"files": [p.name for p in paths.values()]}))
        os.replace(journal, staging / COMMIT_NAME)  # the commit point
        committed = True
        for key, path in paths.items():
            os.replace(temps[key], path)
    except BaseException:
        # before the commit point: the new set is discarded, the old one stays.  After it (a
        # rename failed): the journal stays, and the next writer or recover_sets() finishes.
        if not committed:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    shutil.rmtree(staging, ignore_errors=True)
