"""Worker processes for feature extraction: a pool whose workers die with their parent, forked from a parent that
has already imported and warmed up the feature code (used by the cache's pipeline and the GTZAN-57 CSV export)."""

from __future__ import annotations

import contextlib
from typing import Any, Iterator

import numpy as np

from genrelab.features.config import InputSpec


def _preload(spec: InputSpec) -> None:
    """Import and warm up the feature code once in the parent, so forked workers start ready."""
    try:
        import genrelab.audio  # noqa: F401  (the decoders: soundfile, soxr; each worker would import them)

        y = 0.01 * np.random.default_rng(0).standard_normal(int(spec.sample_rate * 3)).astype(np.float32)
        spec.feature.compute(y)
    except Exception:  # noqa: BLE001 - only a warm-up
        pass


def _blas_limit():
    """threadpoolctl's limit of BLAS to one thread (None without threadpoolctl, which comes with scikit-learn)."""
    try:
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=1, user_api="blas")
    except Exception:  # noqa: BLE001 - without it BLAS keeps its threads
        return None


def _init_worker(limit_blas: bool) -> None:
    # one worker per core: keep each worker's libraries single-threaded (torch only when the parent
    # imported it: a CPU extraction never needs it, and importing it costs ~1.3 s of CPU per worker)
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    if limit_blas:  # spawned workers (not forked with the parent's limit): see worker_pool
        _blas_limit()
    from genrelab.features.threads import set_num_threads

    set_num_threads(1)


@contextlib.contextmanager
def worker_pool(workers: int) -> Iterator[Any]:
    """A process pool of ``workers`` feature workers that die with this process (``genrelab.procpool``:
    a ``kill -9`` of ``features extract`` leaves no worker running), forked from the warmed-up parent.

    BLAS runs on one thread in the workers (OpenBLAS's threads spin: a 13 x 128 DCT product cost 8 ms of CPU
    instead of 0.07). The limit is set in this process while the pool lives, so forked workers inherit it:
    set in a forked worker instead, it makes OpenBLAS start its threads there, and each new thread
    busy-waits ~0.1 s of CPU (measured: 0.2 s of CPU per worker, two OpenBLAS copies - numpy's and
    scipy's - before the first track). This process only waits meanwhile."""
    from genrelab.procpool import process_pool

    ctx = mp_context()
    limit = _blas_limit()
    try:
        with process_pool(workers, initializer=_init_worker, initargs=(ctx.get_start_method() != "fork",),
                          mp_context=ctx) as ex:
            yield ex
    finally:
        if limit is not None:
            limit.restore_original_limits()


def mp_context():
    """Process start method for worker pools: the platform default ("fork" on Linux: no ``__main__``
    guard needed, workers start at once). The feature kernels use no OpenMP threading layer, so
    forking a process that already computed features is safe."""
    import multiprocessing as mp

    return mp.get_context()


__all__ = ["worker_pool", "mp_context"]
