"""Numba kernels of the box search (private; imported inside :mod:`astrotinyml.searching`).

Conventions shared by the kernels: ``y = 1 - flux`` (a dip is positive), uniform weights.
For a box holding ``n`` of the ``N`` points with sum ``s`` (total ``S``) the fitted depth
is ``d = s/n - (S - s)/(N - n)`` and the chi-square improvement over a flat line, times
the per-point variance, is ``d**2 * n * (N - n) / N``.  Dividing by the variance gives
``SNR**2``.  Only dips (``d > 0``) count.

``cache=True`` stores the compiled code beside this file, so the compile time (~ seconds)
is paid once per installation, not per process.
"""

import math

import numpy as np
from numba import njit, prange


@njit(cache=True, inline="always")
def _width_bins(d, bw, nb):
    """Box width in whole bins (1 .. nb-1) of a trial duration ``d`` (bins of ``bw``)."""
    k = int(d / bw + 0.5)
    if k < 1:
        return 1
    if k >= nb:
        return nb - 1
    return k


@njit(cache=True, inline="always")
def _box_widths(durs, dmin, dmax, bw, nb, ks):
    """Box widths in bins (1 .. nb-1, distinct, ascending) of the trial durations within
    [dmin, dmax], written to ``ks``; returns how many.  ``durs`` is sorted ascending."""
    nk = 0
    last = -1
    for q in range(durs.size):
        d = durs[q]
        if d < dmin or d > dmax:
            continue
        k = _width_bins(d, bw, nb)
        if k != last:
            ks[nk] = k
            nk += 1
            last = k
    return nk


@njit(cache=True, fastmath=True)
def bls_power(t, y, w, periods, binw, durs, dmin, dmax, nmin):
    """Best box power at every trial period (phase-binned cumulative-sum scan).

    t: times (days from a reference, all >= 0); y: sum of ``1 - flux`` per input
    point (a time bin may hold several cadences); w: number of cadences per point;
    periods: trial periods; binw: phase-bin width per period (days); durs: sorted global
    duration grid (days); dmin/dmax: duration range per period; nmin: fewest cadences in
    a box.  Returns the power ``d**2 n_in n_out / N`` per period (times 1/sigma**2 it is
    the chi-square improvement).  Only the maximum is kept, so the inner loop is a plain
    reduction the compiler vectorizes; the ephemeris of a peak comes from ``bls_best``.
    """
    n = t.size
    ntot = 0.0
    stot = 0.0
    for j in range(n):
        ntot += w[j]
        stot += y[j]
    m = stot / ntot
    nper = periods.size
    power = np.zeros(nper)
    maxnb = 1
    for i in range(nper):
        nb = int(np.ceil(periods[i] / binw[i]))
        if nb > maxnb:
            maxnb = nb
    acc = np.zeros(2 * maxnb + 2)  # interleaved (count, sum) per phase bin: one cache line
    ccum = np.zeros(2 * maxnb + 2)
    scum = np.zeros(2 * maxnb + 2)
    ks = np.zeros(durs.size, dtype=np.int64)
    for i in range(nper):
        p = periods[i]
        nb = int(np.ceil(p / binw[i]))
        bw = p / nb
        fnb = float(nb)
        inv = 1.0 / p
        for b in range(2 * nb + 2):
            acc[b] = 0.0
        for j in range(n):
            ph = t[j] * inv
            ph = ph - int(ph)
            b = 2 * int(ph * fnb)
            acc[b] += w[j]
            acc[b + 1] += y[j]
        nk = _box_widths(durs, dmin[i], dmax[i], bw, nb, ks)
        if nk == 0:
            continue
        kmax = ks[nk - 1]
        c = 0.0
        s = 0.0
        ccum[0] = 0.0
        scum[0] = 0.0
        for b in range(nb + kmax):
            bb = 2 * (b if b < nb else b - nb)
            c += acc[bb]
            s += acc[bb + 1] - m * acc[bb]
            ccum[b + 1] = c
            scum[b + 1] = s
        best = 0.0
        for q in range(nk):
            k = ks[q]
            for st in range(nb):
                nin = ccum[st + k] - ccum[st]
                num = scum[st + k] - scum[st]
                den = nin * (ntot - nin)
                v = num * num / den if (nin >= nmin and num > 0.0 and den > 0.0) else 0.0
                best = max(best, v)
        power[i] = best * ntot
    return power


