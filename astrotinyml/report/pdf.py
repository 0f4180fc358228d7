"""The PDF vetting sheet: a summary page, then one data-validation-style page per candidate."""

from __future__ import annotations

import numpy as np

from ..errors import AstroTinyMLError
from ..transitfit import model_flux
from ..transits import bin_centres, binned_median, fold_phase
from ._common import plain

_PAGE = (11.0, 8.5)  # US letter, landscape, like the Kepler/TESS DV summaries
_COLORS = ("tab:red", "tab:orange", "tab:green", "tab:purple", "tab:brown", "tab:pink")


def _binned(x, y, lo, hi, nbins):
    """Centres and medians of the filled bins (the plotted binned curve); none below 3 points."""
    ok = np.isfinite(x) & np.isfinite(y) & (x >= lo) & (x <= hi)
    if ok.sum() < 3:
        return np.array([]), np.array([])
    stat = binned_median(x[ok], y[ok], lo, hi, nbins)
    good = np.isfinite(stat)
    return bin_centres(lo, hi, nbins)[good], stat[good]


def _candidate_values(row):
    return (float(plain(row["pl_orbper"]) or np.nan), float(plain(row["pl_tranmid"]) or np.nan),
            float(plain(row["pl_trandurh"]) or np.nan) / 24.0,
            float(plain(row["pl_trandep"]) or np.nan))


def _transit_times(t, period, t0):
    if not np.isfinite(period) or period <= 0:
        return np.array([t0]) if np.isfinite(t0) else np.array([])
    n0 = np.ceil((np.nanmin(t) - t0) / period)
    n1 = np.floor((np.nanmax(t) - t0) / period)
    return t0 + period * np.arange(n0, n1 + 1)


def _others_mask(t, candidates, index):
    """True where another candidate is in transit: those points would confuse this one's views."""
    mask = np.zeros(t.shape, dtype=bool)
    own_period = _candidate_values(candidates[index])[0]
    for j, row in enumerate(candidates):
        if j == index:
            continue
        period, t0, dur, _ = _candidate_values(row)
        if np.isfinite(own_period) and np.isfinite(period):
            ratio = max(period, own_period) / min(period, own_period)
            if any(abs(ratio - k) < 0.01 * k for k in (1, 2, 3, 4)):
                # Same or commensurate period (an EB's secondary, a P/2 alias): masking it
                # would hide exactly what the odd/even and secondary panels are for.
                continue
        if np.isfinite(t0) and np.isfinite(dur):
            mask |= np.abs(fold_phase(t, period, t0)) < 0.75 * dur
    return mask


def _zoom(ax, by, depth):
    """Y limits from the binned curve and the expected depth, not from outliers."""
    if len(by) == 0:
        return
    lo = min(np.nanmin(by), 1 - (depth * 1e-6 if np.isfinite(depth) else 0))
    hi = max(np.nanmax(by), 1.0)
    pad = 0.35 * max(hi - lo, 1e-5)
    ax.set_ylim(lo - pad, hi + pad)


def _lc_panel(ax, t, f, ref, candidates, title, *, highlight=None):
    ax.plot(t - ref, f, ".", ms=1.2, color="0.25", rasterized=True)
    lo, hi = np.nanpercentile(f, [0.2, 99.8]) if np.isfinite(f).any() else (0.99, 1.01)
    # Never cut a candidate's transit off the bottom of the panel (a few deep points are
    # below the 0.2 % percentile when transits are rare).
    depths = [_candidate_values(r)[3] for r in candidates]
    deepest = max([d for d in depths if np.isfinite(d)], default=0.0) * 1e-6
    if deepest > 0 and np.nanmedian(f) - 1.15 * deepest < lo:
        lo = float(np.nanmedian(f) - 1.15 * deepest)
    span = hi - lo
    shown = []
    for i, row in enumerate(candidates):
        period, t0, _, _ = _candidate_values(row)
        if highlight is not None and i != highlight:
            continue
        color = _COLORS[i % len(_COLORS)]
        times = _transit_times(t, period, t0)
        ax.plot(times - ref, np.full(times.size, hi + 0.08 * span), "v", color=color, ms=4,
                label=f"candidate {i + 1}")
        shown.append(i)
    if shown:
        ax.legend(fontsize=6, loc="lower right", ncol=min(len(shown), 6), markerscale=0.8, framealpha=0.7)
    ax.set_ylim(lo - 0.1 * span, hi + 0.2 * span)
    ax.set_title(title, fontsize=8, loc="left")
    ax.tick_params(labelsize=7)
    ax.ticklabel_format(axis="y", useOffset=False)
    ax.set_ylabel("rel. flux", fontsize=7)


