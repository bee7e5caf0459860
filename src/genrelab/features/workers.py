"""Worker processes for feature extraction: a pool whose workers die with their parent, forked from a parent that
has already imported and warmed up the feature code (used by the cache's pipeline and the GTZAN-57 CSV export)."""

from __future__ import annotations

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


def _init_worker() -> None:
    # one worker per core: keep each worker's libraries single-threaded (torch only when the parent
    # imported it: a CPU extraction never needs it, and importing it costs ~1.3 s of CPU per worker)
    import sys

    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(1)
    try:  # and BLAS (OpenBLAS threads spin: a 13 x 128 DCT product cost 8 ms of CPU instead of 0.07)
        from threadpoolctl import threadpool_limits

        threadpool_limits(1)
    except Exception:  # noqa: BLE001 - threadpoolctl comes with scikit-learn; without it BLAS keeps its threads
        pass
    from genrelab.features.threads import set_num_threads

    set_num_threads(1)


def worker_pool(workers: int):
    """A process pool of ``workers`` feature workers that die with this process (``genrelab.procpool``:
    a ``kill -9`` of ``features extract`` leaves no worker running), forked from the warmed-up parent."""
    from genrelab.procpool import process_pool

    return process_pool(workers, initializer=_init_worker, mp_context=mp_context())


def mp_context():
    """Process start method for worker pools: the platform default ("fork" on Linux: no ``__main__``
    guard needed, workers start at once). The feature kernels use no OpenMP threading layer, so
    forking a process that already computed features is safe."""
    import multiprocessing as mp

    return mp.get_context()


__all__ = ["worker_pool", "mp_context"]
