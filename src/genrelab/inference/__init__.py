"""Instant genre identification: a checkpoint in, genres out.

- :mod:`~genrelab.inference.classifier` — :class:`Classifier` (``from_pretrained``, ``classify``, the
  Hugging Face pipeline call), ``aggregate_probabilities``;
- :mod:`~genrelab.inference.result` — the one result schema (:class:`ClassificationResult`, ``to_dict`` /
  ``from_dict``);
- :mod:`~genrelab.inference.batch` — :func:`classify_parallel` (worker processes);
- :mod:`~genrelab.inference.resolve` — model names and checkpoint folders.

How a track is read is the checkpoint's :class:`~genrelab.features.config.InputSpec` (``spread``,
``assemble``, ``sliding``); what runs the model is :func:`genrelab.checkpoint.load` with a
:class:`~genrelab.runtime.Runtime`. Nothing here imports ``genrelab.training``.
"""

from genrelab.inference.batch import classify_parallel
from genrelab.inference.classifier import DEFAULT_PATCHES, Classifier, aggregate_probabilities
from genrelab.inference.resolve import DEFAULT_MODEL, pretrained_dir, resolve_model
from genrelab.inference.result import ClassificationResult, TimelineEntry, result_from_dict

__all__ = [
    "Classifier", "ClassificationResult", "TimelineEntry", "classify_parallel", "resolve_model", "pretrained_dir",
    "aggregate_probabilities", "result_from_dict", "DEFAULT_MODEL", "DEFAULT_PATCHES",
]
