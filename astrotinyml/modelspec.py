"""Input specification of the classifier and the preprocessing that maps Views to it.

Numpy only: :func:`astrotinyml.classification.classify` uses it with LiteRT, without TensorFlow.
The spec is stored in ``registry.json`` beside each shipped model, so a model and its
preprocessing cannot drift apart.

Model inputs (names are valid Python identifiers, as the SavedModel -> TFLite path needs):

===============  ==========  ===============================================================
input            shape       content
===============  ==========  ===============================================================
``global_view``  (G, 1)      :attr:`Views.global_view`, clipped to ``view_clip``
``local_views``  (L, 4)      channels local, odd, even, secondary views, clipped
``scalars``      (S,)        :attr:`Views.scalars` standardized with the training mean/std,
                             clipped to ``scalar_clip``
===============  ==========  ===============================================================
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import InvalidParameterError
from .views import SCALAR_NAMES, stack_views

__all__ = ["LOCAL_CHANNELS", "default_spec", "preprocess", "arrays_from_views"]

#: Views stacked as channels of the ``local_views`` input, in order.
LOCAL_CHANNELS = ("local_view", "odd_view", "even_view", "secondary_view")


def default_spec(scalar_mean=None, scalar_std=None) -> dict[str, Any]:
    """The input spec (JSON-friendly) for the default :func:`~astrotinyml.views.fold_views`.

    Parameters
    ----------
    scalar_mean, scalar_std : sequence of float, optional
        Standardization of the scalars (training-set statistics); 0 and 1 when omitted.

    Returns
    -------
    dict

    Examples
    --------
    >>> spec = default_spec()
    >>> spec["inputs"]["local_views"]["shape"]
    [61, 4]
    """

    n = len(SCALAR_NAMES)
    mean = [0.0] * n if scalar_mean is None else [float(x) for x in scalar_mean]
    std = [1.0] * n if scalar_std is None else [float(x) for x in scalar_std]
    return {
        "fold_views": {"global_bins": 201, "local_bins": 61, "local_width": 4.0},
        "inputs": {
            "global_view": {"shape": [201, 1], "source": ["global_view"]},
            "local_views": {"shape": [61, 4], "source": list(LOCAL_CHANNELS)},
            "scalars": {"shape": [n], "source": list(SCALAR_NAMES), "mean": mean, "std": std},
        },
        "view_clip": [-4.0, 4.0],
        "scalar_clip": [-6.0, 6.0],
    }


def arrays_from_views(views: list) -> dict[str, np.ndarray]:
    """Stack a list of :class:`~astrotinyml.views.Views` (``stack_views``)."""

    return stack_views(list(views))


def preprocess(arrays: dict[str, np.ndarray], spec: dict[str, Any]) -> dict[str, np.ndarray]:
    """Map stacked views (``stack_views`` output) to the model inputs of ``spec``.

    Parameters
    ----------
    arrays : dict of str to numpy.ndarray
        ``global_view`` (N, G), the four local views (N, L), ``scalars`` (N, S).
    spec : dict
        Input spec (:func:`default_spec` or a registry entry's ``input_spec``).

    Returns
    -------
    dict of str to numpy.ndarray
        ``global_view`` (N, G, 1), ``local_views`` (N, L, 4), ``scalars`` (N, S), float32.

    Raises
    ------
    InvalidParameterError
        Views whose bin counts differ from the spec.

    Examples
    --------
    >>> import numpy as np
    >>> from astrotinyml.views import SCALAR_NAMES
    >>> a = {k: np.zeros((2, 61), np.float32) for k in LOCAL_CHANNELS}
    >>> a["global_view"] = np.zeros((2, 201), np.float32); a["scalars"] = np.zeros((2, len(SCALAR_NAMES)), np.float32)
    >>> {k: v.shape for k, v in preprocess(a, default_spec()).items()}["local_views"]
    (2, 61, 4)
    """
    inputs = spec["inputs"]
    lo, hi = spec["view_clip"]
    g = np.asarray(arrays["global_view"], dtype=np.float32)
    want_g = inputs["global_view"]["shape"][0]
    if g.shape[1] != want_g:
        raise InvalidParameterError(
            f"global_view has {g.shape[1]} bins but the model expects {want_g}; fold with "
            f"fold_views(..., **{spec['fold_views']})")
    loc = np.stack([np.asarray(arrays[c], dtype=np.float32) for c in inputs["local_views"]["source"]], axis=-1)
    want_l = inputs["local_views"]["shape"][0]
    if loc.shape[1] != want_l:
        raise InvalidParameterError(
            f"local views have {loc.shape[1]} bins but the model expects {want_l}; fold with "
            f"fold_views(..., **{spec['fold_views']})")
    s = np.asarray(arrays["scalars"], dtype=np.float32)

    # A model takes its scalars by name, so views of a later version (more scalars) still
    # feed a model trained on fewer.
    wanted = list(inputs["scalars"]["source"])
    if s.shape[-1] != len(SCALAR_NAMES) or not set(wanted) <= set(SCALAR_NAMES) or \
            len(wanted) != len(inputs["scalars"]["mean"]):
        raise InvalidParameterError(
            f"the model expects the scalars {wanted} but these views have "
            f"{s.shape[-1]} ({list(SCALAR_NAMES)} in this version): use the model shipped with this version of "
            f"astrotinyml, or retrain (astrotinyml train)")
    if wanted != list(SCALAR_NAMES):
        s = s[..., [SCALAR_NAMES.index(n) for n in wanted]]
    mean = np.asarray(inputs["scalars"]["mean"], dtype=np.float32)
    std = np.asarray(inputs["scalars"]["std"], dtype=np.float32)
    s = np.clip((s - mean) / np.where(std > 0, std, 1.0), *spec["scalar_clip"])
    return {
        "global_view": np.clip(g, lo, hi)[..., None].astype(np.float32),
        "local_views": np.clip(loc, lo, hi).astype(np.float32),
        "scalars": s.astype(np.float32),
    }
