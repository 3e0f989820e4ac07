"""Reusable core of the cross-lingual intermediate-task study.

Notebooks call into these modules; nothing here depends on a notebook.
One module per concern: config, registry, data, demo_data, pretrained, typology,
selection, training, evaluation, results, plots, provenance, io, runner.
"""

__version__ = "0.1.0"
