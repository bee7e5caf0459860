"""Run a recipe: one run directory per expanded run, finished runs skipped, failures collected.

``runs/<recipe>[-smoke]/<split>/<run>/`` gets what ``train()`` writes (checkpoint, metrics.json,
history.csv, config.json). A run whose ``metrics.json`` exists is skipped (``force`` re-runs it);
a run with a resume checkpoint but no metrics (killed) resumes. An exception in one run is logged
to ``<run>/error.txt`` and the runner goes on; the summary lists the failures and
``<out>/summary.json`` records every run's status.

Features are computed once per (track, input spec) and shared by the runs of a recipe (an
in-memory cache, or the on-disk feature cache when ``data.cache_dir`` is set).
"""

from __future__ import annotations

import dataclasses
import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from genrelab.datasets.torch import MemoryFeatureCache
from genrelab.experiments.recipe import Recipe


@dataclass
class RunStatus:
    name: str
    status: str  # done | skipped | failed
    seconds: float = 0.0
    accuracy: float | None = None
    error: str | None = None
    run_dir: str = ""


@dataclass
class RecipeResult:
    recipe: str
    out: Path
    statuses: list[RunStatus] = field(default_factory=list)

    @property
    def failed(self) -> list[RunStatus]:
        return [s for s in self.statuses if s.status == "failed"]

    def summary_text(self) -> str:
        n = {k: sum(1 for s in self.statuses if s.status == k) for k in ("done", "skipped", "failed")}
        lines = [f"recipe {self.recipe}: {n['done']} done, {n['skipped']} skipped (finished before), "
                 f"{n['failed']} failed -> {self.out}"]
        for s in self.statuses:
            acc = "" if s.accuracy is None else f" acc={s.accuracy:.3f}"
            lines.append(f"  {s.status:7s} {s.name}{acc} ({s.seconds:.1f}s)")
        for s in self.failed:
            lines.append(f"FAILED {s.name}: {s.error} (see {s.run_dir}/error.txt)")
        return "\n".join(lines)


def _accuracy(run_dir: Path) -> float | None:
    from genrelab.evaluation.record import load_record

    try:
        return load_record(run_dir).metrics.get("accuracy")
    except Exception:
        return None


def run_recipe(recipe: Recipe, *, out: str | Path | None = None, only: Iterable[str] | None = None,
               force: bool = False, progress: bool = True, echo: Any = print) -> RecipeResult:
    from genrelab.training.data import prepare_data
    from genrelab.training.finish import write_json
    from genrelab.training.trainer import train
    from genrelab.models import registry

    out_dir = Path(out) if out else Path("runs") / (recipe.name + ("-smoke" if recipe.smoke else ""))
    out_dir.mkdir(parents=True, exist_ok=True)
    result = RecipeResult(recipe.name, out_dir)
    memory_cache = MemoryFeatureCache()
    prepared: dict[str, Any] = {}
    runs = recipe.select(only)
    for i, run in enumerate(runs, 1):
        run_dir = out_dir / run.name
        cfg = dataclasses.replace(run.config, out=str(run_dir), name=run.name)
        if not progress:
            cfg.progress = False
        if (run_dir / "metrics.json").exists() and not force:
            result.statuses.append(RunStatus(run.name, "skipped", 0.0, _accuracy(run_dir), run_dir=str(run_dir)))
            if echo:
                echo(f"[{i}/{len(runs)}] {run.name}: finished before, skipped")
            continue
        if echo:
            echo(f"[{i}/{len(runs)}] {run.name}: {cfg.model} ...")
        t0 = time.perf_counter()
        try:
            entry = registry.get(cfg.model)
            key = _data_key(cfg, entry)
            data = prepared.get(key)
            if data is None:
                cache = None if cfg.data.cache_dir else memory_cache
                data = prepare_data(cfg, entry, cache=cache)
                prepared.clear()  # keep one prepared data set in memory at a time
                prepared[key] = data
            (run_dir / "error.txt").unlink(missing_ok=True)
            resume = (run_dir / "lightning" / "last.ckpt").exists() and not force
            train(cfg, data=data, resume=resume)
            st = RunStatus(run.name, "done", time.perf_counter() - t0, _accuracy(run_dir), run_dir=str(run_dir))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one failing run must not stop the others
            run_dir.mkdir(parents=True, exist_ok=True)
            (run_dir / "error.txt").write_text("".join(traceback.format_exception(exc)))
            st = RunStatus(run.name, "failed", time.perf_counter() - t0, None, f"{type(exc).__name__}: {exc}",
                           str(run_dir))
            if echo:
                echo(f"    FAILED: {st.error}")
        result.statuses.append(st)
        write_json(out_dir / "summary.json", {"recipe": recipe.name, "smoke": recipe.smoke,
                                              "runs": [dataclasses.asdict(s) for s in result.statuses]})
    return result


def _data_key(cfg: Any, entry: Any) -> str:
    """Runs with the same data settings, input spec and seed share prepared arrays."""
    from genrelab.training.data import resolve_spec

    spec = resolve_spec(entry, cfg) if cfg.data.dataset != "table" else None
    d = dataclasses.asdict(cfg.data)
    return json.dumps({"data": d, "spec": spec.hash() if spec else cfg.model, "seed": cfg.seed,
                       "table_model": entry.contract(**cfg.model_args).spec.hash()}, sort_keys=True, default=str)
