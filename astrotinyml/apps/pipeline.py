"""Run the parameterized pipeline notebooks with papermill, and the files they exchange.

The end-to-end pipeline is four notebooks in ``notebooks/``, executed in order::

    01_fetch_and_inspect    -> lightcurve.ecsv, lightcurve.json
    02_detrend_and_search   -> flat.ecsv, candidates.ecsv, periodogram.ecsv, search.json
    03_vet_and_classify     -> vetted.ecsv, views.npz, classification.json
    04_report               -> report/<target>.{pdf,json,fits,csv}, summary.json

Each notebook has a cell tagged ``parameters`` and reads what the previous one wrote in
``out_dir``: the steps share files, never kernel state, so any notebook can be re-run alone
on a finished run directory.  :func:`run_pipeline` executes them with papermill, passing each
notebook only the parameters it declares, keeps the executed copies beside the data and stops
at the first failing cell with a :class:`PipelineError` naming the notebook and the cell.

The helpers :func:`save_lightcurve`, :func:`load_lightcurve`, :func:`save_views`,
:func:`load_views` and :func:`load_result` are the file formats of that exchange; the
notebooks call them so that a run directory can also be opened from Python.

``import astrotinyml.apps.pipeline`` is light: papermill, nbformat, jupyter_client, lightkurve
and astropy.table are imported inside the functions that use them.
"""

from __future__ import annotations

import argparse
import ast
import importlib.util
import json
import math
import os
import re
import sys
import time as _time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..atomic import OutputExistsError, atomic_path
from ..config import MODELS_DIR, PACKAGE_DIR
from ..detection import DetectionResult
from ..errors import AstroTinyMLError, InvalidParameterError, LightCurveFileNotFoundError
from ..views import SCALAR_NAMES, VIEW_NAMES, Views, stack_views

__all__ = [
    "PIPELINE_NOTEBOOKS",
    "PipelineError",
    "PipelineResult",
    "run_pipeline",
    "notebooks_dir",
    "notebook_parameters",
    "parse_value",
    "save_lightcurve",
    "load_lightcurve",
    "save_views",
    "load_views",
    "load_result",
    "classifier_status",
    "add_cli_arguments",
    "cli_main",
]

#: The pipeline notebooks, in the order :func:`run_pipeline` executes them.
PIPELINE_NOTEBOOKS: tuple[str, ...] = (
    "01_fetch_and_inspect.ipynb",
    "02_detrend_and_search.ipynb",
    "03_vet_and_classify.ipynb",
    "04_report.ipynb",
)


class PipelineError(AstroTinyMLError, RuntimeError):
    """A pipeline notebook failed.

    Attributes
    ----------
    notebook : str
        File name of the notebook that failed (e.g. ``"02_detrend_and_search.ipynb"``).
    cell : int or None
        1-based number of the failing cell in the *source* notebook (markdown cells count),
        ``None`` when the failure was not in a cell (kernel died, notebook unreadable).
    execution_count : int or None
        The failing cell's execution count in the executed copy.
    ename, evalue : str
        Exception class name and message raised in the cell.
    source : str
        Source code of the failing cell.
    executed_path : pathlib.Path or None
        The executed copy, which keeps the outputs up to the error and the traceback.
    """

    def __init__(self, message, *, notebook, cell=None, execution_count=None, ename="", evalue="",
                 source="", executed_path=None):
        super().__init__(message)
        self.notebook = notebook
        self.cell = cell
        self.execution_count = execution_count
        self.ename = ename
        self.evalue = evalue
        self.source = source
        self.executed_path = executed_path