@njit(cache=True)
def bls_best(t, y, periods, binw, durs, nmin, dwt=None):
    """Best box (power, start, duration) at each of a few periods; unbinned input.

    Same statistic as ``bls_power``; every duration of ``durs`` is tried at every period.
    Used to refine a peak, so the periods are few and the bins fine.  ``dwt`` (optional,
    one weight per duration) multiplies each duration's power, as in the block kernel.
    """
    if dwt is None:
        wdur = np.ones(durs.size)
    else:
        wdur = dwt
    n = t.size
    ntot = float(n)
    stot = 0.0
    for j in range(n):
        stot += y[j]
    m = stot / ntot
    nper = periods.size
    power = np.zeros(nper)
    best_start = np.zeros(nper)
    best_dur = np.zeros(nper)
    maxnb = 1
    for i in range(nper):
        nb = int(np.ceil(periods[i] / binw[i]))
        if nb > maxnb:
            maxnb = nb
    cnt = np.zeros(maxnb + 1)
    sy = np.zeros(maxnb + 1)
    ccum = np.zeros(2 * maxnb + 2)
    scum = np.zeros(2 * maxnb + 2)
    ks = np.zeros(durs.size, dtype=np.int64)
    ws = np.zeros(durs.size)
    for i in range(nper):
        p = periods[i]
        nb = int(np.ceil(p / binw[i]))
        bw = p / nb
        inv = 1.0 / p
        for b in range(nb):
            cnt[b] = 0.0
            sy[b] = 0.0
        for j in range(n):
            ph = t[j] * inv
            ph -= np.floor(ph)
            b = int(ph * nb)
            if b >= nb:
                b = nb - 1
            cnt[b] += 1.0
            sy[b] += y[j]
        nk = _box_widths(durs, -np.inf, np.inf, bw, nb, ks)
        _box_weights(durs, -np.inf, np.inf, bw, nb, wdur, ws)
        kmax = ks[nk - 1]
        c = 0.0
        s = 0.0
        ccum[0] = 0.0
        scum[0] = 0.0
        for b in range(nb + kmax):
            bb = b if b < nb else b - nb
            c += cnt[bb]
            s += sy[bb] - m * cnt[bb]
            ccum[b + 1] = c
            scum[b + 1] = s
        bestv = 0.0
        bests = 0
        bestk = 0
        for q in range(nk):
            k = ks[q]
            for st in range(nb):
                nin = ccum[st + k] - ccum[st]
                if nin < nmin:
                    continue
                num = scum[st + k] - scum[st]
                den = nin * (ntot - nin)
                if num <= 0.0 or den <= 0.0:
                    continue
                v = num * num / den * ws[q]
                if v > bestv:
                    bestv = v
                    bests = st
                    bestk = k
        power[i] = bestv * ntot
        best_start[i] = bests * bw
        best_dur[i] = bestk * bw
    return power, best_start, best_dur


@njit(cache=True)
def time_bin(t, y, width):
    """Sum y and count points in consecutive time bins of ``width`` (t sorted).

    Returns the mean time, the summed y and the count of each non-empty bin.  The coarse
    spectrum folds these instead of every cadence when the cadence is much shorter than
    the shortest box, which loses nothing but time.
    """
    n = t.size
    tb = np.empty(n)
    yb = np.empty(n)
    wb = np.empty(n)
    nbin = 0
    j = 0
    while j < n:
        edge = t[j] + width
        st = 0.0
        sv = 0.0
        c = 0.0
        while j < n and t[j] < edge:
            st += t[j]
            sv += y[j]
            c += 1.0
            j += 1
        tb[nbin] = st / c
        yb[nbin] = sv
        wb[nbin] = c
        nbin += 1
    return tb[:nbin], yb[:nbin], wb[:nbin]


