"""Calibration against targets with known answers: fitting, storing and applying it.

- :mod:`~astrotinyml.calibration.references` - reference light curves with known answers
  (:func:`reference_set`), matching detections to them (:func:`match_signal`, harmonics) and
  folds grouped by star (:func:`grouped_folds`);
- :mod:`~astrotinyml.calibration.fit` - ``calibrate()``: the pipeline on the references,
  recovery, false alarms, depth/duration biases and probability calibration, all held out by
  star.  It runs :func:`astrotinyml.detection.detect`, which applies a stored calibration, so
  this package does not import it (no import cycle): ``from astrotinyml.calibration.fit import
  calibrate``;
- :mod:`~astrotinyml.calibration.probability` - temperature scaling, isotonic regression, ECE,
  the precision threshold;
- :mod:`~astrotinyml.calibration.store` - the :class:`Calibration` record, the SQLite store
  (``_db``), drift, the shipped default and :func:`apply_calibration`;
- :mod:`~astrotinyml.calibration.plots` - reliability, recovery and confusion figures.

>>> from astrotinyml.calibration import match_signal
>>> match_signal(1.8829, 2458354.70, 2.1, known_period=0.941453, known_epoch=2458354.70)["harmonic"]
2.0
"""

from .store import (
    DEFAULT_CALIBRATION_PATH,
    DRIFT_TOLERANCES,
    Calibration,
    apply_calibration,
    calibration_history,
    current_calibration_id,
    default_calibration,
    load_calibration,
    save_calibration,
    with_probability_calibration,
)
from .probability import apply_temperature, expected_calibration_error, fit_temperature, precision_threshold
from .references import HARMONICS, grouped_folds, match_signal, reference_set
from .plots import plot_confusion, plot_recovery, plot_reliability

__all__ = [
    "Calibration", "reference_set", "match_signal", "load_calibration", "save_calibration",
    "calibration_history", "current_calibration_id", "apply_calibration", "default_calibration",
    "with_probability_calibration", "grouped_folds", "expected_calibration_error", "fit_temperature",
    "apply_temperature", "precision_threshold",
    "DEFAULT_CALIBRATION_PATH", "DRIFT_TOLERANCES", "HARMONICS",
    "plot_reliability", "plot_recovery", "plot_confusion",
]