@dataclass
class PipelineResult:
    """What :func:`run_pipeline` did.

    Attributes
    ----------
    out_dir : pathlib.Path
        The run directory (absolute).
    notebooks : list of pathlib.Path
        Executed copies, in execution order.
    parameters : dict
        Parameters passed to each notebook, keyed by notebook file name.
    outputs : dict of str to pathlib.Path
        Every other file in ``out_dir`` after the run, keyed by its path relative to
        ``out_dir`` (``"candidates.ecsv"``, ``"report/TIC_100100827.pdf"``, ...).
    timings : dict of str to float
        Wall-clock seconds per notebook and ``"total"``.
    kernel_name : str
        Jupyter kernel the notebooks ran in.
    """

    out_dir: Path
    notebooks: list = field(default_factory=list)
    parameters: dict = field(default_factory=dict)
    outputs: dict = field(default_factory=dict)
    timings: dict = field(default_factory=dict)
    kernel_name: str = "python3"

    def __repr__(self) -> str:
        return (f"PipelineResult(out_dir={str(self.out_dir)!r}, notebooks={[p.name for p in self.notebooks]}, "
                f"outputs={len(self.outputs)} files, total={self.timings.get('total', float('nan')):.1f} s)")


# ----------------------------------------------------------------------------------------------
# Locating notebooks and their parameters


def notebooks_dir() -> Path:
    """Directory holding the pipeline notebooks.

    ``ASTROTINYML_NOTEBOOKS_DIR`` when set, else ``notebooks/`` of the source checkout the
    package was imported from.

    Returns
    -------
    pathlib.Path

    Raises
    ------
    AstroTinyMLError
        Neither exists (an installed wheel without the repository): pass ``notebooks=`` to
        :func:`run_pipeline` with the notebook paths.

    Examples
    --------
    >>> from astrotinyml.apps.pipeline import notebooks_dir
    >>> (notebooks_dir() / "01_fetch_and_inspect.ipynb").is_file()  # doctest: +SKIP
    True
    """
    env = os.environ.get("ASTROTINYML_NOTEBOOKS_DIR")
    candidates = [Path(env).expanduser()] if env else []
    candidates.append(PACKAGE_DIR.parent / "notebooks")
    for path in candidates:
        if (path / PIPELINE_NOTEBOOKS[0]).is_file():
            return path
    raise AstroTinyMLError(
        f"pipeline notebooks not found (looked in {', '.join(str(p) for p in candidates)}); run from a "
        "checkout of the astrotinyml repository, set ASTROTINYML_NOTEBOOKS_DIR to its notebooks/ "
        "folder, or pass notebooks=[paths] to run_pipeline."
    )


def notebook_parameters(path) -> dict[str, dict[str, Any]]:
    """Parameters a notebook declares in its cell tagged ``parameters``.

    Parameters
    ----------
    path : str or path-like
        Notebook file.

    Returns
    -------
    dict
        ``{name: {"default": str, "type": str, "help": str}}`` in declaration order
        (``default`` is the source text of the default value).

    Examples
    --------
    >>> from astrotinyml.apps.pipeline import notebook_parameters, notebooks_dir
    >>> "out_dir" in notebook_parameters(notebooks_dir() / "02_detrend_and_search.ipynb")  # doctest: +SKIP
    True
    """
    import papermill

    info = papermill.inspect_notebook(str(path))
    return {name: {"default": p.get("default"), "type": p.get("inferred_type_name"), "help": p.get("help", "")}
            for name, p in info.items()}


def parse_value(text: str) -> Any:
    """Parse a ``-p name value`` command-line value: JSON / Python literal, else the string.

    Parameters
    ----------
    text : str

    Returns
    -------
    bool, int, float, None, list, dict or str

    Examples
    --------
    >>> from astrotinyml.apps.pipeline import parse_value
    >>> parse_value("3"), parse_value("0.5"), parse_value("true"), parse_value("None"), parse_value("TIC 1")
    (3, 0.5, True, None, 'TIC 1')
    """
    s = text.strip()
    low = s.lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for parse in (json.loads, ast.literal_eval):
        try:
            return parse(s)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return text


def _resolve_notebooks(notebooks) -> list[Path]:
    if notebooks is None:
        base = notebooks_dir()
        return [base / name for name in PIPELINE_NOTEBOOKS]
    if isinstance(notebooks, (str, os.PathLike)):
        notebooks = [notebooks]
    out = []
    for nb in notebooks:
        p = Path(nb)
        if not p.suffix:
            p = p.with_suffix(".ipynb")
        if not p.is_file() and not p.is_absolute() and len(p.parts) == 1:
            p = notebooks_dir() / p
        if not p.is_file():
            raise InvalidParameterError(f"run_pipeline: notebook {str(nb)!r} not found ({p}).")
        out.append(p)
    if not out:
        raise InvalidParameterError("run_pipeline: the list of notebooks is empty.")
    return out