@njit(cache=True)
def single_event_scan(t, y, durs, cadence, min_fill):
    """Strongest single box dip (unfolded time) for each trial duration.

    t must be sorted.  A box needs ``min_fill`` of its expected cadences filled and as
    much data (half a box at least) on each side within one box length, so that dips at
    the edges of gaps, where the detrended baseline is least reliable, do not count.
    Returns power, box start time and box end time per duration.
    """
    n = t.size
    ntot = float(n)
    stot = 0.0
    for j in range(n):
        stot += y[j]
    nd = durs.size
    power = np.zeros(nd)
    tstart = np.zeros(nd)
    tend = np.zeros(nd)
    for q in range(nd):
        d = durs[q]
        need = max(2.0, min_fill * d / cadence)
        side = max(1.0, 0.5 * d / cadence)
        jend = 0
        jpre = 0
        jpost = 0
        sin = 0.0
        bestp = 0.0
        for i in range(n):
            # box [t[i], t[i] + d)
            # sin holds the sum over [i, jend); the box always holds point i
            while jend < n and t[jend] < t[i] + d:
                sin += y[jend]
                jend += 1
            nin = float(jend - i)
            if nin >= need and nin <= ntot - need:
                while jpre < n and t[jpre] < t[i] - d:
                    jpre += 1
                while jpost < n and t[jpost] < t[jend - 1] + d:
                    jpost += 1
                if (i - jpre) >= side and (jpost - jend) >= side:
                    dep = sin / nin - (stot - sin) / (ntot - nin)
                    if dep > 0.0:
                        pw = dep * dep * nin * (ntot - nin) / ntot
                        if pw > bestp:
                            bestp = pw
                            tstart[q] = t[i]
                            tend[q] = t[jend - 1]
            sin -= y[i]
        power[q] = bestp
    return power, tstart, tend


# --- block kernel: direct folds and folded-sum reuse, parallel over period blocks --------

@njit(cache=True, inline="always")
def _box_weights(durs, dmin, dmax, bw, nb, dwt, ws):
    """Weight of each box width that :func:`_box_widths` returns (same order): ``dwt`` of
    its trial duration, the largest where several durations round to one width."""
    nk = 0
    last = -1
    for q in range(durs.size):
        d = durs[q]
        if d < dmin or d > dmax:
            continue
        k = _width_bins(d, bw, nb)
        if k != last:
            ws[nk] = dwt[q]
            nk += 1
            last = k
        elif dwt[q] > ws[nk - 1]:
            ws[nk - 1] = dwt[q]
    return nk


@njit(cache=True, inline="always")
def _scan_best(acc, nb, bw, durs, dmin, dmax, ntot, m, nmin, ks, ccum, scum, dwt, ws, buf):
    """Best ``w(T) d**2 n_in n_out / N**2`` over all boxes of a phase-binned fold.

    ``acc`` holds interleaved (count, sum of y) per bin; boxes are runs of whole bins
    (wrapping around phase 1) of the widths of ``durs`` within [dmin, dmax]; ``dwt`` is a
    weight per trial duration (the search's red-noise factor ``1 / beta(T)**2``; ones for
    the plain white-noise statistic); ``buf`` is scratch space of ``nb + 1`` values."""
    nk = _box_widths(durs, dmin, dmax, bw, nb, ks)
    _box_weights(durs, dmin, dmax, bw, nb, dwt, ws)
    if nk == 0:
        return 0.0
    kmax = ks[nk - 1]
    c = 0.0
    s = 0.0
    ccum[0] = 0.0
    scum[0] = 0.0
    for b in range(nb + kmax):
        bb = 2 * (b if b < nb else b - nb)
        c += acc[bb]
        s += acc[bb + 1] - m * acc[bb]
        ccum[b + 1] = c
        scum[b + 1] = s
    # Branch-free form (selects, no early exits): same value as the guarded
    # ``num**2 / (nin (N - nin))`` of ``bls_power`` (a box with nin >= nmin holds at least
    # one point and misses at least one unless it covers everything, where num = 0).
    # The box values go to ``buf`` in a loop LLVM vectorises (4 divisions at a time; it
    # needs the kernels' ``error_model="numpy"``, else every division checks for zero),
    # and their maximum is taken on the int64 bit patterns: for doubles >= 0 (all values
    # here are: num >= 0 and both factors of the denominator >= 0.5) the integer order is
    # the float order, and an integer max reduction vectorises where a float one does
    # not.  ~3x faster than the scalar scan; the values are the same.
    ib = buf.view(np.int64)
    best = 0.0
    for q in range(nk):
        k = ks[q]
        for st in range(nb):
            nin = ccum[st + k] - ccum[st]
            num = scum[st + k] - scum[st]
            num = num if num > 0.0 else 0.0
            num = num if nin >= nmin else 0.0
            d1 = nin if nin > nmin else nmin
            d1 = d1 if d1 > 0.5 else 0.5
            d2 = ntot - nin
            d2 = d2 if d2 > 0.5 else 0.5
            buf[st] = num * num / (d1 * d2)
        mx = ib[0]
        for st in range(1, nb):
            x = ib[st]
            mx = x if x > mx else mx
        ib[nb] = mx
        best = max(best, buf[nb] * ws[q])
    return best


