"""The TinyML candidate classifier: input spec, architecture, training and export.

Submodules (import them explicitly; none is imported by ``import astrotinyml``):

- :mod:`astrotinyml.modelspec` - input layout and preprocessing (numpy only; used by
  :func:`astrotinyml.classification.classify` without TensorFlow);
- :mod:`astrotinyml.training.architecture` - the Keras 1-D CNN (needs TensorFlow);
- :mod:`astrotinyml.training.train` - :func:`~astrotinyml.training.train.train_model` (needs the
  ``train`` extra: TensorFlow);
- :mod:`astrotinyml.training.export` - TFLite float/int8 conversion, MAC count from the
  converted graph, C array for TensorFlow Lite Micro, model card;
- :mod:`astrotinyml.training.edge` - the TensorFlow Lite Micro check (agreement with LiteRT,
  measured arena) and the plain-C implementation of the graph for Cortex-M4 (``make edge``).
"""