def _kernel_python(kernel_name: str) -> str | None:
    """Interpreter a kernel spec starts (``sys.executable`` for the plain ``python`` argv)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    try:
        spec = KernelSpecManager().get_kernel_spec(kernel_name)
    except NoSuchKernel:
        raise InvalidParameterError(
            f"run_pipeline: no Jupyter kernel named {kernel_name!r}; install one with "
            f"`{sys.executable} -m ipykernel install --sys-prefix` or pass kernel_name='python3'."
        ) from None
    argv0 = spec.argv[0] if spec.argv else ""
    major, minor = sys.version_info[:2]
    # jupyter_client starts sys.executable for these names (the interpreter running papermill).
    if argv0 in ("python", f"python{major}", f"python{major}.{minor}"):
        return sys.executable
    return argv0


def _check_kernel(kernel_name: str) -> None:
    python = _kernel_python(kernel_name)
    if python and os.path.realpath(python) != os.path.realpath(sys.executable):
        warnings.warn(
            f"run_pipeline: kernel {kernel_name!r} runs {python}, not this interpreter ({sys.executable}); "
            "the notebooks need an interpreter where astrotinyml is installed.", RuntimeWarning, stacklevel=3)


def _default_out_dir(label: str) -> Path:
    stamp = _time.strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "run"
    return Path("runs") / f"{stamp}-{safe}"


# ----------------------------------------------------------------------------------------------
# Running


def _failing_cell(executed, source_nb):
    """(1-based source cell number, execution count, source) of the cell that raised."""
    for cell in executed.cells:
        if cell.get("cell_type") != "code":
            continue
        if any(o.get("output_type") == "error" for o in cell.get("outputs", [])):
            number = None
            cid = cell.get("id")
            for i, c in enumerate(source_nb.cells):
                if cid is not None and c.get("id") == cid:
                    number = i + 1
                    break
            return number, cell.get("execution_count"), cell.get("source", "")
    return None, None, ""


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def _failing_line(source: str, traceback: Sequence[str] | None) -> str:
    """The line of the cell that raised (from IPython's ``---->`` marker), else its first code line."""
    text = _ANSI.sub("", "\n".join(traceback or []))
    in_cell = False
    for line in text.splitlines():
        if line.startswith("Cell In["):
            in_cell = True
        elif in_cell:
            m = re.match(r"\s*-+>\s*(\d+)\s+(.*)", line)
            if m:
                return f"line {m.group(1)}: {m.group(2).strip()}"
    for line in source.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            return line.strip()
    return ""


def run_pipeline(
    *,
    target: str | None = None,
    input_path: str | os.PathLike | Sequence[str | os.PathLike] | None = None,
    out_dir: str | os.PathLike | None = None,
    parameters: dict[str, Any] | None = None,
    notebooks: Sequence[str | os.PathLike] | None = None,
    kernel_name: str | None = None,
    smoke: bool = False,
    overwrite: bool = False,
    log_output: bool = False,
    start_timeout: float = 120,
) -> PipelineResult:
    """Execute the pipeline notebooks in order with papermill.

    Parameters
    ----------
    target : str, optional
        Star to fetch from the archives (01 calls ``astrotinyml.remote.mast.fetch_lightcurve``;
        needs network access or a cached copy).
    input_path : str, path-like or list of them, optional
        Light-curve file(s) of one star to read instead (several files are stitched).
        With neither ``target`` nor ``input_path`` the notebooks' defaults run offline on a
        bundled real light curve (the ``sample`` parameter, WASP-18 by default).
    out_dir : str or path-like, optional
        Run directory for the data files and the executed notebooks; default
        ``runs/<YYYYmmdd-HHMMSS>-<target>``.  Created when missing.
    parameters : dict, optional
        More notebook parameters (``max_planets``, ``window_length``, ``formats``, ...).
        Each notebook receives only those it declares; a name no notebook declares is an
        error.
    notebooks : sequence of str or path-like, optional
        Notebooks to run instead of :data:`PIPELINE_NOTEBOOKS` (names are looked up in
        :func:`notebooks_dir`).
    kernel_name : str, optional
        Jupyter kernel; default ``"python3"``, which jupyter_client maps to the interpreter
        running this function (a warning says so when the spec points elsewhere).
    smoke : bool
        Quick run (the notebooks' ``smoke`` parameter: fewer signals, shorter searches).
    overwrite : bool
        Re-use an ``out_dir`` that already holds executed notebooks (reports are replaced).
    log_output : bool
        Echo the notebooks' output to the log while they run.
    start_timeout : float
        Seconds to wait for a kernel to start.

    Returns
    -------
    PipelineResult
        Executed notebook paths, the parameters each received, the files written and the
        timings.

    Raises
    ------
    PipelineError
        A cell failed: the message names the notebook, the cell number and the error, and
        ``executed_path`` is the executed copy holding the traceback.  Later notebooks are
        not run.
    InvalidParameterError
        Both ``target`` and ``input_path``, an undeclared parameter, a missing notebook or
        kernel.
    OutputExistsError
        ``out_dir`` already holds executed notebooks and ``overwrite`` is false.

    Examples
    --------
    >>> from astrotinyml.apps.pipeline import run_pipeline
    >>> res = run_pipeline(out_dir="runs/wasp18", smoke=True)  # doctest: +SKIP
    >>> sorted(res.outputs)[:3]  # doctest: +SKIP
    ['candidates.ecsv', 'classification.json', 'flat.ecsv']
    """
    if target and input_path:
        raise InvalidParameterError("run_pipeline: give target or input_path, not both.")
    paths = _resolve_notebooks(notebooks)
    kernel_name = kernel_name or "python3"
    _check_kernel(kernel_name)
    params = _run_parameters(target, input_path, parameters, smoke=smoke, overwrite=overwrite)
    out = Path(out_dir) if out_dir is not None else _default_out_dir(_run_label(params))
    out = out.expanduser().resolve()
    params["out_dir"] = str(out)
    declared = _declared_parameters(paths, params)
    _check_out_dir(out, paths, overwrite)
    out.mkdir(parents=True, exist_ok=True)

    result = PipelineResult(out_dir=out, kernel_name=kernel_name)
    t_all = _time.perf_counter()
    for src in paths:
        mine = {k: v for k, v in params.items() if k in declared[src]}
        dst = out / src.name
        result.parameters[src.name] = mine
        t0 = _time.perf_counter()
        _execute(src, dst, mine, kernel_name=kernel_name, cwd=out, log_output=log_output,
                 start_timeout=start_timeout)
        result.timings[src.name] = _time.perf_counter() - t0
        result.notebooks.append(dst)
    result.timings["total"] = _time.perf_counter() - t_all
    result.outputs = _run_outputs(out, result.notebooks)
    return result


def _run_parameters(target, input_path, parameters, *, smoke: bool, overwrite: bool) -> dict[str, Any]:
    """The notebook parameters of a run (all notebooks'; ``out_dir`` is added by the caller)."""
    params: dict[str, Any] = dict(parameters or {})
    if target:
        params["target"] = str(target)
    if input_path:
        if isinstance(input_path, (list, tuple)):
            params["input_path"] = ",".join(os.fspath(p) for p in input_path)
        else:
            params["input_path"] = os.fspath(input_path)
    if "input_path" in params and params["input_path"]:
        # Relative paths are the caller's, but the notebooks run in out_dir.
        params["input_path"] = ",".join(str(Path(p.strip()).expanduser().resolve())
                                        for p in str(params["input_path"]).split(",") if p.strip())
    params["smoke"] = bool(smoke or params.get("smoke", False))
    if "overwrite" not in params:
        params["overwrite"] = bool(overwrite)
    return params


def _run_label(params: dict[str, Any]) -> str:
    """What the default run directory is named after: the target, the first input's stem or the sample."""
    return str(params.get("target") or (Path(str(params["input_path"]).split(",")[0]).stem
                                        if params.get("input_path") else params.get("sample", "sample")))


def _declared_parameters(paths: list[Path], params: dict[str, Any]) -> dict[Path, dict]:
    """Each notebook's declared parameters; a parameter that no notebook declares is an error."""
    declared = {p: notebook_parameters(p) for p in paths}
    known = set().union(*[set(d) for d in declared.values()])
    unknown = sorted(set(params) - known - {"smoke", "overwrite", "out_dir"})
    if unknown:
        raise InvalidParameterError(
            f"run_pipeline: parameter(s) {', '.join(unknown)} are declared by none of "
            f"{', '.join(p.name for p in paths)}; known parameters: {', '.join(sorted(known))}.")
    return declared


def _check_out_dir(out: Path, paths: list[Path], overwrite: bool) -> None:
    existing = [out / p.name for p in paths if (out / p.name).exists()]
    if existing and not overwrite:
        raise OutputExistsError(
            f"{out} already holds executed notebooks ({', '.join(p.name for p in existing)}); pass "
            "overwrite=True (--overwrite) to run again there, or choose another out_dir.")


def _execute(src: Path, dst: Path, parameters: dict, *, kernel_name: str, cwd: Path, log_output: bool,
             start_timeout: float) -> None:
    """Execute one notebook into ``dst``; a failure becomes a :class:`PipelineError` naming the cell."""
    import papermill  # papermill and nbformat stay out of ``import astrotinyml.apps.pipeline``
    from papermill.exceptions import PapermillExecutionError

    try:
        papermill.execute_notebook(
            str(src), str(dst), parameters=parameters, kernel_name=kernel_name, cwd=str(cwd),
            progress_bar=False, log_output=log_output, start_timeout=start_timeout,
            # ipykernel logs a warning about its TCP transport at every start, and jupyter_client
            # interrupts (SIGINT) every kernel it shuts down, which ipykernel logs as an ERROR
            # "KeyboardInterrupt caught in kernel" when it lands in a handler: both are noise.
            # Cell errors come back in the notebook (PipelineError), a dead kernel as an exception.
            extra_arguments=["--IPKernelApp.log_level=CRITICAL"],
        )
    except PapermillExecutionError as err:
        raise _cell_error(src, dst, err) from None
    except AstroTinyMLError:
        raise
    except Exception as err:  # kernel died, timeout, unreadable notebook
        raise PipelineError(
            f"pipeline stopped: {src.name} could not be executed: {type(err).__name__}: {err}",
            notebook=src.name, ename=type(err).__name__, evalue=str(err),
            executed_path=dst if dst.exists() else None,
        ) from err


def _cell_error(src: Path, dst: Path, err) -> PipelineError:
    """The :class:`PipelineError` of a cell that raised: its number in the source notebook and its line."""
    import nbformat

    cell, count, source = None, err.exec_count, err.source
    if dst.exists():
        cell, count2, source2 = _failing_cell(nbformat.read(dst, as_version=4),
                                              nbformat.read(src, as_version=4))
        count = count2 if count2 is not None else count
        source = source2 or source
    where = f"cell {cell}" if cell is not None else f"the cell with execution count {count}"
    return PipelineError(
        f"pipeline stopped: {src.name} failed in {where} ({_failing_line(source, err.traceback)}): "
        f"{err.ename}: {str(err.evalue).rstrip('.')}. The executed copy with the full traceback "
        f"is {dst}.",
        notebook=src.name, cell=cell, execution_count=count, ename=err.ename, evalue=err.evalue,
        source=source, executed_path=dst if dst.exists() else None,
    )


def _run_outputs(out: Path, notebooks: list[Path]) -> dict[str, Path]:
    """Every file of the run directory except the executed notebooks, by path relative to it."""
    executed = {p.resolve() for p in notebooks}
    return {
        p.relative_to(out).as_posix(): p
        for p in sorted(out.rglob("*"))
        if p.is_file() and p.resolve() not in executed and ".ipynb_checkpoints" not in p.parts
    }


# ----------------------------------------------------------------------------------------------
# Files exchanged between the notebooks


def _yaml_safe(value, depth=0):
    """A copy of a meta value that ECSV's YAML header can hold, or a sentinel to drop it."""
    if depth > 4:
        return _DROP
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value)
    if isinstance(value, (list, tuple)):
        items = [_yaml_safe(v, depth + 1) for v in value]
        return [v for v in items if v is not _DROP]
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            v = _yaml_safe(v, depth + 1)
            if v is not _DROP:
                out[str(k)] = v
        return out
    return _DROP