def _fmt(value, fmt):
    value = plain(value)
    if value is None:
        return "—"
    if isinstance(value, (bool, str)):
        return str(value)
    try:
        return format(value, fmt)
    except (TypeError, ValueError):
        return str(value)


def _metrics_lines(row, colnames):
    fields = [
        ("pl_orbper", "period [d]", ".6f"), ("pl_tranmid", "epoch [BJD_TDB]", ".5f"),
        ("pl_trandurh", "duration [h]", ".2f"), ("pl_trandep", "depth [ppm]", ".0f"),
        ("snr", "SNR", ".1f"), ("sde", "SDE", ".1f"), ("n_transits", "transits", "d"),
        ("depth_odd_ppm", "odd depth [ppm]", ".0f"), ("depth_even_ppm", "even depth [ppm]", ".0f"),
        ("oddeven_sigma", "odd-even [σ]", ".1f"), ("secondary_depth_ppm", "secondary [ppm]", ".0f"),
        ("secondary_sigma", "secondary [σ]", ".1f"), ("secondary_phase", "secondary phase", ".3f"),
        ("shape_v", "V-shape (0 U, 1 V)", ".2f"), ("coverage", "coverage", ".2f"),
        ("max_single_event_fraction", "max single event", ".2f"),
        ("var_period", "variability P [d]", ".3f"),
    ]
    return [(label, _fmt(row[name], fmt)) for name, label, fmt in fields if name in colnames]


def _classification_line(row, colnames):
    if "label" not in colnames:
        return "classification: not run (no model applied)"
    probs = [f"{name[2:]} {_fmt(row[name], '.2f')}" for name in
             ("p_planet", "p_eb", "p_variability", "p_instrumental", "p_noise") if name in colnames]
    return f"classification: {row['label']}   (" + ", ".join(probs) + ")"


def _footer(fig, prov, inputs):
    names = ", ".join(f"{i['name'][:40]} ({str(i['sha256'])[:8]})" for i in inputs[:2])
    if len(inputs) > 2:
        names += f" +{len(inputs) - 2} more"
    model = (prov["model_sha256"] or "none")[:16]
    text = (f"astrotinyml {prov['software']['astrotinyml']} · model {model}"
            f" · calibration {prov['calibration_id'] or 'none'} · {prov['generated_utc']} · inputs: {names}")
    # One line that stays on the page (the full provenance is in the JSON and FITS reports).
    fig.text(0.01, 0.008, text if len(text) <= 190 else text[:187] + "...", fontsize=6, color="0.35")


def _periodogram_panel(ax, pg, row):
    period, *_ = _candidate_values(row)
    if pg is None or len(pg) == 0:
        ax.text(0.5, 0.5, "no periodogram\n(baseline too short)", ha="center", va="center",
                transform=ax.transAxes, fontsize=8)
    else:
        p = np.asarray(plain(pg["period"]), dtype=float)
        sde = np.asarray(plain(pg["sde"]), dtype=float)
        ax.plot(p, sde, lw=0.6, color="0.2", rasterized=True)
        ax.set_xscale("log")
        if np.isfinite(period):
            for k, alpha in ((1, 0.7), (0.5, 0.25), (2, 0.25)):
                ax.axvline(period * k, color="tab:red", lw=0.8, alpha=alpha)
        ax.set_xlabel("period [d]", fontsize=7)
        ax.set_ylabel("SDE", fontsize=7)
        if not np.isfinite(period):
            ax.text(0.98, 0.9, "single event: no period", ha="right", transform=ax.transAxes, fontsize=7,
                    color="0.4")
    ax.set_title("periodogram (red: P, P/2, 2P)", fontsize=8, loc="left")
    ax.tick_params(labelsize=7)


def _result_periodogram(result):
    try:
        return result.periodogram()
    except AstroTinyMLError:  # e.g. a light curve too short for any period range
        return None


