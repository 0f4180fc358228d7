"""Calibration against targets with known answers: fitting, storing and applying it.

:func:`calibrate` runs detection on reference light curves with known answers and fits the
recovery curve, the false-alarm rates, the depth/duration corrections and the classifier's
probability calibration; runs are kept in an SQLite store (``_db``) and
:func:`apply_calibration` applies one to a candidates table.  See :mod:`astrotinyml.calibration.store`.

>>> from astrotinyml.calibration import match_signal
>>> match_signal(1.8829, 2458354.70, 2.1, known_period=0.941453, known_epoch=2458354.70)["harmonic"]
2.0
"""

from .store import (
    DEFAULT_CALIBRATION_PATH,
    DRIFT_TOLERANCES,
    HARMONICS,
    Calibration,
    apply_calibration,
    apply_temperature,
    calibrate,
    calibration_history,
    current_calibration_id,
    default_calibration,
    expected_calibration_error,
    fit_temperature,
    grouped_folds,
    load_calibration,
    match_signal,
    plot_confusion,
    plot_recovery,
    plot_reliability,
    precision_threshold,
    reference_set,
    save_calibration,
    with_probability_calibration,
)

__all__ = [
    "Calibration", "reference_set", "match_signal", "calibrate", "load_calibration", "save_calibration",
    "calibration_history", "current_calibration_id", "apply_calibration", "default_calibration",
    "with_probability_calibration", "grouped_folds", "expected_calibration_error", "fit_temperature",
    "apply_temperature", "precision_threshold",
    "DEFAULT_CALIBRATION_PATH", "DRIFT_TOLERANCES", "HARMONICS",
    "plot_reliability", "plot_recovery", "plot_confusion",
]