_DROP = object()


def save_lightcurve(lc, path) -> Path:
    """Write a light curve to ECSV, keeping time scale and format, units and metadata.

    Parameters
    ----------
    lc : lightkurve.LightCurve
    path : str or path-like
        Output file (``.ecsv``); replaced when it exists.

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import numpy as np, lightkurve as lk, tempfile, os
    >>> lc = lk.LightCurve(time=np.arange(5.0) + 2458000, flux=np.ones(5), meta={"target": "x"})
    >>> p = save_lightcurve(lc, os.path.join(tempfile.mkdtemp(), "lc.ecsv"))
    >>> load_lightcurve(p).meta["target"]
    'x'
    """
    path = Path(path)
    lc = lc.copy()
    meta = _yaml_safe(dict(lc.meta))
    lc.meta.clear()
    lc.meta.update(meta)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp:
        lc.write(str(tmp), format="ascii.ecsv", overwrite=True)
    return path


def load_lightcurve(path):
    """Read a light curve written by :func:`save_lightcurve`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    lightkurve.LightCurve

    Raises
    ------
    LightCurveFileNotFoundError
        The file does not exist (run the notebook that writes it first).

    Examples
    --------
    See :func:`save_lightcurve`.
    """
    import lightkurve as lk  # lightkurve stays out of ``import astrotinyml.apps.pipeline``

    path = Path(path)
    if not path.is_file():
        raise LightCurveFileNotFoundError(
            f"{path}: not found; run the pipeline notebook that writes it first (see astrotinyml.apps.pipeline).")
    return lk.LightCurve.read(str(path), format="ascii.ecsv")


