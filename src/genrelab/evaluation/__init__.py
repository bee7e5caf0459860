"""Evaluation: leaf modules (numpy, scikit-learn, matplotlib), imported one by one to keep start-up fast.

* :mod:`~genrelab.evaluation.metrics` — ``compute_metrics``, ``bootstrap_ci``, ``fold_summary``
* :mod:`~genrelab.evaluation.aggregate` — segment -> track (``aggregate_tracks``), ``evaluate_levels``
* :mod:`~genrelab.evaluation.timing` — ``Timer``, ``throughput``, ``count_parameters``
* :mod:`~genrelab.evaluation.record` — the run record (``metrics.json``): ``RunRecord``, ``load_record``, ``write_record``
* :mod:`~genrelab.evaluation.plots` — PNG plots (curves, confusion, per-genre recall, comparison, genre sheet)
"""
