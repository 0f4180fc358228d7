"""The TinyML candidate classifier: input spec, architecture, training and export.

Submodules (import them explicitly; none is imported by ``import astrotinyml``):

- :mod:`astrotinyml.model.spec` - input layout and preprocessing (numpy only; used by
  :func:`astrotinyml.classify.classify` without TensorFlow);
- :mod:`astrotinyml.model.architecture` - the Keras 1-D CNN (needs TensorFlow);
- :mod:`astrotinyml.model.train` - :func:`~astrotinyml.model.train.train_model` (needs the
  ``train`` extra: TensorFlow);
- :mod:`astrotinyml.model.export` - TFLite float/int8 conversion, MAC count from the
  converted graph, C array for TensorFlow Lite Micro, model card.
"""