_VIEW_FLOATS = ("period", "t0", "duration_h", "depth_ppm", "scale_ppm", "secondary_phase", "local_width")


def save_views(views, path) -> Path:
    """Write a list of :class:`~astrotinyml.views.Views` to one ``.npz`` file.

    Parameters
    ----------
    views : list of Views
        Views of the same bin counts (one per candidate; may be empty).
    path : str or path-like

    Returns
    -------
    pathlib.Path

    Examples
    --------
    >>> import numpy as np, lightkurve as lk, tempfile, os
    >>> from astrotinyml.views import fold_views
    >>> t = 2458000 + np.arange(0, 10, 0.005)
    >>> f = np.where(np.abs((t - 2458000.25 + 0.5) % 1 - 0.5) < 0.04, 0.99, 1.0)
    >>> v = fold_views(lk.LightCurve(time=t, flux=f), dict(pl_orbper=1.0, pl_tranmid=2458000.25, pl_trandurh=1.92))
    >>> p = save_views([v, v], os.path.join(tempfile.mkdtemp(), "views.npz"))
    >>> [w.local_view.shape for w in load_views(p)]
    [(61,), (61,)]
    """
    path = Path(path)
    arrays: dict[str, Any] = {"n": np.array(len(views))}
    if views:
        arrays.update(stack_views(list(views)))
        for key in _VIEW_FLOATS:
            arrays[key] = np.array([float(getattr(v, key)) for v in views])
        arrays["scalar_names"] = np.array(list(views[0].scalar_names))
        arrays["missing_scalars"] = np.array([json.dumps(list(v.missing_scalars)) for v in views])
        arrays["meta"] = np.array([json.dumps(dict(v.meta), default=str) for v in views])
    else:
        arrays["scalar_names"] = np.array(list(SCALAR_NAMES))
        for name in VIEW_NAMES:
            arrays[name] = np.zeros((0, 0), dtype=np.float32)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return path


