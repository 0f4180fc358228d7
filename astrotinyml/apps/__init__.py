"""Applications built on the stage functions: batch runs (:mod:`~astrotinyml.apps.batch`),
the papermill notebook pipeline (:mod:`~astrotinyml.apps.pipeline`), the Jupyter explorer
(:mod:`~astrotinyml.apps.widgets`) and the command line (``astrotinyml.apps.cli``, behind the
``astrotinyml`` command).

Nothing in the library imports from here; these modules import the library.
"""
