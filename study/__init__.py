"""Reusable core of the cross-lingual intermediate-task study.

Notebooks call into these modules; nothing here depends on a notebook.
One module per concern (README, "Package layout"): config, conditions, registry, data,
features, leakage, datacard, demo_data, demo_grammar, demo_card, pretrained, typology,
selection, design, training, multitask, launch, evaluation, results, stats, report,
plots, provenance, io, layout, runner, pipeline, preflight, jobgraph, fingerprints,
costs, grid (the command line), console (what a run prints), timing, warm; the notebooks'
stages in study.stages.
"""

__version__ = "0.1.0"