def load_views(path) -> list:
    """Read the list of Views written by :func:`save_views`.

    Parameters
    ----------
    path : str or path-like

    Returns
    -------
    list of Views

    Examples
    --------
    See :func:`save_views`.
    """
    path = Path(path)
    if not path.is_file():
        raise LightCurveFileNotFoundError(f"{path}: not found; run 03_vet_and_classify first.")
    with np.load(path, allow_pickle=False) as z:
        n = int(z["n"])
        out = []
        for i in range(n):
            kwargs = {name: z[name][i] for name in VIEW_NAMES}
            kwargs["scalars"] = z["scalars"][i]
            kwargs["scalar_names"] = tuple(str(s) for s in z["scalar_names"])
            kwargs["missing_scalars"] = tuple(json.loads(str(z["missing_scalars"][i])))
            kwargs["meta"] = json.loads(str(z["meta"][i]))
            for key in _VIEW_FLOATS:
                kwargs[key] = float(z[key][i])
            out.append(Views(**kwargs))
    return out


def load_result(out_dir):
    """Rebuild a :class:`~astrotinyml.detection.DetectionResult` from a run directory.

    Reads ``lightcurve.ecsv`` (raw), ``flat.ecsv``, ``vetted.ecsv`` (``candidates.ecsv``
    when the vetting step has not run), ``views.npz``, ``periodogram.ecsv`` and
    ``search.json``, as written by notebooks 01-03.

    Parameters
    ----------
    out_dir : str or path-like

    Returns
    -------
    DetectionResult
        Its ``periodogram()`` returns the saved spectrum when ``periodogram.ecsv`` exists.

    Examples
    --------
    >>> from astrotinyml.apps.pipeline import load_result
    >>> load_result("runs/wasp18").n_candidates  # doctest: +SKIP
    1
    """
    from astropy.table import QTable  # astropy.table stays out of ``import astrotinyml``

    out = Path(out_dir)
    raw = load_lightcurve(out / "lightcurve.ecsv")
    flat = load_lightcurve(out / "flat.ecsv")
    table_path = out / "vetted.ecsv" if (out / "vetted.ecsv").is_file() else out / "candidates.ecsv"
    candidates = QTable.read(table_path, format="ascii.ecsv")
    views = load_views(out / "views.npz") if (out / "views.npz").is_file() else []
    options = json.loads((out / "search.json").read_text()) if (out / "search.json").is_file() else {}
    meta = json.loads((out / "lightcurve.json").read_text()) if (out / "lightcurve.json").is_file() else {}
    target = meta.get("target") or raw.meta.get("target") or out.name
    timings = dict(options.get("timings", {}))
    if timings:
        timings.setdefault("total", float(sum(timings.values())))
    # The spectrum step 02 saved is handed over, so DetectionResult.periodogram() does not
    # recompute it.
    periodogram = (QTable.read(out / "periodogram.ecsv", format="ascii.ecsv")
                   if (out / "periodogram.ecsv").is_file() else None)
    # The classifier's provenance travels in the vetted table's meta (classify / calibrate
    # wrote it there), so the reports of a pipeline run name the model and the calibration.
    return DetectionResult(target=str(target), raw=raw, flat=flat, candidates=candidates, views=views,
                           options=options.get("options", options), timings=timings,
                           model_sha256=str(candidates.meta.get("classifier_sha256") or ""),
                           calibration_id=candidates.meta.get("calibration_id"),
                           _periodogram=periodogram)