def _bls_blocks_impl(t, y, w, periods, binw, durs, dmin, dmax, nmin,
                     bstart, bend, bnb, br, bk, order, dwt=None):
    """Best box power at every trial period, period block by period block.

    A block ``q`` covers the periods ``bstart[q]:bend[q]``.  With ``bk[q] == 0`` every
    period is folded directly (as :func:`bls_power`: ``ceil(P / binw)`` phase bins).
    Otherwise the light curve is cut into ``bk[q]`` time chunks, each chunk is folded
    ONCE at the block's middle frequency into ``bnb[q] * br[q]`` sub-bins (phase counted
    from the chunk's centre), and the fold at each period of the block is the sum of the
    chunk folds rolled by the phase of their centres at that period (rounded to a
    sub-bin), then summed ``br[q]`` sub-bins to a bin.  A point's phase is then off by at
    most half a sub-bin plus the drift ``|t - centre| |1/P - 1/P_mid|`` of its chunk,
    which the caller bounds (``_plan_blocks``).  The chunk folds cost one pass over the
    data per block instead of one per period; the rolls are contiguous vector adds.
    Blocks run in parallel (``prange``) in the order ``order`` (shuffled by the caller
    so that the threads get equal shares of short and long periods).  ``dwt`` (optional,
    one weight per trial duration) multiplies each duration's box power before the
    maximum: the search passes ``1 / beta(T)**2`` so that the spectrum ranks by a
    correlated-noise SNR; without it every weight is 1.
    """
    if dwt is None:
        wdur = np.ones(durs.size)
    else:
        wdur = dwt
    n = t.size
    ntot = 0.0
    stot = 0.0
    for j in range(n):
        ntot += w[j]
        stot += y[j]
    mean = stot / ntot
    t_lo = t[0]
    span = t[n - 1] - t[0]
    power = np.zeros(periods.size)
    nblk = bstart.size
    for qq in prange(nblk):
        q = order[qq]
        i0 = bstart[q]
        i1 = bend[q]
        ks = np.zeros(durs.size, dtype=np.int64)
        ws = np.zeros(durs.size)
        if bk[q] == 0:
            maxnb = 1
            for i in range(i0, i1):
                nbi = int(np.ceil(periods[i] / binw[i]))
                if nbi > maxnb:
                    maxnb = nbi
            acc = np.zeros(2 * maxnb + 2)
            ccum = np.zeros(2 * maxnb + 2)
            scum = np.zeros(2 * maxnb + 2)
            buf = np.zeros(maxnb + 1)
            for i in range(i0, i1):
                p = periods[i]
                nb = int(np.ceil(p / binw[i]))
                fnb = float(nb)
                inv = 1.0 / p
                for b in range(2 * nb + 2):
                    acc[b] = 0.0
                for j in range(n):
                    ph = t[j] * inv
                    ph = ph - int(ph)
                    b = 2 * int(ph * fnb)
                    acc[b] += w[j]
                    acc[b + 1] += y[j]
                best = _scan_best(acc, nb, p / nb, durs, dmin[i], dmax[i], ntot, mean,
                                  nmin, ks, ccum, scum, wdur, ws, buf)
                power[i] = best * ntot
            continue
        nb = bnb[q]
        r = br[q]
        nbr = nb * r
        kc = bk[q]
        clen = span / kc * (1.0 + 1e-12) + 1e-12
        fref = 0.5 * (1.0 / periods[i0] + 1.0 / periods[i1 - 1])
        # float32 chunk folds: the reuse already moves points by up to its planned phase
        # error (a quarter bin or more), against which float32 sums (relative 6e-8 of
        # each bin's sum) are negligible; half the memory and twice the adds per vector.
        hist = np.zeros((kc, 2 * nbr), dtype=np.float32)
        filled = np.zeros(kc, dtype=np.bool_)
        idx = np.empty(n, dtype=np.int32)
        # Chunk by chunk (t is sorted: each chunk is a run of points), so that the inner
        # loop has no division and one row of ``hist``: about half the instructions per
        # point of a per-point chunk index.  A chunk ends at the first point with
        # ``t - t_lo >= (k + 1) clen``, found by bisection (the test is monotone in the
        # index, so this is the index a walk over the points finds; the walk was a second
        # pass over all points in every block: 0.90-1.00 of the CPU per coarse spectrum
        # without it, measured alternately on three full-mission Kepler files).
        j = 0
        fnbr = float(nbr)
        for k in range(kc):
            off = (t_lo + (k + 0.5) * clen) * fref
            h = hist[k]
            j0 = j
            if k == kc - 1:
                jend = n
            else:
                lim = (k + 1) * clen
                lo_i = j
                hi_i = n
                while lo_i < hi_i:
                    mid = (lo_i + hi_i) >> 1
                    if t[mid] - t_lo < lim:
                        lo_i = mid + 1
                    else:
                        hi_i = mid
                jend = lo_i
            # The sub-bin indices first, in a loop without stores to the bins (LLVM then
            # vectorises its floor; the conversion to int stays scalar on AVX2), then the
            # scatter, in the same order: the same sums.  Measured 0.78-0.89 of the CPU per
            # full-mission coarse spectrum (min of 5, with the bisection).  The same split
            # was slower in the direct folds below and no faster in ``bls_best``.
            tj = t[j0:jend]
            ix = idx[j0:jend]
            for jj in range(jend - j0):
                u = tj[jj] * fref - off
                u -= np.floor(u)
                mm = int(u * fnbr)
                ix[jj] = 2 * (mm if mm < nbr - 1 else nbr - 1)
            for jj in range(j0, jend):
                m2 = idx[jj]
                h[m2] += w[jj]
                h[m2 + 1] += y[jj]
            filled[k] = jend > j0
            j = jend
        sub = np.zeros(2 * nbr, dtype=np.float32)
        acc = np.zeros(2 * nb + 2)
        ccum = np.zeros(2 * nb + 2)
        scum = np.zeros(2 * nb + 2)
        buf = np.zeros(nb + 1)
        for i in range(i0, i1):
            p = periods[i]
            f = 1.0 / p
            for b in range(2 * nbr):
                sub[b] = np.float32(0.0)
            for k in range(kc):
                if not filled[k]:
                    continue
                sft = (t_lo + (k + 0.5) * clen) * f
                sft -= np.floor(sft)
                sh = int(sft * nbr + 0.5)
                if sh >= nbr:
                    sh -= nbr
                # sub[(mm + sh) % nbr] += hist[k, mm], as two contiguous runs.  Offsets
                # go into views, not into the index: numba wraps negative indices, and
                # a computed index (``sub[lo + b]``) kept the loop from being vectorised
                # (3-4x slower; this loop is most of the spectrum's cost).
                h = hist[k]
                nfirst = 2 * (nbr - sh)
                dst = sub[2 * sh:]
                for b in range(nfirst):
                    dst[b] += h[b]
                h2 = h[nfirst:]
                for b in range(2 * sh):
                    sub[b] += h2[b]
            for b in range(nb):
                c = 0.0
                s = 0.0
                for e in range(r):
                    c += sub[2 * (b * r + e)]
                    s += sub[2 * (b * r + e) + 1]
                acc[2 * b] = c
                acc[2 * b + 1] = s
            best = _scan_best(acc, nb, p / nb, durs, dmin[i], dmax[i], ntot, mean, nmin,
                              ks, ccum, scum, wdur, ws, buf)
            power[i] = best * ntot
    return power


