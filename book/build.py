"""Build the astrotinyml Jupyter Book offline: ``make book`` runs ``python book/build.py``.

Steps:

1. Execute the notebooks with papermill on the bundled data: the four pipeline notebooks
   through :func:`astrotinyml.apps.pipeline.run_pipeline` into one run directory (smoke
   parameters), then the tutorial and explorer notebooks (their defaults).  ``--executed DIR`` skips this and
   takes already executed copies from DIR (the test suite passes the ones it ran).
2. Stage the book: copy ``book/`` to a staging directory, put the executed notebooks into
   ``tutorials/``, fill in the status paragraphs of the pages about features that may not
   exist yet (model, model card, calibration) from what this checkout contains, and drop
   table-of-contents entries whose page is absent (e.g. a how-to not written yet).
3. Build HTML with Jupyter Book 1.x (``execute_notebooks: off``: the executed outputs are
   rendered, nothing runs) with ``-W -n --keep-going``: every warning, including each
   missing cross-reference, fails the build.

Usage::

    python book/build.py                      # -> book/_build/html/index.html
    python book/build.py --executed runs/x    # reuse executed notebooks
    python book/build.py --out /tmp/book      # build somewhere else
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

BOOK = Path(__file__).resolve().parent
REPO = BOOK.parent
NOTEBOOKS = REPO / "notebooks"
PACKAGE = REPO / "astrotinyml"

#: Executed notebooks the book renders, in tutorials/.
PIPELINE = ("01_fetch_and_inspect", "02_detrend_and_search", "03_vet_and_classify", "04_report")
EXTRA = ("tutorial_kepler90", "vet_a_toi", "explore")
TUTORIALS = PIPELINE + EXTRA


def log(msg: str) -> None:
    print(f"[book] {msg}", flush=True)


def execute_notebooks(work: Path, *, smoke: bool = True, smoke_tutorials: bool | None = None,
                      kernel_name: str | None = None) -> dict[str, Path]:
    """Execute the pipeline, tutorial and explorer notebooks; return {name: executed path}.

    ``smoke`` is the pipeline notebooks' smoke parameter; ``smoke_tutorials`` (default: the
    same) that of the tutorial and explorer notebooks.
    """
    smoke_tutorials = smoke if smoke_tutorials is None else smoke_tutorials
    import papermill

    from astrotinyml.apps.pipeline import run_pipeline

    work = Path(work)
    work.mkdir(parents=True, exist_ok=True)
    env_offline = os.environ.setdefault("ASTROTINYML_OFFLINE", "1")
    log(f"executing the pipeline notebooks (smoke={smoke}, ASTROTINYML_OFFLINE={env_offline}) in {work / 'run'}")
    t0 = time.perf_counter()
    res = run_pipeline(out_dir=work / "run", smoke=smoke, overwrite=True, kernel_name=kernel_name)
    out = {p.stem: p for p in res.notebooks}
    for name in EXTRA:
        dst = work / f"{name}.ipynb"
        log(f"executing {name}.ipynb")
        papermill.execute_notebook(str(NOTEBOOKS / f"{name}.ipynb"), str(dst), parameters={"smoke": smoke_tutorials},
                                   kernel_name=kernel_name or "python3", cwd=str(work), progress_bar=False,
                                   # jupyter_client interrupts (SIGINT) every kernel it shuts down, and
                                   # ipykernel logs "KeyboardInterrupt caught in kernel" at ERROR when that
                                   # lands in a handler: noise, not an error (cell errors are in the outputs).
                                   extra_arguments=["--IPKernelApp.log_level=CRITICAL"])
        out[name] = dst
    log(f"notebooks executed in {time.perf_counter() - t0:.0f} s")
    return out


def _model_status() -> tuple[str, str]:
    """(status paragraph for the microcontroller page, model card page body)."""
    models = PACKAGE / "models"
    registry = models / "registry.json"
    cards = sorted(models.glob("*.md")) if models.is_dir() else []
    if not registry.is_file():
        status = (
            "No trained model ships with this version yet: `astrotinyml/models/` holds no "
            "`registry.json`. The export code is in place (`astrotinyml.training.export`: TFLite "
            "conversion, MAC count, tensor-arena estimate, Cortex-M4 latency estimate, C array and "
            "model card); the shipped int8 model, its C array and its model card arrive with the "
            "classifier. Until then the pipeline reports no classification, and says so."
            if (PACKAGE / "model" / "export.py").is_file() else
            "No classifier exists in this version yet: there is no model to export. This page "
            "describes the planned export so that it can be checked against the code once it lands."
        )
    else:
        files = sorted(p for p in models.iterdir() if p.is_file())
        rows = "\n".join(f"| `{p.name}` | {p.stat().st_size / 1024:.1f} KiB |" for p in files)
        status = ("The shipped model is in `astrotinyml/models/`:\n\n| file | size |\n|---|---|\n" + rows +
                  "\n\nIts parameters, multiply-accumulates, the tensor arena TensorFlow Lite Micro "
                  "needs (measured) and the Cortex-M4 instruction count under QEMU (measured; "
                  "milliseconds from a stated cycles-per-instruction assumption) are in the "
                  "[model card](../model_card.md).")
    if cards:
        text = cards[0].read_text(encoding="utf-8")
        # The card brings its own title; demote it so the page has one h1.
        body = re.sub(r"^# .*\n", "", text, count=1)
        card = f"From `astrotinyml/models/{cards[0].name}`, the card written by the model export.\n\n{body}"
    else:
        card = ("No model card yet: no trained model ships with this version of astrotinyml "
                "(`astrotinyml/models/` has no model card). The card is written by the model export "
                "(`astrotinyml.training.export.write_model_card`) when the classifier is trained, with the "
                "parameter count, multiply-accumulates, flatbuffer size, tensor-arena estimate, estimated "
                "Cortex-M4 latency, metrics on simulated and real light curves, and the training data.")
    return status, card


def _calibration_status() -> str:
    if (PACKAGE / "calibrate.py").is_file() or (PACKAGE / "calibrate").is_dir():
        return ("The `astrotinyml.calibration.store` module is part of this version; `astrotinyml calibrate "
                "--help` lists its options and `notebooks/calibrate.ipynb` (when present) walks through a run.")
    return ("Not yet: this version of astrotinyml has no calibration module, ships no default calibration, "
            "and reports carry `calibration_id: null`. The classifier's probabilities, once it ships, are "
            "its raw softmax outputs until a calibration run exists.")


def _architecture() -> str:
    """ARCHITECTURE.md of the repository, without its title (the page has its own)."""
    text = (REPO / "ARCHITECTURE.md").read_text(encoding="utf-8")
    return text.split("\n", 1)[1].lstrip() if text.startswith("# ") else text


def _intro_status() -> str:
    """The intro's status paragraph, with the shipped model's numbers read from its card."""
    import json

    card = PACKAGE / "models" / "MODEL_CARD.json"
    base = ("Reading, detrending, the search, vetting, folded views, the classifier, its calibration, "
            "reports, the papermill pipeline and the explorer are in place and exercised by the tutorials.")
    if not card.is_file():
        return base + " No trained classifier ships with this checkout (no `astrotinyml/models/MODEL_CARD.json`)."
    c = json.loads(card.read_text(encoding="utf-8"))
    oof = c.get("metrics", {}).get("real_out_of_fold", {})
    sub = oof.get("int8", {}).get("subsets", {}).get("planets_snr_ge_7", {})
    cal = oof.get("int8", {}).get("calibration", {})
    n_sim = c.get("training_data", {}).get("n_examples")
    if not sub:
        return base + " The shipped classifier's card holds no out-of-fold numbers on real stars."
    size = c.get("tflite_bytes", {})
    size = size.get("int8") if isinstance(size, dict) else size
    return (base + f" The shipped classifier (`{c.get('name', 'model')}`, int8, {size:,} bytes) "
            f"is trained on real labelled stars and {n_sim:,} simulated examples; out of fold on the real stars "
            f"({oof.get('folds', '?')} folds grouped by star, {sub.get('n_planets')} planets with vet SNR >= 7 and "
            f"{sub.get('n_non_planets')} non-planet signals) it recovers {sub.get('planet_recall'):.1%} of the planets, "
            f"calls {sub.get('non_planets_not_planet'):.1%} of the non-planets (eclipsing binaries "
            f"{sub.get('eb_not_planet'):.1%}) something else, AUC {sub.get('auc'):.3f}; calibration brings the "
            f"expected calibration error from {cal.get('ece_out_of_fold_before')} to {cal.get('ece_out_of_fold_after')}. "
            "The [model card](model_card.md) has the rest (these numbers are read from it when the book is built).")


#: Absolute paths a rendered notebook must not show (the build machine's), longest first.
def _path_replacements(executed: dict[str, Path]) -> list[tuple[str, str]]:
    pairs = []
    run_dirs = {Path(executed[n]).resolve().parent for n in PIPELINE if n in executed}
    work_dirs = {Path(executed[n]).resolve().parent for n in EXTRA if n in executed}
    pairs += [(str(d), "run") for d in run_dirs] + [(str(d), ".") for d in work_dirs]
    pairs += [(str(REPO) + os.sep, ""), (sys.executable, "python"), (str(Path.home()), "~")]
    return sorted(set(pairs), key=lambda kv: -len(kv[0]))


def portable_notebook(text: str, replacements: list[tuple[str, str]]) -> str:
    """An executed notebook (JSON text) as the offline book renders it.

    The build machine's paths (papermill's injected ``out_dir``, printed file names, the
    interpreter) become relative ones; widget views are replaced by a note and the widget
    state is dropped, so the page loads no widget JavaScript from a CDN (the widget needs a
    live kernel anyway; the explorer notebook shows its figures as static pictures).
    """
    import json

    for old, new in replacements:
        if old:
            text = text.replace(json.dumps(old)[1:-1], json.dumps(new)[1:-1] if new else "")
    nb = json.loads(text)
    nb.get("metadata", {}).pop("widgets", None)
    note = ("<p><i>Interactive widget: it needs a live Jupyter kernel, so this offline page shows the "
            "explorer's figures as static pictures below.</i></p>")
    for cell in nb.get("cells", []):
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if "application/vnd.jupyter.widget-view+json" in data:
                out["data"] = {"text/html": note, "text/plain": "interactive widget (needs a live kernel)"}
    return json.dumps(nb, indent=1, ensure_ascii=False) + "\n"


def stage(executed: dict[str, Path], staging: Path) -> Path:
    """Copy book/ to ``staging`` with the executed notebooks and generated status text."""
    staging = Path(staging)
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(BOOK, staging, ignore=shutil.ignore_patterns("_build", "__pycache__", "*.ipynb",
                                                                  ".ipynb_checkpoints", "build.py"))
    missing = [n for n in TUTORIALS if n not in executed]
    if missing:
        raise SystemExit(f"book: executed notebook(s) missing: {', '.join(missing)}")
    import json

    replacements = _path_replacements(executed)
    for name in TUTORIALS:
        text = Path(executed[name]).read_text(encoding="utf-8")
        # The run directory papermill injected (which may not be where the copy lies now).
        pm = json.loads(text).get("metadata", {}).get("papermill", {})
        own = [(str(v), "run") for k, v in (pm.get("parameters") or {}).items()
               if k == "out_dir" and isinstance(v, str) and os.path.isabs(v)]
        (staging / "tutorials" / f"{name}.ipynb").write_text(
            portable_notebook(text, sorted(own + replacements, key=lambda kv: -len(kv[0]))), encoding="utf-8")

    status, card = _model_status()
    subs = {"<!-- MODEL_STATUS -->": status, "<!-- MODEL_CARD -->": card,
            "<!-- CALIBRATION_STATUS -->": _calibration_status(), "<!-- INTRO_STATUS -->": _intro_status(),
            "<!-- ARCHITECTURE -->": _architecture()}
    for page in staging.rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        new = text
        for marker, value in subs.items():
            new = new.replace(marker, value)
        if new != text:
            page.write_text(new, encoding="utf-8")

    # Drop TOC entries whose page is absent (how-tos written alongside other features).
    toc = staging / "_toc.yml"
    kept = []
    for line in toc.read_text(encoding="utf-8").splitlines():
        m = re.match(r"\s*- file:\s*(\S+)", line)
        if m and not any((staging / (m.group(1) + ext)).is_file() for ext in (".md", ".ipynb", ".rst")):
            log(f"no page {m.group(1)}: left out of the table of contents")
            continue
        kept.append(line)
    toc.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return staging


def build_html(staging: Path, out: Path, *, strict: bool = True) -> Path:
    """Run Jupyter Book on ``staging``; return the path of ``index.html``."""
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(staging), "--path-output", str(out), "--all"]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    log(" ".join(cmd))
    env = dict(os.environ, PYDEVD_DISABLE_FILE_VALIDATION="1")
    proc = subprocess.run(cmd, env=env, text=True, capture_output=True)
    sys.stdout.write(proc.stdout[-20000:])
    sys.stderr.write(proc.stderr[-20000:])
    if proc.returncode != 0:
        raise SystemExit(f"book: jupyter-book build failed (exit {proc.returncode}); warnings are errors, see above")
    index = Path(out) / "_build" / "html" / "index.html"
    if not index.is_file():
        raise SystemExit(f"book: {index} was not written")
    return index


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--executed", type=Path, default=None,
                        help="directory with executed notebooks (skip execution)")
    parser.add_argument("--work", type=Path, default=BOOK / "_build" / "executed",
                        help="where notebooks are executed (default: book/_build/executed)")
    parser.add_argument("--out", type=Path, default=BOOK,
                        help="output root; HTML goes to OUT/_build/html (default: book/)")
    parser.add_argument("--full", action="store_true",
                        help="execute the pipeline notebooks with full (not smoke) parameters")
    parser.add_argument("--smoke-tutorials", action="store_true",
                        help="execute the tutorial notebooks with smoke parameters too (faster)")
    parser.add_argument("--no-strict", action="store_true", help="do not treat warnings as errors")
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    if args.executed:
        executed = {p.stem: p for p in Path(args.executed).rglob("*.ipynb")}
    else:
        executed = execute_notebooks(args.work, smoke=not args.full, smoke_tutorials=args.smoke_tutorials)
    staging = stage(executed, Path(args.out) / "_build" / "src")
    index = build_html(staging, Path(args.out), strict=not args.no_strict)
    log(f"book built in {time.perf_counter() - t0:.0f} s: {index}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