def classifier_status() -> tuple[bool, str]:
    """Whether candidates can be classified in this installation, and why not.

    The classifier needs the ``astrotinyml.classify`` module, a shipped model
    (``astrotinyml/models/registry.json``) and LiteRT (``ai-edge-litert``).

    Returns
    -------
    (bool, str)
        ``(True, "")`` when :func:`astrotinyml.classification.classify` can run, else ``False``
        and the reason in one sentence.

    Examples
    --------
    >>> from astrotinyml.apps.pipeline import classifier_status
    >>> ok, why = classifier_status()
    >>> isinstance(ok, bool) and (ok or len(why) > 0)
    True
    """
    if importlib.util.find_spec("astrotinyml.classification") is None:
        return False, "this version of astrotinyml has no classifier (no astrotinyml.classify module)"
    registry = MODELS_DIR / "registry.json"
    if not registry.is_file():
        return False, "no trained model is shipped yet (astrotinyml/models/registry.json is missing)"
    if importlib.util.find_spec("ai_edge_litert") is None:
        return False, "LiteRT is not installed (pip install ai-edge-litert)"
    return True, ""


def write_json(obj, path) -> Path:
    """Write ``obj`` as indented JSON (NaN as null, numpy and paths as plain values).

    Examples
    --------
    >>> import json, pathlib, tempfile
    >>> from astrotinyml.apps.pipeline import write_json
    >>> p = write_json({"depth_ppm": float("nan"), "n": 2}, pathlib.Path(tempfile.mkdtemp()) / "s.json")
    >>> json.loads(p.read_text())
    {'depth_ppm': None, 'n': 2}
    """
    def clean(v):
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        if hasattr(v, "item") and getattr(v, "ndim", 1) == 0:
            v = v.item()
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, (str, int, float, bool)) or v is None:
            return v
        return str(v)

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path, overwrite=True) as tmp:
        Path(tmp).write_text(json.dumps(clean(obj), indent=2) + "\n", encoding="utf-8")
    return path


