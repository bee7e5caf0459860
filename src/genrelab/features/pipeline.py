"""The extraction pipeline behind :meth:`FeatureCache.compute_all`: tracks -> decoded audio -> examples -> entries.

Where the time of ``features extract`` goes, and what this module does about it:

- process start-up: the workers are forked once from the parent after it warmed the feature code up
  (imports, compiled kernels, filter banks), and each worker handles a *chunk* of tracks per task: no
  per-track process, import or spec parsing; chunks shrink towards the end (:func:`chunk_sizes`) so the
  workers finish together; BLAS is limited to one thread in this process before the workers fork
  (:func:`genrelab.features.workers.worker_pool`); CPU features import neither torch nor librosa
  (:mod:`genrelab.features.fastmel`);
- decode + resample: a worker decodes the next tracks of its chunk in a background thread while it
  computes the current ones (libsndfile, soxr and the feature kernels release the GIL);
- compute: on a GPU, consecutive tracks whose framed audio has the same shape are computed in one
  ``feature.compute`` call (one batch: one transfer and kernel launch per batch); on CPU track by track,
  which keeps each clip's frames in cache (batching measured no faster there);
- cache writes: one ``write`` + rename per entry and one appended index line, no fsync (validation
  catches what a crash could leave, see :mod:`genrelab.features.cache`).

Each task returns the CPU seconds it spent per stage (decode, resample, compute, write), summed over the
workers in :attr:`CacheReport.stages`.
"""

from __future__ import annotations

import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from genrelab.features.config import InputSpec
from genrelab.types import DataError, Track

STAGES = ("decode", "resample", "compute", "write")
#: tracks computed in one ``feature.compute`` call when their frames have the same shape
BATCH_TRACKS = 8
#: tracks per worker task (and at most this many decoded signals held per worker)
CHUNK_TRACKS = 16


def decode(track: Track, spec: InputSpec, times: dict[str, float] | None = None) -> np.ndarray:
    """A track's mono float32 audio at ``spec.sample_rate`` (its augmentation applied, when it is a variant)."""
    from genrelab import audio

    if track.path is None:
        raise DataError(f"{track.track_id}: no audio path")
    t0 = time.thread_time()
    y, sr = audio.load(track.path, sr=None)
    t1 = time.thread_time()
    if sr != spec.sample_rate:
        y = audio.resample(y, sr, spec.sample_rate)
    aug = (track.extra or {}).get("augment")
    if aug:  # an augmented training variant (features.augment.expand_training_set)
        from genrelab.features.augment import apply

        y = apply(y, spec.sample_rate, aug)
    if times is not None:
        times["decode"] += t1 - t0
        times["resample"] += time.thread_time() - t1
    return y


def examples_many(spec: InputSpec, signals: Sequence[np.ndarray], runtime: Any = None) -> list[np.ndarray]:
    """``[spec.examples(y) for y in signals]`` (float32), with the frames of all signals computed in one
    ``feature.compute`` call when the feature takes batches and the frames agree in shape. ``runtime``: a
    :class:`genrelab.runtime.Runtime` (its ``device``), None for the features' defaults."""
    frames = [spec.frame(y) for y in signals]
    if len(frames) > 1 and spec.feature.batched and len({f.shape[1:] for f in frames}) == 1:
        feats = np.asarray(spec.feature.compute_on(np.concatenate(frames), runtime), dtype=np.float32)
        out = np.split(feats, np.cumsum([len(f) for f in frames])[:-1])
        return [o[None] if spec.group_segments else o for o in out]
    return [np.asarray(spec.examples(y, runtime=runtime), dtype=np.float32) for y in signals]


_SPECS: dict[str, InputSpec] = {}


def _spec(spec_dict: dict) -> InputSpec:
    import json

    key = json.dumps(spec_dict, sort_keys=True)
    if key not in _SPECS:
        _SPECS[key] = InputSpec.from_dict(spec_dict)
    return _SPECS[key]


def default_batch(runtime: Any = None) -> int:
    """Tracks per ``feature.compute`` call: :data:`BATCH_TRACKS` when features run on a GPU, else 1."""
    from genrelab.features.spectral import resolve_device

    return BATCH_TRACKS if resolve_device(getattr(runtime, "device", None)) != "cpu" else 1


