"""How many threads genrelab's CPU feature code spreads its work over (clips, rows), without importing numba.

The fast spectral features (:mod:`genrelab.features.fastmel`: scipy.fft and BLAS, both release the GIL) and
the compiled kernels of the GTZAN features (:mod:`genrelab.features._kernels`, numba ``nogil``) split their
work over a few Python threads: :func:`get_num_threads`, default ``min(4, cpu_count)``. Worker processes that
already use one core each set it to 1 (:func:`set_num_threads`). Kept apart from ``_kernels`` so a mel
extraction never imports numba (its import and first cached-kernel load cost ~0.35 s per process).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

_NUM_THREADS = max(1, min(4, os.cpu_count() or 1))


def set_num_threads(n: int) -> None:
    """Threads used by genrelab's CPU feature code (1 in worker processes that already use one core each)."""
    global _NUM_THREADS
    _NUM_THREADS = max(1, int(n))


def get_num_threads() -> int:
    return _NUM_THREADS


def run_chunks(fn, n_rows: int, min_rows: int, *args) -> None:
    """Call ``fn(start, stop, *args)`` over row chunks of at least ``min_rows`` rows, in threads when more than
    one is configured."""
    k = min(_NUM_THREADS, max(1, n_rows // min_rows))
    if k <= 1:
        fn(0, n_rows, *args)
        return
    bounds = [n_rows * i // k for i in range(k + 1)]
    with ThreadPoolExecutor(max_workers=k) as ex:
        futs = [ex.submit(fn, bounds[i], bounds[i + 1], *args) for i in range(k)]
        for f in futs:
            f.result()


def map_threads(fn, items) -> list:
    """``[fn(x) for x in items]``, spread over :func:`get_num_threads` threads."""
    items = list(items)
    k = min(len(items), _NUM_THREADS)
    if k <= 1:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(max_workers=k) as ex:
        return list(ex.map(fn, items))


__all__ = ["set_num_threads", "get_num_threads", "run_chunks", "map_threads"]
