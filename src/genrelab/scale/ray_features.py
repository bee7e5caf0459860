"""``genrelab features extract --engine ray``: fill a feature cache with Ray Data tasks.

Same contract as :meth:`FeatureCache.compute_all` (finished entries are skipped, each entry is written
atomically, a track that fails is reported and skipped) with the tracks spread over a Ray cluster. The cache
folder must be on storage every node can write (a shared file system); entries are computed by one task each
and written with a rename, so two nodes never leave a torn entry even when they compute the same track.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from genrelab.features.cache import CacheReport, FeatureCache, _as_spec, _progress_bar
from genrelab.features.config import FeatureConfig, InputSpec
from genrelab.types import Track


def compute_batch(batch: dict[str, np.ndarray], *, root: str, spec: dict[str, Any]) -> dict[str, list]:
    """One Ray task: compute and store the entries of a few tracks; returns each track's error ('' when fine)."""
    from genrelab.features.cache import compute_track

    cache, sp = FeatureCache(root), InputSpec.from_dict(spec)
    out: dict[str, list] = {"track_id": [], "error": []}
    for tid, path, extra in zip(batch["track_id"], batch["path"], batch["extra"]):
        tid = str(tid)
        try:
            track = Track(track_id=tid, path=Path(str(path)) if path else None, label=None,
                          extra=json.loads(str(extra)) if extra else {})
            cache.put(tid, sp, compute_track(track, sp))
            err = ""
        except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the run
            err = f"{type(exc).__name__}: {exc}"
        out["track_id"].append(tid)
        out["error"].append(err)
    return out


def extract_ray(cache: FeatureCache, tracks: Iterable[Track | str | Path], spec: InputSpec | FeatureConfig, *,
                address: str | None = None, num_cpus: int | None = None, progress: bool = True,
                verify: bool = False) -> CacheReport:
    """Compute every missing or broken cache entry of ``tracks`` on Ray; returns the report ``compute_all`` gives.

    ``verify``: check existing entries' checksums too (reads every entry), not only their size."""
    from genrelab.scale import cluster_cpus, connect

    t0 = time.perf_counter()
    spec = _as_spec(spec)
    todo, report = cache.plan(tracks, spec, verify=verify)
    with _progress_bar(progress) as bar:
        task = bar.add_task(f"{spec.feature.kind} features (ray)", total=report.total, completed=report.cached) \
            if bar else None
        if todo:
            ray = connect(address, num_cpus=num_cpus)
            items = [{"track_id": t.track_id, "path": "" if t.path is None else str(Path(t.path).resolve()),
                      "extra": json.dumps({"augment": t.extra["augment"]}) if t.extra and t.extra.get("augment")
                      else ""} for t in todo]
            blocks = min(len(items), max(4 * cluster_cpus(), -(-len(items) // 32)))
            ds = ray.data.from_items(items, override_num_blocks=blocks)
            ds = ds.map_batches(compute_batch, batch_size=4, num_cpus=1,
                                fn_kwargs=dict(root=str(cache.root.resolve()), spec=spec.to_dict()))
            seen = set()
            for row in ds.iter_rows():
                seen.add(row["track_id"])
                if row["error"]:
                    report.failed += 1
                    report.errors.append((row["track_id"], row["error"]))
                else:
                    report.computed += 1
                if bar:
                    bar.advance(task)
            for t in todo:
                if t.track_id not in seen:
                    report.failed += 1
                    report.errors.append((t.track_id, "lost by the Ray job (a worker crashed)"))
    cache.index(Path(report.directory), reload=True)  # the tasks' records, for the reads that follow
    report.seconds = time.perf_counter() - t0
    return report


__all__ = ["extract_ray", "compute_batch"]