def process_chunk(root: str, spec_dict: dict, items: Sequence[tuple[str, str | None, dict | None]],
                  batch: int | None = None, *, cache_cls: type,
                  runtime: Any = None) -> tuple[list[tuple[str, str | None]], dict[str, float]]:
    """Worker task: compute and store the entries of ``items`` (``(track_id, path, extra)``).

    Returns ``[(track_id, error or None)]`` in order and the CPU seconds per stage. Decoding runs one track
    ahead in a thread; runs of up to ``batch`` (default :func:`default_batch`) decoded tracks are computed
    together. ``cache_cls``: the :class:`~genrelab.features.cache.FeatureCache` class (passed in: the cache
    imports this module, not the other way round). ``runtime``: where the features run (its ``device``).
    """
    cache, spec = cache_cls(root), _spec(spec_dict)
    batch = default_batch(runtime) if batch is None else max(1, int(batch))
    times = {k: 0.0 for k in STAGES}
    results: list[tuple[str, str | None]] = []
    tracks = [Track(track_id=t, path=None if p is None else Path(p), label=None, extra=e or {}) for t, p, e in items]

    def store(ok: list[tuple[Track, np.ndarray]]) -> None:
        if not ok:
            return
        t0 = time.thread_time()
        try:
            feats = examples_many(spec, [y for _, y in ok], runtime)
        except Exception:  # noqa: BLE001 - one bad track must not fail its batch: retry one by one
            feats = []
            for t, y in ok:
                try:
                    feats.append(np.asarray(spec.examples(y, runtime=runtime), dtype=np.float32))
                except Exception as exc:  # noqa: BLE001
                    feats.append(exc)
        t1 = time.thread_time()
        times["compute"] += t1 - t0
        for (t, _), f in zip(ok, feats):
            if isinstance(f, Exception):
                results.append((t.track_id, f"{type(f).__name__}: {f}"))
                continue
            try:
                cache.put(t.track_id, spec, f)
                results.append((t.track_id, None))
            except Exception as exc:  # noqa: BLE001
                results.append((t.track_id, f"{type(exc).__name__}: {exc}"))
        times["write"] += time.thread_time() - t1

    def load(t: Track) -> tuple[np.ndarray | None, str | None, dict[str, float]]:
        tt = {k: 0.0 for k in STAGES}
        try:
            return decode(t, spec, tt), None, tt
        except Exception as exc:  # noqa: BLE001 - reported per track
            return None, f"{type(exc).__name__}: {exc}", tt

    pending: list[tuple[Track, np.ndarray]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="genrelab-decode") as pre:
        futures = [pre.submit(load, tracks[0])] if tracks else []
        for i, t in enumerate(tracks):
            if i + 1 < len(tracks):
                futures.append(pre.submit(load, tracks[i + 1]))  # decode the next track while this one computes
            y, err, tt = futures[i].result()
            futures[i] = None  # type: ignore[call-overload]  # free the signal once used
            for k in ("decode", "resample"):
                times[k] += tt[k]
            if err is not None:
                store(pending)
                pending = []
                results.append((t.track_id, err))
                continue
            pending.append((t, y))
            if len(pending) >= batch:
                store(pending)
                pending = []
        store(pending)
    order = {t.track_id: i for i, t in enumerate(tracks)}
    results.sort(key=lambda r: order[r[0]])
    return results, times


def run(root: str, spec: InputSpec, todo: Sequence[Track], workers: int,
        done: Callable[[str, str | None], None], stages: dict[str, float], cache_cls: type,
        runtime: Any = None) -> None:
    """Compute ``todo`` into the cache at ``root`` with ``workers`` processes (in this process when 1), calling
    ``done(track_id, error)`` per track and adding each stage's CPU seconds to ``stages``. ``runtime``: a
    :class:`genrelab.runtime.Runtime` (features run on its ``device``), None for the defaults."""
    items = [(t.track_id, None if t.path is None else str(t.path), _aug_extra(t)) for t in todo]
    spec_dict = spec.to_dict()

    def finish(res: tuple[list[tuple[str, str | None]], dict[str, float]]) -> None:
        rows, times = res
        for k, v in times.items():
            stages[k] = stages.get(k, 0.0) + v
        for tid, err in rows:
            done(tid, err)

    if workers <= 1 or len(items) <= 1:
        for i in range(0, len(items), CHUNK_TRACKS):
            finish(process_chunk(root, spec_dict, items[i:i + CHUNK_TRACKS], cache_cls=cache_cls, runtime=runtime))
        return
    from genrelab.features.workers import _preload, worker_pool

    chunks, start = [], 0
    for size in chunk_sizes(len(items), workers):
        chunks.append(items[start:start + size])
        start += size
    _preload(spec)
    with worker_pool(workers) as ex:
        pending: dict[Any, list] = {}
        for chunk in chunks:  # a bounded number of tasks in flight (cheap memory, prompt interruption)
            pending[ex.submit(process_chunk, root, spec_dict, chunk, cache_cls=cache_cls, runtime=runtime)] = chunk
            if len(pending) >= 2 * workers:
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for f in finished:
                    _collect(f, pending.pop(f), finish)
        for f in list(pending):
            _collect(f, pending.pop(f), finish)


def chunk_sizes(n: int, workers: int, largest: int = CHUNK_TRACKS) -> list[int]:
    """Tracks per worker task: up to ``largest``, shrinking near the end to what is left / (2 x workers)
    (guided scheduling), so the workers run out of work together instead of one finishing a last full chunk
    alone (measured: up to 16 x 8 ms with one core idle)."""
    sizes, left = [], int(n)
    while left > 0:
        size = max(1, min(int(largest), -(-left // (2 * max(1, workers)))))
        sizes.append(size)
        left -= size
    return sizes


def _collect(fut: Any, chunk: list, finish: Callable) -> None:
    try:
        res = fut.result()
    except Exception as exc:  # noqa: BLE001 - a worker that died (killed, out of memory): report its tracks
        res = ([(tid, f"worker failed ({type(exc).__name__}: {exc})") for tid, _, _ in chunk], {})
    finish(res)


def _aug_extra(t: Track) -> dict | None:
    return {"augment": t.extra["augment"]} if t.extra and t.extra.get("augment") else None


__all__ = ["decode", "examples_many", "process_chunk", "run", "default_batch", "chunk_sizes", "STAGES",
           "BATCH_TRACKS", "CHUNK_TRACKS"]
