"""Many files: :func:`classify_parallel` yields results as they finish, in one process or several."""

from __future__ import annotations

import importlib
import os
from typing import Any, Iterator, Sequence

from genrelab.inference.classifier import Classifier
from genrelab.inference.resolve import DEFAULT_MODEL
from genrelab.inference.result import ClassificationResult

_WORKER: Classifier | None = None


def _worker_init(model: str, runtime: Any, n_patches: int | None, plugins: Sequence[str]) -> None:
    global _WORKER
    for m in plugins:
        importlib.import_module(m)
    _WORKER = Classifier.from_pretrained(model, runtime=runtime, n_patches=n_patches)


def _worker_run(args: tuple[str, int, bool]) -> dict[str, Any]:
    path, top_k, timeline = args
    assert _WORKER is not None
    return _WORKER.classify(path, top_k=top_k, timeline=timeline).to_dict()


def classify_parallel(
    paths: Sequence[str | os.PathLike], model: str | os.PathLike = DEFAULT_MODEL, *, workers: int = 1,
    top_k: int = 3, timeline: bool = False, runtime: Any = None, n_patches: int | None = None,
    classifier: Classifier | None = None,
) -> Iterator[ClassificationResult]:
    """Classify many files, yielding results as they finish (``workers`` processes; 1 = in this process).

    Each worker loads the model once (``runtime``: a :class:`genrelab.runtime.Runtime`, default the
    classifier's, else the environment's). A file that cannot be read yields a result with ``error`` set;
    the batch always goes on.
    """
    from genrelab.runtime import Runtime

    paths = [str(p) for p in paths]
    runtime = runtime or (classifier.runtime if classifier else None) or Runtime.from_env()
    if workers <= 1 or len(paths) <= 1:
        clf = classifier or Classifier.from_pretrained(model, runtime=runtime, n_patches=n_patches)
        for p in paths:
            yield clf.classify(p, top_k=top_k, timeline=timeline)
        return
    from concurrent.futures import as_completed

    from genrelab.procpool import process_pool  # workers die with this process (kill -9 included)

    plugins = list(classifier.plugin_modules) if classifier else []
    n_patches = n_patches or (classifier.n_patches if classifier else None)
    worker_rt = runtime.with_(threads=max(1, (os.cpu_count() or 1) // workers))
    with process_pool(workers, initializer=_worker_init, initargs=(str(model), worker_rt, n_patches, plugins)) as pool:
        futs = {pool.submit(_worker_run, (p, top_k, timeline)): p for p in paths}
        try:
            for fut in as_completed(futs):
                p = futs[fut]
                try:
                    yield ClassificationResult.from_dict(fut.result())
                except Exception as exc:  # a crashed worker: report and go on
                    yield ClassificationResult(path=p, error=f"{p}: worker failed: {type(exc).__name__}: {exc}",
                                               error_kind="error", model=str(model))
        except BaseException:
            for f in futs:
                f.cancel()
            raise


__all__ = ["classify_parallel"]
