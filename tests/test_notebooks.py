"""The notebooks: committed clean, parameterized, executed end to end with papermill.

The executed copies come from one session-wide run (tests/_notebook_runs.py): the four
pipeline notebooks through ``run_pipeline`` with smoke parameters on the bundled WASP-18
light curve, plus the Kepler-90 tutorial and the explorer notebook.
"""

from __future__ import annotations

import ast
import json
import sys

import nbformat
import numpy as np
import pytest

from _notebook_runs import NOTEBOOKS, executed_notebooks
from astrotinyml.apps import pipeline
from astrotinyml.errors import InvalidParameterError
from astrotinyml.apps.pipeline import PIPELINE_NOTEBOOKS, PipelineError, run_pipeline

ALL_NOTEBOOKS = sorted(NOTEBOOKS.glob("*.ipynb"))
#: Notebooks of the pipeline and the book's tutorials (typed, documented parameters).
BOOK_NOTEBOOKS = [NOTEBOOKS / n for n in (*PIPELINE_NOTEBOOKS, "tutorial_kepler90.ipynb", "vet_a_toi.ipynb",
                                          "explore.ipynb")]
STANDARD = {"target", "input_path", "mission", "sector", "out_dir", "offline", "smoke"}


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return executed_notebooks(tmp_path_factory)


def _parameters_cells(nb):
    return [c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])]


# -- committed sources ---------------------------------------------------------------------


def test_the_expected_notebooks_exist():
    names = {p.name for p in ALL_NOTEBOOKS}
    assert set(PIPELINE_NOTEBOOKS) <= names
    assert {"tutorial_kepler90.ipynb", "explore.ipynb"} <= names


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
def test_committed_notebooks_have_no_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name} cell {i + 1} has outputs: clear them before committing"
            assert cell.execution_count is None, f"{path.name} cell {i + 1} has an execution count"
        assert "id" in cell, f"{path.name} cell {i + 1} has no id (nbformat >= 4.5)"
    assert "widgets" not in nb.metadata, f"{path.name} stores widget state"
    assert "papermill" not in nb.metadata, f"{path.name} is an executed copy, not a source notebook"


@pytest.mark.parametrize("path", ALL_NOTEBOOKS, ids=lambda p: p.name)
def test_parameters_cell_is_parsed_completely(path):
    # papermill silently skips lines it cannot parse (e.g. an "=" inside a comment): every
    # assignment of the parameters cell must come back from inspect_notebook, with a type.
    nb = nbformat.read(path, as_version=4)
    cells = _parameters_cells(nb)
    assert len(cells) == 1, f"{path.name}: exactly one cell tagged 'parameters'"
    assigned = []
    for node in ast.parse(cells[0].source).body:
        if isinstance(node, ast.AnnAssign):
            assigned.append(node.target.id)
        elif isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            assigned.append(node.targets[0].id)
    declared = pipeline.notebook_parameters(path)
    assert list(declared) == assigned, f"{path.name}: papermill could not parse every parameter line"


@pytest.mark.parametrize("path", BOOK_NOTEBOOKS, ids=lambda p: p.name)
def test_book_notebook_parameters_are_typed_and_documented(path):
    declared = pipeline.notebook_parameters(path)
    assert declared
    for name, info in declared.items():
        assert info["type"] not in (None, "None"), f"{path.name}: {name} has no type annotation"
        assert info["help"], f"{path.name}: {name} has no help comment"


def test_pipeline_notebooks_declare_the_standard_parameters():
    declared = set()
    for name in PIPELINE_NOTEBOOKS:
        params = pipeline.notebook_parameters(NOTEBOOKS / name)
        assert {"out_dir", "smoke"} <= set(params), name
        declared |= set(params)
    assert STANDARD <= declared
    first = pipeline.notebook_parameters(NOTEBOOKS / PIPELINE_NOTEBOOKS[0])
    assert STANDARD <= set(first)
    assert first["input_path"]["default"] == '""' and first["sample"]["default"] == '"wasp-18"'


# -- executed ------------------------------------------------------------------------------


