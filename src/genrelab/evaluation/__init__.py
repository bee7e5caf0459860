"""Evaluation: leaf modules (numpy, scikit-learn, matplotlib), imported one by one to keep start-up fast.

* :mod:`~genrelab.evaluation.metrics` — ``compute_metrics``, ``bootstrap_ci``, ``fold_summary``
* :mod:`~genrelab.evaluation.aggregate` — segment -> track (``aggregate_tracks``), ``evaluate_levels``
* :mod:`~genrelab.evaluation.timing` — ``Timer``, ``throughput``, ``count_parameters``
* :mod:`~genrelab.evaluation.record` — the ``metrics.json`` schema, ``make_record``, ``write_metrics_json``
* :mod:`~genrelab.evaluation.plots` — PNG plots (curves, confusion, per-genre recall, comparison, genre sheet)
"""