def _serial_copy(fn, name):
    """A second function object with its own name, so that numba caches the serial and
    the parallel compilation of one kernel in different files."""
    import types

    g = types.FunctionType(fn.__code__, fn.__globals__, name, fn.__defaults__, fn.__closure__)
    g.__qualname__ = name
    return g


#: Parallel (threads over period blocks) and serial compilations of the block kernel.
# ``error_model="numpy"``: a division by zero gives inf/nan instead of raising, so that
# numba does not test every divisor, which kept the box scan from being vectorised.
bls_power_blocks = njit(cache=True, fastmath=True, parallel=True, error_model="numpy")(
    _serial_copy(_bls_blocks_impl, "bls_power_blocks"))
bls_power_blocks_serial = njit(cache=True, fastmath=True, error_model="numpy")(
    _serial_copy(_bls_blocks_impl, "bls_power_blocks_serial"))


@njit(cache=True)
def plan_blocks_loop(nb, f, drift, sub, bdrift, span, npts, direct, cost_point, cost_add,
                     max_block, direct_block):
    """The block plan of ``search._plan_blocks`` (which documents it and computes the
    per-period inputs): compiled, because the loop runs once per block (thousands per
    spectrum) and cost ~0.35 s per spectrum in Python.  Returns (start, end, nb, r, k)
    per block; ``k = 0`` marks direct folds."""
    n = nb.size
    cap = n + 1
    starts = np.empty(cap, dtype=np.int64)
    ends = np.empty(cap, dtype=np.int64)
    nbs = np.empty(cap, dtype=np.int64)
    rs = np.empty(cap, dtype=np.int64)
    kss = np.empty(cap, dtype=np.int64)
    nblk = 0
    i = 0
    direct_from = -1
    while i < n:
        chosen = False
        j = 0
        nb_b = 0
        r_b = 0
        k = 0
        if not direct and np.isfinite(drift[i]) and drift[i] > 0:
            m_opt = math.sqrt(cost_point * npts * 4.0 * bdrift[i]
                              / (cost_add * drift[i] * 2.0 * nb[i] * sub[i]))
            m = int(min(max(m_opt, 2.0), float(max_block)))
            j = min(i + m, n)
            # one bin count per block: stop where it would grow by more than 10 %
            # (np.searchsorted(nb, 1.1 * nb[i], side="right"); nb ascending)
            lim = 1.1 * nb[i]
            lo = 0
            hi = n
            while lo < hi:
                mid = (lo + hi) // 2
                if nb[mid] <= lim:
                    lo = mid + 1
                else:
                    hi = mid
            j = max(i + 2, min(j, lo))
            j = min(j, n)
            if j - i >= 2:
                nb_b = nb[i]
                r_b = sub[i]
                room = bdrift[i]
                for a in range(i + 1, j):
                    nb_b = max(nb_b, nb[a])
                    r_b = max(r_b, sub[a])
                    room = min(room, bdrift[a])
                width = abs(f[i] - f[j - 1])
                k = max(1, int(math.ceil(span * width * nb_b / (4.0 * room))))
                cost_reuse = cost_point * npts + (j - i) * cost_add * k * 2 * nb_b * r_b
                cost_direct = (j - i) * cost_point * npts
                chosen = cost_reuse < 0.7 * cost_direct
        if not chosen:
            if direct_from < 0:
                direct_from = i
            i += 1
            continue
        if direct_from >= 0:
            for a in range(direct_from, i, direct_block):
                starts[nblk] = a
                ends[nblk] = min(a + direct_block, i)
                nbs[nblk] = 0
                rs[nblk] = 0
                kss[nblk] = 0
                nblk += 1
            direct_from = -1
        starts[nblk] = i
        ends[nblk] = j
        nbs[nblk] = nb_b
        rs[nblk] = r_b
        kss[nblk] = k
        nblk += 1
        i = j
    if direct_from >= 0:
        for a in range(direct_from, n, direct_block):
            starts[nblk] = a
            ends[nblk] = min(a + direct_block, n)
            nbs[nblk] = 0
            rs[nblk] = 0
            kss[nblk] = 0
            nblk += 1
    return (starts[:nblk].copy(), ends[:nblk].copy(), nbs[:nblk].copy(), rs[:nblk].copy(),
            kss[:nblk].copy())


@njit(cache=True)
def window_bounds(t, half):
    """``(lo, hi)``: for every point ``j`` of the sorted ``t``, the points with
    ``t[j] - half < t < t[j] + half`` are ``lo[j]:hi[j]``.

    The same integers as ``searchsorted(t, t - half, "right")`` and
    ``searchsorted(t, t + half, "left")`` (same comparisons on the same float keys), by one
    forward sweep of two pointers instead of two binary searches per point: used once per
    trial duration by ``searching._red_beta2``.
    """
    n = t.size
    lo = np.empty(n, np.int64)
    hi = np.empty(n, np.int64)
    a = 0
    b = 0
    for j in range(n):
        left = t[j] - half
        right = t[j] + half
        while a < n and t[a] <= left:
            a += 1
        while b < n and t[b] < right:
            b += 1
        lo[j] = a
        hi[j] = b
    return lo, hi
