"""The Keras 1-D CNN of the classifier (three branches: global view, local views, scalars).

Sized for a Cortex-M4: ~117k multiply-accumulates and ~11k parameters at ``width=1``
(counted from the converted graph by :func:`astrotinyml.training.export.count_macs`).

Why this shape: the global view (201 bins) is subsampled by a stride-2 first convolution
because its features (secondary eclipse, out-of-transit variation, period aliasing) are
wide; the local views keep full resolution because the transit shape (U vs V, ingress,
odd/even depth) lives in a few bins; odd, even, secondary and all-transit views are the
channels of one branch so the first filters can form their differences (odd - even,
primary - secondary) directly.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build_model"]


def build_model(spec: dict[str, Any], *, n_classes: int = 5, width: float = 1.0, dropout: float = 0.3):
    """Build the (uncompiled) Keras classifier for an input spec.

    Parameters
    ----------
    spec : dict
        Input spec (:func:`astrotinyml.modelspec.default_spec`).
    n_classes : int
        Output classes (softmax).
    width : float
        Multiplier of every filter / unit count (``0.5`` for a tiny test model).
    dropout : float
        Dropout before the last hidden layer (training only).

    Returns
    -------
    keras.Model
        Inputs ``global_view``, ``local_views``, ``scalars``; output ``probabilities``.

    Examples
    --------
    >>> from astrotinyml.modelspec import default_spec
    >>> m = build_model(default_spec(), width=0.5)   # doctest: +SKIP
    >>> [i.name for i in m.inputs]                   # doctest: +SKIP
    ['global_view', 'local_views', 'scalars']
    """
    import keras
    from keras import layers

    def w(n):
        return max(int(round(n * width)), 2)

    inp = spec["inputs"]
    g_in = keras.Input(tuple(inp["global_view"]["shape"]), name="global_view")
    x = layers.Conv1D(w(8), 5, strides=2, padding="same", activation="relu", name="g_conv1")(g_in)
    x = layers.MaxPooling1D(2, name="g_pool1")(x)
    x = layers.Conv1D(w(12), 5, padding="same", activation="relu", name="g_conv2")(x)
    x = layers.MaxPooling1D(2, name="g_pool2")(x)
    x = layers.Conv1D(w(16), 5, padding="same", activation="relu", name="g_conv3")(x)
    x = layers.MaxPooling1D(2, name="g_pool3")(x)
    x = layers.Flatten(name="g_flat")(x)

    l_in = keras.Input(tuple(inp["local_views"]["shape"]), name="local_views")
    y = layers.Conv1D(w(16), 5, padding="same", activation="relu", name="l_conv1")(l_in)
    y = layers.MaxPooling1D(2, name="l_pool1")(y)
    y = layers.Conv1D(w(16), 5, padding="same", activation="relu", name="l_conv2")(y)
    y = layers.MaxPooling1D(2, name="l_pool2")(y)
    y = layers.Flatten(name="l_flat")(y)

    s_in = keras.Input(tuple(inp["scalars"]["shape"]), name="scalars")
    z = layers.Dense(w(16), activation="relu", name="s_dense")(s_in)

    h = layers.Concatenate(name="concat")([x, y, z])
    h = layers.Dropout(dropout, name="dropout")(h)
    h = layers.Dense(w(16), activation="relu", name="hidden")(h)
    out = layers.Dense(n_classes, activation="softmax", name="probabilities")(h)
    return keras.Model(inputs=[g_in, l_in, s_in], outputs=out, name="astrotinyml_cnn")
