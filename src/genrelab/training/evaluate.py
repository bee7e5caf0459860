"""Score a saved checkpoint on any dataset and split part (``genrelab evaluate``).

The checkpoint alone defines the input: its contract (feature config and framing), labels and
normaliser. Tracks whose label the checkpoint does not know are left out and counted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genrelab.training.config import DataConfig
from genrelab.types import ConfigError, DataError


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint folder from a checkpoint folder, its model.json, or a run directory."""
    p = Path(path)
    if p.name == "model.json":
        p = p.parent
    if (p / "model.json").exists():
        return p
    if (p / "checkpoint" / "model.json").exists():
        return p / "checkpoint"
    raise DataError(f"{path}: not a checkpoint (no model.json) nor a run directory with checkpoint/")


def evaluate_checkpoint(
    checkpoint_path: str | Path,
    data: DataConfig,
    *,
    part: str | None = "test",
    out: str | Path | None = None,
    level: str = "track",
    aggregation: str = "mean",
    n_boot: int = 1000,
    seed: int = 0,
    batch_size: int = 64,
    progress: bool = True,
) -> Path:
    """Write ``metrics.json`` for ``checkpoint_path`` on ``part`` of ``data`` (``part=None``: every
    labelled track of the dataset); returns the output directory."""
    import json

    from genrelab import checkpoint as ck
    from genrelab.datasets.torch import build_examples, lazy_normalizer
    from genrelab.evaluation.record import RunRecord, part_scores, write_record
    from genrelab.evaluation.timing import Timer, count_parameters
    from genrelab.training.data import load_tracks, open_cache, pixel_dtype, split_tracks
    from genrelab.training.finish import headline, score, write_json
    from genrelab.types import LabelSet

    ckpt_dir = resolve_checkpoint(checkpoint_path)
    loaded = ck.load(ckpt_dir)
    labels = LabelSet(loaded.labels)
    tracks, name, index = load_tracks(data)
    split_info: dict[str, Any]
    if part is None or data.split == "none":
        chosen, split_info, part = tracks, {"method": "whole dataset", "leaky": False}, "all"
    else:
        if data.split == "random-segment":
            raise ConfigError("evaluate scores whole tracks; a random-segment split cannot be re-created here")
        parts, split_info, _split = split_tracks(tracks, data, index)
        if part not in parts or not parts[part]:
            have = [p for p, v in parts.items() if v]
            raise DataError(f"split {data.split!r} has no tracks in part {part!r}; parts: {', '.join(have)}")
        chosen = parts[part]
    known = [t for t in chosen if t.label in labels]
    unknown = len(chosen) - len(known)
    if not known:
        raise DataError(f"none of the {len(chosen)} track(s) has a label the checkpoint knows ({', '.join(labels)})")
    spec = loaded.contract.spec
    if spec.feature.kind == "table" and data.dataset != "table" and not getattr(spec.feature, "audio_equivalent", None):
        raise ConfigError("this checkpoint reads feature-table rows; evaluate it on a table (--dataset table)")
    # stored as training stored them (uint8 pixels for colour-mapped images, unless the run chose float32), from
    # the feature cache when --cache-dir is given (memory-mapped when large: data.mmap), and read through the
    # checkpoint's normaliser batch by batch: no normalised copy of the part (3 x 288 x 432 images are 1.5 MB each)
    trained_pixels = ((loaded.train or {}).get("data") or {}).get("pixels", data.pixels)
    cache = open_cache(data.cache_dir) if data.cache_dir and spec.feature.kind != "table" else None
    with Timer() as t_feat:
        ex = build_examples(known, labels, spec, cache=cache, progress=progress, desc=f"{part} features",
                            on_error="skip", workers=data.num_workers, dtype=pixel_dtype(spec, trained_pixels),
                            mmap=data.mmap if cache is not None else False)
    ex = lazy_normalizer(ex, loaded.normalizer)
    assert ex is not None
    kind = loaded.kind
    res = score(loaded.model, kind, ex, loaded.labels, level=level, aggregation=aggregation, n_boot=n_boot,
                seed=seed, batch_size=batch_size)
    lvl, metrics, other = headline(res["levels"], level, len(ex) == ex.n_tracks)
    train_meta = loaded.train or {}
    out_dir = Path(out) if out else ckpt_dir.parent / "eval" / f"{name}-{part}"
    rec = RunRecord.from_metrics(
        metrics, model=loaded.model_name, level=lvl, aggregation=metrics.get("aggregation") if lvl == "track" else None,
        run=out_dir.name, optimizer=(train_meta.get("optim") or {}).get("optimizer", "-"),
        epochs=train_meta.get("epochs"), best_epoch=train_meta.get("best_epoch"),
        train_time_s=train_meta.get("train_time_s"), n_params=count_parameters(loaded.model),
        inference_items_per_s=res["throughput_items_per_s"], dataset=name, feature=spec.feature.kind,
        split={**split_info, "part": part}, levels=other, checkpoint=str(ckpt_dir),
        scores={part: part_scores(metrics)},
        extra={"unknown_label_tracks": unknown, "skipped_tracks": getattr(ex, "skipped", []),
               "feature_time_s": t_feat.elapsed, "evaluated": "genrelab evaluate"},
    )
    write_record(out_dir, rec)
    write_json(out_dir / "config.json", {"evaluate": {"checkpoint": str(ckpt_dir), "part": part, "level": level,
                                                      "aggregation": aggregation, "n_boot": n_boot, "seed": seed},
                                         "data": json.loads(json.dumps(data.__dict__, default=str))})
    return out_dir
