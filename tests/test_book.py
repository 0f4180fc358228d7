"""The Jupyter Book builds offline from the executed notebooks and renders in a real browser.

The book is built (``book/build.py``: warnings and missing references are errors) from the
notebooks executed once per session (tests/_notebook_runs.py), then the index, a tutorial and
the API page are opened in headless Chromium: the rendered DOM must show the navigation, the
tutorial's figures (img tags whose files exist and are PNGs) and the API signatures.
Set ``ASTROTINYML_BOOK_SCREENSHOTS=DIR`` to keep the screenshots.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from _notebook_runs import book_builder, executed_notebooks


CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--hide-scrollbars"]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    return None


@pytest.fixture(scope="module")
def html(tmp_path_factory) -> Path:
    executed = executed_notebooks(tmp_path_factory)
    builder = book_builder()
    out = tmp_path_factory.mktemp("book")
    staging = builder.stage(executed["paths"], out / "_build" / "src")
    index = builder.build_html(staging, out, strict=True)
    return index.parent


def _browser(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess:
    exe = _chromium()
    if exe is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium; `make book` installs it)")
    profile = tmp_path / "chromium-profile"
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def _dom(page: Path, tmp_path: Path) -> str:
    proc = _browser(["--virtual-time-budget=3000", "--dump-dom", page.as_uri()], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "<html" in proc.stdout, f"no DOM for {page}"
    return proc.stdout


def _screenshot(page: Path, tmp_path: Path, name: str, height: int = 2400) -> Path:
    png = tmp_path / name
    proc = _browser([f"--window-size=1300,{height}", f"--screenshot={png}", page.as_uri()], tmp_path)
    assert proc.returncode == 0 and png.is_file() and png.stat().st_size > 20_000, proc.stderr[-2000:]
    keep = os.environ.get("ASTROTINYML_BOOK_SCREENSHOTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy2(png, Path(keep) / name)
    return png


def _images(dom: str, page: Path) -> list[Path]:
    out = []
    for src in re.findall(r"<img[^>]*\ssrc=\"([^\"]+)\"", dom):
        url = urlparse(src)
        if url.scheme in ("http", "https", "data"):
            continue
        path = Path(unquote(url.path)) if url.scheme == "file" else (page.parent / unquote(url.path))
        out.append(path.resolve())
    return out


def test_book_pages_exist(html):
    for rel in ("index.html", "intro.html", "installation.html", "api.html", "model_card.html",
                "howto/calibration.html", "howto/microcontroller.html", "tutorials/index.html",
                "tutorials/01_fetch_and_inspect.html", "tutorials/02_detrend_and_search.html",
                "tutorials/03_vet_and_classify.html", "tutorials/04_report.html",
                "tutorials/tutorial_kepler90.html", "tutorials/vet_a_toi.html",
                "tutorials/explore.html"):
        assert (html / rel).is_file(), rel
    if (book_builder().BOOK / "howto" / "batch.md").is_file():
        assert (html / "howto" / "batch.html").is_file()


def test_index_renders_with_navigation(html, tmp_path):
    assert "intro.html" in (html / "index.html").read_text(encoding="utf-8")  # index redirects to the root page
    index = html / "intro.html"
    dom = _dom(index, tmp_path)
    assert "Find and vet transiting exoplanets" in dom
    for link in ("tutorials/01_fetch_and_inspect.html", "api.html", "howto/microcontroller.html"):
        assert link in dom, f"navigation link to {link} missing"
    _screenshot(index, tmp_path, "index.png", height=1400)


def test_tutorial_page_shows_figures_and_outputs(html, tmp_path):
    page = html / "tutorials" / "02_detrend_and_search.html"
    dom = _dom(page, tmp_path)
    images = _images(dom, page)
    assert len(images) >= 3, f"expected the detrending, periodogram and transit figures, got {images}"
    for img in images:
        assert img.is_file() and img.stat().st_size > 5_000, img
        assert img.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", img
    assert "pl_orbper" in dom and "window" in dom  # the candidates table and printed outputs
    assert "Traceback" not in dom
    png = _screenshot(page, tmp_path, "tutorial_02.png", height=3000)
    assert png.stat().st_size > 100_000  # a page with figures, not a blank one


def test_api_page_renders_signatures(html, tmp_path):
    dom = _dom(html / "api.html", tmp_path)
    for module, name in (("astrotinyml.io.read.", "read_lightcurve"), ("astrotinyml.detrending.", "detrend"),
                         ("astrotinyml.searching.", "search"), ("astrotinyml.detection.", "detect"),
                         ("astrotinyml.apps.pipeline.", "run_pipeline"), ("astrotinyml.apps.widgets.", "explore")):
        assert re.search(rf'{re.escape(module)}</span></span><span class="sig-name descname">'
                         rf'<span class="pre">{name}</span>', dom), f"{module}{name} signature missing"
    assert "flux_column" in dom  # parameters rendered from the numpydoc docstrings


def test_status_pages_say_what_exists(html):
    card = (html / "model_card.html").read_text(encoding="utf-8")
    micro = (html / "howto" / "microcontroller.html").read_text(encoding="utf-8")
    shipped = (book_builder().PACKAGE / "models" / "registry.json").is_file()
    assert ("No trained model ships" in micro) is (not shipped)
    assert "g_astrotinyml_model" in micro
    # The placeholders were substituted (the card itself may name MODEL_CARD.md).
    assert "<!-- MODEL_CARD -->" not in card and "<!-- MODEL_STATUS -->" not in micro
    if shipped:
        assert "counted from the converted int8 graph" in card


def test_book_is_offline_and_portable(html, tmp_path_factory):
    # No widget JavaScript from a CDN, no build-machine path in papermill's injected cell.
    executed = executed_notebooks(tmp_path_factory)
    for page in (html / "tutorials").glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "cdn.jsdelivr.net" not in text and "cdnjs.cloudflare.com" not in text, page.name
        assert str(executed["run_dir"]) not in text and str(book_builder().REPO) not in text, page.name
    intro = (html / "intro.html").read_text(encoding="utf-8")
    assert "being built" not in intro and "out of fold" in intro
    assert (html / "columns.html").is_file()


def test_portable_notebook_rewrites_paths_and_widgets(tmp_path):
    import json

    builder = book_builder()
    work = tmp_path / "executed"
    nb = {"nbformat": 4, "nbformat_minor": 5, "metadata": {"widgets": {"state": {}}},
          "cells": [{"cell_type": "code", "id": "a", "metadata": {"tags": ["injected-parameters"]},
                     "source": f'out_dir = "{work / "run"}"\n', "outputs": [], "execution_count": 1},
                    {"cell_type": "code", "id": "b", "metadata": {}, "source": "ex", "execution_count": 2,
                     "outputs": [{"output_type": "execute_result", "execution_count": 2, "metadata": {},
                                  "data": {"application/vnd.jupyter.widget-view+json": {"model_id": "x"},
                                           "text/plain": "Explorer(...)"}}]}]}
    out = json.loads(builder.portable_notebook(json.dumps(nb), [(str(work / "run"), "run"), (str(work), ".")]))
    assert out["cells"][0]["source"] == 'out_dir = "run"\n'
    assert "widgets" not in out["metadata"]
    data = out["cells"][1]["outputs"][0]["data"]
    assert "application/vnd.jupyter.widget-view+json" not in data and "live Jupyter kernel" in data["text/html"]


def test_intro_status_reads_the_model_card():
    import json

    builder = book_builder()
    assert "<!-- INTRO_STATUS -->" in (builder.BOOK / "intro.md").read_text(encoding="utf-8")
    status = builder._intro_status()
    card = json.loads((builder.PACKAGE / "models" / "MODEL_CARD.json").read_text())
    recall = card["metrics"]["real_out_of_fold"]["int8"]["subsets"]["planets_snr_ge_7"]["planet_recall"]
    assert f"{recall:.1%}" in status and "real labelled stars" in status and "being built" not in status
    config = (builder.BOOK / "_config.yml").read_text(encoding="utf-8")
    assert "nb_ipywidgets_js: {}" in config  # no CDN script for widgets in the offline book
