"""The TinyML candidate classifier: training data, architecture, training and export.

Submodules (import them explicitly; none is imported by ``import astrotinyml``):

- :mod:`astrotinyml.training.backgrounds` - real (``backgrounds.json``) and synthetic noise
  light curves to inject signals into;
- :mod:`astrotinyml.training.signals` - the classes (:data:`~astrotinyml.training.signals.CLASSES`)
  and the physics of the injected signals (planets, eclipsing binaries, variability, systematics);
- :mod:`astrotinyml.training.simulate` - one example through the pipeline (inject, detrend,
  search, vet, fold);
- :mod:`astrotinyml.training.dataset` - the seeded, cached simulated training set;
- :mod:`astrotinyml.training.real` - labelled examples from real stars (manifests, archives);
- :mod:`astrotinyml.training.architecture` - the Keras 1-D CNN (needs TensorFlow);
- :mod:`astrotinyml.training.train` - :func:`~astrotinyml.training.train.train_model` (needs the
  ``train`` extra: TensorFlow);
- :mod:`astrotinyml.training.metrics` - confusion matrix, recall, AUC, the real stars' summary;
- :mod:`astrotinyml.training.export` - TFLite float/int8 conversion, MAC count from the
  converted graph, C array for TensorFlow Lite Micro, model card;
- :mod:`astrotinyml.training.tflm` - running a flatbuffer in TensorFlow Lite Micro and LiteRT
  (agreement, measured arena);
- :mod:`astrotinyml.training.edge` - the plain-C implementation of the graph for Cortex-M4 and
  the edge report (``make edge``).

The input layout and preprocessing the classifier shares with inference live in
:mod:`astrotinyml.modelspec` (numpy only; used by :func:`astrotinyml.classification.classify`
without TensorFlow).
"""