# ----------------------------------------------------------------------------------------------
# Command line (wired into ``astrotinyml pipeline`` by astrotinyml.apps.cli)


class _ParamAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        name, value = values
        items = dict(getattr(namespace, self.dest) or {})
        items[name] = parse_value(value)
        setattr(namespace, self.dest, items)


def add_cli_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``astrotinyml pipeline`` options to an argparse (sub)parser.

    Parameters
    ----------
    parser : argparse.ArgumentParser

    Returns
    -------
    argparse.ArgumentParser
        The same parser.

    Examples
    --------
    >>> import argparse
    >>> from astrotinyml.apps.pipeline import add_cli_arguments
    >>> args = add_cli_arguments(argparse.ArgumentParser()).parse_args(["-p", "max_planets", "2"])
    >>> args.parameters
    {'max_planets': 2}
    """
    src = parser.add_mutually_exclusive_group()
    src.add_argument("--target", default=None, help="star to fetch from MAST (network or cache)")
    src.add_argument("--input", dest="input_path", action="append", default=None, metavar="PATH",
                     help="light-curve file; repeat for several files of one star")
    parser.add_argument("--out", dest="out_dir", default=None, metavar="DIR",
                        help="run directory (default: runs/<time>-<target>)")
    parser.add_argument("-p", "--parameter", dest="parameters", nargs=2, action=_ParamAction, default={},
                        metavar=("NAME", "VALUE"),
                        help="notebook parameter (JSON/Python literal or string); repeatable")
    parser.add_argument("--notebook", dest="notebooks", action="append", default=None, metavar="NB",
                        help="run only these notebooks (repeatable; default: the four pipeline notebooks)")
    parser.add_argument("--kernel", dest="kernel_name", default=None, metavar="NAME",
                        help="Jupyter kernel (default python3: the interpreter running this command)")
    parser.add_argument("--smoke", action="store_true", help="quick run with smoke parameters")
    parser.add_argument("--overwrite", action="store_true", help="re-use a run directory")
    parser.add_argument("--log-output", action="store_true", help="echo notebook output while running")
    return parser


def cli_main(args: argparse.Namespace) -> int:
    """Run ``astrotinyml pipeline`` from parsed arguments; prints the executed notebooks and files.

    Parameters
    ----------
    args : argparse.Namespace
        From a parser prepared with :func:`add_cli_arguments`.

    Returns
    -------
    int
        Exit status 0 (errors are raised as :class:`~astrotinyml.errors.AstroTinyMLError`).
    """
    res = run_pipeline(target=args.target, input_path=args.input_path, out_dir=args.out_dir,
                       parameters=args.parameters or None, notebooks=args.notebooks,
                       kernel_name=args.kernel_name, smoke=args.smoke, overwrite=args.overwrite,
                       log_output=args.log_output)
    print(f"pipeline finished in {res.timings['total']:.1f} s; run directory {res.out_dir}")
    for nb in res.notebooks:
        print(f"  executed  {nb.name}  ({res.timings[nb.name]:.1f} s)")
    for rel in res.outputs:
        print(f"  wrote     {rel}")
    return 0