def _errors(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"]


def test_pipeline_writes_every_step_file(executed):
    run = executed["run_dir"]
    for name in PIPELINE_NOTEBOOKS:
        nb = nbformat.read(run / name, as_version=4)
        assert not _errors(nb), name
        assert nb.metadata["papermill"]["parameters"]["smoke"] is True
    for f in ("lightcurve.ecsv", "lightcurve.json", "flat.ecsv", "candidates.ecsv", "periodogram.ecsv",
              "search.json", "vetted.ecsv", "views.npz", "classification.json", "summary.json"):
        assert (run / f).is_file() and (run / f).stat().st_size > 0, f
    reports = {p.suffix for p in (run / "report").iterdir()}
    assert {".pdf", ".json", ".fits", ".csv"} <= reports


def test_each_notebook_received_only_its_declared_parameters(executed):
    run = executed["run_dir"]
    for name in PIPELINE_NOTEBOOKS:
        nb = nbformat.read(run / name, as_version=4)
        given = set(nb.metadata["papermill"]["parameters"])
        assert given <= set(pipeline.notebook_parameters(NOTEBOOKS / name)), name
    search_params = nbformat.read(run / PIPELINE_NOTEBOOKS[1], as_version=4).metadata["papermill"]["parameters"]
    assert "target" not in search_params and "input_path" not in search_params


def test_kernel_was_this_interpreter(executed):
    meta = json.loads((executed["run_dir"] / "lightcurve.json").read_text())
    assert meta["python"] == sys.executable
    assert meta["mission"] == "TESS" and meta["sectors"] == [2]


def test_pipeline_finds_wasp18b_and_files_round_trip(executed):
    run = executed["run_dir"]
    result = pipeline.load_result(run)
    periods = [float(p.value) for p in result.candidates["pl_orbper"]]
    assert any(abs(p - 0.941453) < 0.002 for p in periods), periods
    assert len(result.views) == len(result.candidates)
    assert result.flat.meta.get("DETREND_WINDOW") and "trend" in result.flat.colnames
    assert result.raw.time.scale == "tdb"
    assert np.isfinite(result.raw.time.jd).all()
    assert "vet_flags" in result.candidates.colnames
    summary = json.loads((run / "summary.json").read_text())
    assert summary["n_candidates"] == len(result.candidates)


def test_classification_step_is_honest(executed):
    run = executed["run_dir"]
    status = json.loads((run / "classification.json").read_text())
    vetted = pipeline.load_result(run).candidates
    available, reason = pipeline.classifier_status()
    assert status["available"] is available
    if available:
        assert {"label", "p_planet"} <= set(vetted.colnames)
    else:
        assert reason in status["message"]
        assert "label" not in vetted.colnames and not any(c.startswith("p_") for c in vetted.colnames)


def test_pipeline_gives_what_detect_gives(executed):
    # One code path: the notebooks call detect's search_masked and characterize, so the run
    # directory holds detect()'s answer on the same bundled file (smoke: max_planets 2).
    from astrotinyml import datasets, detect

    run = executed["run_dir"]
    piped = pipeline.load_result(run)
    direct = detect(datasets.sample_path("wasp-18"), max_planets=2)
    assert len(piped.candidates) == len(direct.candidates) >= 1
    for col in ("pl_orbper", "pl_tranmid", "p_planet", "p_eb"):
        np.testing.assert_allclose(np.asarray(getattr(piped.candidates[col], "value", piped.candidates[col]), float),
                                   np.asarray(getattr(direct.candidates[col], "value", direct.candidates[col]), float),
                                   rtol=1e-9, err_msg=col)
    assert list(piped.candidates["label"]) == list(direct.candidates["label"])
    assert piped.candidates.meta["classifier_calibrated"] is True
    assert piped.candidates.meta["classifier_threshold"] == direct.candidates.meta["classifier_threshold"]
    assert piped.model_sha256 == direct.model_sha256 and len(piped.model_sha256) == 64
    assert piped.calibration_id == direct.calibration_id is not None
    status = json.loads((run / "classification.json").read_text())
    assert status["calibration_id"] == direct.calibration_id and status["model_sha256"] == direct.model_sha256
    report = json.loads(next((run / "report").glob("*.json")).read_text())
    assert report["provenance"]["model_sha256"] == direct.model_sha256
    assert report["provenance"]["calibration_id"] == direct.calibration_id


@pytest.mark.parametrize("name", ["tutorial_kepler90", "vet_a_toi", "explore"])
def test_tutorial_and_explorer_notebooks_execute(executed, name):
    nb = nbformat.read(executed["paths"][name], as_version=4)
    assert not _errors(nb)
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{name}: figures missing"


def test_kepler90_tutorial_recovers_known_planets(executed):
    nb = nbformat.read(executed["paths"]["tutorial_kepler90"], as_version=4)
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "candidate #" in text and "not found" in text  # the comparison table was printed


# -- run_pipeline behaviour ------------------------------------------------------------------


def test_failing_cell_is_reported_with_notebook_and_cell(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(PipelineError) as info:
        run_pipeline(input_path=tmp_path / "no_such_star_llc.fits", out_dir=out)
    err = info.value
    assert err.notebook == "01_fetch_and_inspect.ipynb"
    assert err.ename == "LightCurveFileNotFoundError"
    source = nbformat.read(NOTEBOOKS / err.notebook, as_version=4)
    assert "read_lightcurve(paths[0]" in source.cells[err.cell - 1].source
    msg = str(err)
    assert f"01_fetch_and_inspect.ipynb failed in cell {err.cell}" in msg
    assert "no_such_star_llc.fits" in msg and "read_lightcurve" in msg
    # The executed copy keeps the traceback; the later notebooks did not run.
    assert err.executed_path == out / "01_fetch_and_inspect.ipynb"
    assert _errors(nbformat.read(err.executed_path, as_version=4))
    assert not (out / "02_detrend_and_search.ipynb").exists()


def test_target_branch_calls_fetch_and_reports_its_error(tmp_path):
    # Tests are offline with an empty cache: fetching must fail cleanly inside notebook 1.
    with pytest.raises(PipelineError) as info:
        run_pipeline(target="WASP-18", out_dir=tmp_path / "run", notebooks=[PIPELINE_NOTEBOOKS[0]],
                     parameters={"mission": "TESS", "sector": 2, "offline": True})
    err = info.value
    assert err.notebook == PIPELINE_NOTEBOOKS[0] and "fetch_lightcurve(" in err.source
    assert err.ename.endswith("Error") and "WASP-18" in str(err)


def test_unknown_parameter_is_refused_before_running(tmp_path):
    with pytest.raises(InvalidParameterError, match="max_planetz"):
        run_pipeline(out_dir=tmp_path / "x", parameters={"max_planetz": 3})
    assert not (tmp_path / "x").exists()


def test_target_and_input_are_exclusive(tmp_path):
    with pytest.raises(InvalidParameterError, match="not both"):
        run_pipeline(target="WASP-18", input_path="x.fits", out_dir=tmp_path)


def test_existing_run_directory_needs_overwrite(executed):
    from astrotinyml.report import OutputExistsError

    with pytest.raises(OutputExistsError, match="overwrite"):
        run_pipeline(out_dir=executed["run_dir"])


def test_cli_arguments_parse():
    import argparse

    parser = pipeline.add_cli_arguments(argparse.ArgumentParser())
    args = parser.parse_args(["--input", "a.fits", "--input", "b.fits", "--out", "runs/x", "-p", "max_planets", "2",
                              "-p", "formats", "json,csv", "-p", "smoke", "true", "--overwrite"])
    assert args.input_path == ["a.fits", "b.fits"] and args.out_dir == "runs/x" and args.overwrite
    assert args.parameters == {"max_planets": 2, "formats": "json,csv", "smoke": True}
    with pytest.raises(SystemExit):
        parser.parse_args(["--target", "X", "--input", "a.fits"])


@pytest.mark.parametrize("text, value", [("3", 3), ("2.5", 2.5), ("false", False), ("None", None),
                                         ("[1, 2]", [1, 2]), ("TIC 100100827", "TIC 100100827"),
                                         ("WASP-18", "WASP-18")])
def test_parse_value(text, value):
    assert pipeline.parse_value(text) == value


def test_views_round_trip(tmp_path):
    import lightkurve as lk

    from astrotinyml.views import fold_views

    t = 2458000 + np.arange(0, 10, 0.005)
    f = np.where(np.abs((t - 2458000.25 + 0.5) % 1 - 0.5) < 0.04, 0.99, 1.0)
    v = fold_views(lk.LightCurve(time=t, flux=f), dict(pl_orbper=1.0, pl_tranmid=2458000.25, pl_trandurh=1.92))
    back = pipeline.load_views(pipeline.save_views([v], tmp_path / "v.npz"))[0]
    for name in ("global_view", "local_view", "odd_view", "even_view", "secondary_view", "scalars"):
        np.testing.assert_array_equal(getattr(back, name), getattr(v, name))
    assert back.period == v.period and back.scalar_names == v.scalar_names
    assert pipeline.load_views(pipeline.save_views([], tmp_path / "e.npz")) == []


def test_import_stays_light():
    import subprocess

    code = ("import sys, astrotinyml, astrotinyml.apps.pipeline; "
            "print(','.join(m for m in ('papermill', 'ipywidgets', 'nbformat', 'lightkurve', 'matplotlib') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