def _not_applicable(ax, why):
    """An empty panel that says why, instead of bare 0-1 axes."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.text(0.5, 0.5, f"n/a\n({why})", ha="center", va="center", transform=ax.transAxes, fontsize=8,
            color="0.4")


def _folded_panels(axes, t, f, row, colnames):
    ax_global, ax_local, ax_oddeven, ax_sec = axes
    period, t0, dur, depth = _candidate_values(row)
    phase = fold_phase(t, period, t0)
    # Global view: the whole orbit, in phase units.
    if np.isfinite(period):
        x = phase / period
        ax_global.plot(x, f, ".", ms=0.8, color="0.6", rasterized=True)
        bx, by = _binned(x, f, -0.5, 0.5, 201)
        ax_global.plot(bx, by, "-", color="tab:blue", lw=0.9)
        _zoom(ax_global, by, depth)
        ax_global.set_xlim(-0.5, 0.5)
        ax_global.set_xlabel("phase", fontsize=7)
    else:
        _not_applicable(ax_global, "no period: single event")
    ax_global.set_title("global view", fontsize=8, loc="left")
    ax_global.set_ylabel("rel. flux", fontsize=7)
    ax_local.set_ylabel("rel. flux", fontsize=7)
    # Local view: +- 2 durations, hours, with the box model.
    w = 2.0 * dur if np.isfinite(dur) else 0.5
    near = np.abs(phase) < w
    ax_local.plot(phase[near] * 24, f[near], ".", ms=1.5, color="0.55", rasterized=True)
    bx, by = _binned(phase, f, -w, w, 61)
    ax_local.plot(bx * 24, by, "o-", ms=2, color="tab:blue", lw=0.8)
    _zoom(ax_local, by, depth)
    if np.isfinite(depth) and np.isfinite(dur):
        mx = np.array([-w, -dur / 2, -dur / 2, dur / 2, dur / 2, w]) * 24
        my = 1 - depth * 1e-6 * np.array([0, 0, 1, 1, 0, 0])
        ax_local.plot(mx, my, color="tab:red", lw=1, label="box model")
    ax_local.set_title("local view + model", fontsize=8, loc="left")
    ax_local.set_xlabel("hours from mid-transit", fontsize=7)
    # Odd and even transits side by side (shifted), same scale.
    if np.isfinite(period) and np.isfinite(t0):
        epoch = np.round((t - t0) / period).astype(int)
        for parity, shift, color, name in ((1, -1.2 * w, "tab:orange", "odd"), (0, 1.2 * w, "tab:green", "even")):
            sel = near & ((epoch % 2) == parity)
            ax_oddeven.plot((phase[sel] + shift) * 24, f[sel], ".", ms=1.2, color=color, alpha=0.5,
                            rasterized=True)
            bx, by = _binned(phase[sel], f[sel], -w, w, 41)
            ax_oddeven.plot((bx + shift) * 24, by, "-", color=color, lw=1, label=name)
        if np.isfinite(depth):
            ax_oddeven.axhline(1 - depth * 1e-6, color="tab:red", lw=0.6, ls="--")
        _zoom(ax_oddeven, _binned(phase, f, -w, w, 41)[1], depth)
        ax_oddeven.legend(fontsize=6, loc="lower right")
    else:
        _not_applicable(ax_oddeven, "no period: single event")
    ax_oddeven.set_title("odd (left) vs even (right)", fontsize=8, loc="left")
    ax_oddeven.set_xlabel("hours (shifted)", fontsize=7)
    # Secondary eclipse window at the vetted secondary phase (0.5 when unknown).
    sec_phase = 0.5
    if "secondary_phase" in colnames and plain(row["secondary_phase"]) is not None:
        sec_phase = float(plain(row["secondary_phase"]))
    if np.isfinite(period):
        x = (phase / period - sec_phase + 0.5) % 1.0 - 0.5  # centred on the secondary
        xs = x * period
        sel = np.abs(xs) < w
        ax_sec.plot(xs[sel] * 24, f[sel], ".", ms=1.2, color="0.55", rasterized=True)
        bx, by = _binned(xs, f, -w, w, 41)
        ax_sec.plot(bx * 24, by, "o-", ms=2, color="tab:purple", lw=0.8)
        _zoom(ax_sec, by, np.nan)
    else:
        _not_applicable(ax_sec, "no period: single event")
    ax_sec.set_title(f"secondary window (phase {sec_phase:.3f})", fontsize=8, loc="left")
    ax_sec.set_xlabel("hours from secondary", fontsize=7)
    for ax in axes:
        ax.tick_params(labelsize=7)
        ax.ticklabel_format(axis="y", useOffset=False)


def _summary_page(pdf, result, report):
    from matplotlib.figure import Figure

    fig = Figure(figsize=_PAGE)
    mission = report["mission"]
    seg = ", ".join(f"{k} {mission[k]}" for k in ("quarter", "campaign", "sector") if mission.get(k) is not None)
    fig.suptitle(f"{result.target} — astrotinyml vetting report", fontsize=14, x=0.01, ha="left", y=0.985)
    raw_t = np.asarray(result.raw.time.jd, dtype=float)
    info = (f"mission {mission.get('mission') or '?'}{'; ' + seg if seg else ''}; "
            f"cadence {_fmt(mission.get('cadence_min'), '.2f')} min; {len(raw_t)} points over "
            f"{np.nanmax(raw_t) - np.nanmin(raw_t):.1f} d; flux column {mission.get('flux_column') or '?'}; "
            f"{report['n_candidates']} candidate(s)")
    fig.text(0.01, 0.94, info, fontsize=9)
    cands = result.candidates
    colnames = cands.colnames
    header = ["#", "period [d]", "epoch [BJD_TDB]", "dur [h]", "depth [ppm]", "SNR", "SDE", "N", "label"]
    cells = []
    for i, row in enumerate(cands, start=1):
        cells.append([str(i), _fmt(row["pl_orbper"], ".6f"), _fmt(row["pl_tranmid"], ".5f"),
                      _fmt(row["pl_trandurh"], ".2f"), _fmt(row["pl_trandep"], ".0f"),
                      _fmt(row["snr"], ".1f"), _fmt(row["sde"], ".1f"), _fmt(row["n_transits"], "d"),
                      str(row["label"]) if "label" in colnames else "—"])
    ax_tab = fig.add_axes([0.01, 0.62, 0.98, 0.28])
    ax_tab.axis("off")
    if cells:
        tab = ax_tab.table(cellText=cells, colLabels=header, loc="upper left", cellLoc="center")
        tab.auto_set_font_size(False)
        tab.set_fontsize(8)
        tab.scale(1, 1.2)
    else:
        ax_tab.text(0, 0.8, "No candidate passed the detection threshold.", fontsize=11)
    ref = np.floor(np.nanmin(raw_t))
    ax1 = fig.add_axes([0.07, 0.34, 0.91, 0.24])
    _lc_panel(ax1, raw_t, np.asarray(result.raw.flux.value, float), ref, cands, "light curve (normalized)")
    ax2 = fig.add_axes([0.07, 0.06, 0.91, 0.24])
    flat_t = np.asarray(result.flat.time.jd, dtype=float)
    _lc_panel(ax2, flat_t, np.asarray(result.flat.flux.value, float), ref, cands,
              "detrended light curve; ▼ transits of each candidate")
    ax2.set_xlabel(f"BJD_TDB − {ref:.0f} [d]", fontsize=7)
    _footer(fig, report["provenance"], report["inputs"])
    pdf.savefig(fig)


def _candidate_page(pdf, result, report, index, row, periodogram):
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpec

    fig = Figure(figsize=_PAGE)
    colnames = result.candidates.colnames
    period, t0, dur, depth = _candidate_values(row)
    fig.suptitle(f"{result.target} — candidate {index}: P = {_fmt(period, '.5f')} d, "
                 f"depth = {_fmt(depth, '.0f')} ppm, duration = {_fmt(dur * 24, '.2f')} h",
                 fontsize=12, x=0.01, ha="left", y=0.985)
    fig.text(0.01, 0.945, _classification_line(row, colnames), fontsize=9,
             color="darkred" if "label" in colnames else "0.3")
    if "vet_flags" in colnames:
        flags = str(row["vet_flags"]).replace(",", ", ") or "none"
        fig.text(0.01, 0.925, f"vetting flags: {flags}"[:200], fontsize=8, color="0.15")
    gs = GridSpec(4, 4, figure=fig, left=0.06, right=0.99, top=0.9, bottom=0.06, hspace=0.65, wspace=0.3)
    raw_t = np.asarray(result.raw.time.jd, dtype=float)
    ref = np.floor(np.nanmin(raw_t))
    _lc_panel(fig.add_subplot(gs[0, :]), raw_t, np.asarray(result.raw.flux.value, float), ref,
              result.candidates, "light curve", highlight=index - 1)
    t = np.asarray(result.flat.time.jd, dtype=float)
    f = np.asarray(result.flat.flux.value, dtype=float)
    keep = ~_others_mask(t, result.candidates, index - 1)
    t, f = t[keep], f[keep]
    ax = fig.add_subplot(gs[1, :])
    _lc_panel(ax, t, f, ref, result.candidates, "detrended (transits of unrelated candidates masked)",
              highlight=index - 1)
    ax.set_xlabel(f"BJD_TDB − {ref:.0f} [d]", fontsize=7)
    _periodogram_panel(fig.add_subplot(gs[2, 0]), periodogram, row)
    axes = [fig.add_subplot(gs[2, 1:3]), fig.add_subplot(gs[3, 0]), fig.add_subplot(gs[3, 1]),
            fig.add_subplot(gs[3, 2])]
    _folded_panels(axes, t, f, row, colnames)
    ax_m = fig.add_subplot(gs[2:, 3])
    ax_m.axis("off")
    lines = _metrics_lines(row, colnames)
    table = ax_m.table(cellText=[[a, b] for a, b in lines], loc="upper center", cellLoc="left",
                       colWidths=[0.55, 0.45], bbox=[0.0, 0.0, 1.0, 1.0])
    table.auto_set_font_size(False)
    table.set_fontsize(7)
    ax_m.set_title("metrics", fontsize=8, loc="left")
    _footer(fig, report["provenance"], report["inputs"])
    pdf.savefig(fig)


#: Rows of the fit page's parameter table: (column, label, format).
_FIT_FIELDS = (
    ("pl_orbper", "period P [d]", ".6f"), ("pl_tranmid", "mid-transit T0 [BJD_TDB]", ".5f"),
    ("pl_ratror", "Rp/R*", ".4f"), ("pl_ratdor", "a/R*", ".3f"), ("pl_imppar", "impact parameter b", ".3f"),
    ("pl_trandep", "depth [ppm]", ".0f"), ("pl_trandurh", "duration T14 [h]", ".3f"),
    ("pl_rade", "planet radius [R_earth]", ".2f"), ("st_dens_implied", "implied ρ* [g/cm³]", ".3f"),
)


def _with_errors(row, name, fmt):
    """(value, "+err1 / -err2") cells of a fitted column."""
    value = plain(row[name])
    if value is None:
        return ["—", ""]
    e1, e2 = plain(row[name + "err1"]), plain(row[name + "err2"])
    if e1 is None or e2 is None:
        return [_fmt(value, fmt), ""]
    return [_fmt(value, fmt), f"+{_fmt(e1, '.2g')} / {_fmt(e2, '.2g')}"]


def _fit_page(pdf, result, report, index, row):
    """The transit fit: folded data with the model and residuals, the parameters with errors."""
    from matplotlib.figure import Figure
    from matplotlib.gridspec import GridSpec

    best = (result.candidates.meta.get("fit_best") or {}).get(index - 1)
    fig = Figure(figsize=_PAGE)
    fig.suptitle(f"{result.target} — candidate {index}: limb-darkened transit fit ({row['fit_method']})",
                 fontsize=12, x=0.01, ha="left", y=0.985)
    gs = GridSpec(3, 1, figure=fig, left=0.07, right=0.62, top=0.9, bottom=0.08, hspace=0.08)
    ax = fig.add_subplot(gs[:2, 0])
    axr = fig.add_subplot(gs[2, 0], sharex=ax)
    t = np.asarray(result.flat.time.jd, dtype=float)
    f = np.asarray(result.flat.flux.value, dtype=float)
    keep = ~_others_mask(t, result.candidates, index - 1) & np.isfinite(f)
    t, f = t[keep], f[keep]
    period = float(plain(best["pl_orbper"]) if best else plain(row["pl_orbper"]) or np.nan)
    t0 = float(best["pl_tranmid"] if best else plain(row["pl_tranmid"]) or np.nan)
    dur = float(plain(row["pl_trandurh"]) or np.nan) / 24.0
    phase = fold_phase(t, period, t0)
    w = 2.0 * dur if np.isfinite(dur) else 0.5
    near = np.abs(phase) < w
    if best is None or not near.any():
        ax.text(0.5, 0.5, "not fitted: " + str(row["fit_method"])[:120], ha="center", va="center",
                transform=ax.transAxes, fontsize=8, wrap=True)
    else:
        model = model_flux(t[near], best, exp_time=best.get("exp_time_d", 0.0),
                           supersample=int(best.get("supersample", 1)))
        # The baseline is marginalised in the fit; for the plot, the residuals' median level.
        level = float(np.median(f[near] - model))
        x = phase[near] * 24.0
        ax.plot(x, f[near], ".", ms=1.5, color="0.6", rasterized=True, label="data (detrended)")
        bx, by = _binned(phase[near], f[near], -w, w, 61)
        ax.plot(bx * 24.0, by, "o", ms=3, color="tab:blue", label="binned")
        fine = np.linspace(-w, w, 800)
        ref = {**best, "pl_tranmid": 0.0}
        ax.plot(fine * 24.0, model_flux(fine, ref, exp_time=best.get("exp_time_d", 0.0),
                                        supersample=int(best.get("supersample", 1))) + level,
                color="tab:red", lw=1.2, label="fitted model (max. posterior)")
        _zoom(ax, by, float(plain(row["pl_trandep"]) or np.nan))
        ax.legend(fontsize=7, loc="lower left")
        resid = f[near] - model - level
        axr.plot(x, resid * 1e6, ".", ms=1.5, color="0.6", rasterized=True)
        rbx, rby = _binned(phase[near], resid, -w, w, 61)
        axr.plot(rbx * 24.0, rby * 1e6, "o", ms=3, color="tab:blue")
        axr.axhline(0.0, color="tab:red", lw=0.8)
        lim = 4.0 * (np.nanstd(rby) * 1e6 if len(rby) > 2 else 1.0) + 1.0
        spread = np.nanpercentile(np.abs(resid * 1e6), 95) if resid.size else lim
        axr.set_ylim(-max(lim, spread), max(lim, spread))
    ax.set_ylabel("relative flux", fontsize=8)
    ax.set_title("folded at the fitted ephemeris; transits of other candidates removed", fontsize=8, loc="left")
    ax.tick_params(labelsize=7, labelbottom=False)
    ax.ticklabel_format(axis="y", useOffset=False)
    axr.set_xlabel("hours from mid-transit", fontsize=8)
    axr.set_ylabel("residual [ppm]", fontsize=8)
    axr.tick_params(labelsize=7)
    ax_t = fig.add_axes([0.66, 0.08, 0.32, 0.82])
    ax_t.axis("off")
    colnames = result.candidates.colnames
    cells = [[label, *_with_errors(row, name, fmt)] for name, label, fmt in _FIT_FIELDS if name in colnames]
    diag = [("fit_converged", "converged"), ("fit_tau_max", "autocorr. time τ [steps]"),
            ("fit_nsteps", "steps per walker"), ("fit_acceptance", "acceptance"),
            ("fit_chi2_red", "χ²/dof"), ("fit_jitter_ppm", "jitter [ppm]"), ("fit_n_points", "points"),
            ("fit_ld_u1", "limb darkening u1"), ("fit_ld_u2", "limb darkening u2")]
    cells += [[label, _fmt(row[name], ".3g"), ""] for name, label in diag if name in colnames]
    tab = ax_t.table(cellText=cells, loc="upper center", cellLoc="left", colWidths=[0.36, 0.28, 0.36],
                     bbox=[0.0, 0.14, 1.0, 0.86])
    tab.auto_set_font_size(False)
    tab.set_fontsize(7)
    ax_t.set_title("posterior median, +1σ / −1σ", fontsize=8, loc="left")
    st = report["options"].get("star") or {}
    ld = str(row["fit_ld_source"]) if "fit_ld_source" in colnames else "?"
    note = (f"star: R = {_fmt(st.get('st_rad'), '.3g')} R_sun ({st.get('st_rad_source', '?')})\n"
            f"limb-darkening prior: {ld[:55]}\n{ld[55:110]}\n"
            "Detrended with the transits masked (not fitted jointly):\n"
            "the trend's uncertainty is not in the posteriors.")
    ax_t.text(0.0, 0.0, note, fontsize=5.5, color="0.3", transform=ax_t.transAxes, va="bottom")
    _footer(fig, report["provenance"], report["inputs"])
    pdf.savefig(fig)


#: Parameters of the corner page: (posterior key, label).
_CORNER = (("pl_tranmid", "T0 − median [min]"), ("pl_orbper", "P − median [s]"), ("pl_ratror", "Rp/R*"),
           ("pl_ratdor", "a/R*"), ("pl_imppar", "b"), ("pl_trandurh", "T14 [h]"))


def _corner_page(pdf, result, report, index, draws):
    """Pairwise posterior densities (a corner plot) of the fitted parameters."""
    from matplotlib.figure import Figure

    keys, cols = [], []
    for key, label in _CORNER:
        v = np.asarray(draws.get(key, []), dtype=float)
        if v.size < 10 or not np.isfinite(v).all() or np.ptp(v) == 0:
            continue  # fixed (a single event's period) or missing
        if key == "pl_tranmid":
            v = (v - np.median(v)) * 1440.0
        elif key == "pl_orbper":
            v = (v - np.median(v)) * 86400.0
        keys.append(label)
        cols.append(v)
    n = len(cols)
    fig = Figure(figsize=_PAGE)
    fig.suptitle(f"{result.target} — candidate {index}: posterior ({len(cols[0]) if cols else 0} draws)",
                 fontsize=12, x=0.01, ha="left", y=0.985)
    if n < 2:
        fig.text(0.5, 0.5, "fewer than two free parameters: no corner plot", ha="center")
    else:
        size = min(0.86 / n, 0.8 * 11.0 / 8.5 / n)
        for i in range(n):
            for j in range(i + 1):
                ax = fig.add_axes([0.25 + j * size * 8.5 / 11.0, 0.92 - (i + 1) * size, size * 8.5 / 11.0 * 0.95,
                                   size * 0.95])
                if i == j:
                    ax.hist(cols[i], bins=40, histtype="step", color="k", lw=0.8)
                    q = np.percentile(cols[i], [16, 50, 84])
                    for v in q:
                        ax.axvline(v, color="tab:blue", lw=0.6, ls="--" if v != q[1] else "-")
                    ax.set_yticks([])
                else:
                    ax.hist2d(cols[j], cols[i], bins=30, cmap="Greys", rasterized=True)
                ax.tick_params(labelsize=5)
                if i == n - 1:
                    ax.set_xlabel(keys[j], fontsize=7)
                else:
                    ax.set_xticklabels([])
                if j == 0 and i > 0:
                    ax.set_ylabel(keys[i], fontsize=7)
                elif i != j:
                    ax.set_yticklabels([])
    _footer(fig, report["provenance"], report["inputs"])
    pdf.savefig(fig)


def write_pdf(result, path, *, report) -> None:
    """Write the vetting sheet of ``result`` to ``path`` (summary page + one page per candidate)."""
    # Figures are built with the object-oriented API (no pyplot): no global backend switch,
    # so writing a report from a notebook leaves its inline backend alone.
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path, metadata={"Title": f"astrotinyml vetting report: {result.target}",
                                  "Creator": f"astrotinyml {report['provenance']['software']['astrotinyml']}"}) as pdf:
        _summary_page(pdf, result, report)
        periodogram = _result_periodogram(result) if len(result.candidates) else None
        fitted = "fit_method" in result.candidates.colnames
        posteriors = result.candidates.meta.get("fit_posteriors") or {}
        for i, row in enumerate(result.candidates, start=1):
            _candidate_page(pdf, result, report, i, row, periodogram)
            if fitted:
                _fit_page(pdf, result, report, i, row)
                if (i - 1) in posteriors and str(row["fit_method"]).startswith("mcmc"):
                    _corner_page(pdf, result, report, i, posteriors[i - 1])
