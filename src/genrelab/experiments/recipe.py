"""Experiment recipes: YAML -> typed, validated, expanded runs.

A recipe file::

    name: qin                          # folder name under runs/
    title: Qin et al. (2023) ...       # free text
    vars: {data_root: ../shared/data}  # ${data_root} anywhere below; overridden by --var / GENRELAB_DATA_ROOT
    data: {dataset: table, root: "${data_root}/gtzan/features_30_sec.csv"}   # DataConfig defaults
    defaults: {epochs: 50, batch_size: 32, optim: {optimizer: adam}}         # TrainConfig defaults
    splits:                            # named split variants; every run is repeated on each
      study:    {split: stratified, ratios: [0.8, 0.2], allow_artist_leak: true}
      leakfree: {split: gtzan-filtered, lists: "${data_root}/gtzan/splits"}
    runs:
      - name: mlp                      # run name prefix
        model: qin-mlp                 # any TrainConfig key may be set here
        grid: {optim.lr: [1.0e-5, 3.0e-5]}      # dotted keys; the product is expanded
        # or named choices:  grid: {clr: {off: {optim.scheduler: none}, on: {optim.scheduler: triangular}}}
        splits: [study]                # optional: only these split variants
    smoke:                             # merged over defaults with --smoke (tiny data, 1 epoch)
      epochs: 1
      data: {max_per_genre: 1, clip_seconds: 4}
      splits: {study: {...}}           # per-variant smoke overrides (e.g. a split that tiny data allows)

Expanded run names are ``<split>/<name>[_<key><value>...]``. Every expanded run is validated when
the recipe loads (unknown keys, unknown models or options, duplicate names), so a typo fails
before hours of training, not after.
"""

from __future__ import annotations

import copy
import fnmatch
import itertools
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from genrelab.training.config import TrainConfig
from genrelab.types import ConfigError

DEFAULT_VARS = {"data_root": "../shared/data"}
ENV_PREFIX = "GENRELAB_"  # GENRELAB_DATA_ROOT overrides ${data_root}
RECIPE_KEYS = {"name", "title", "description", "vars", "data", "defaults", "splits", "runs", "smoke", "notes"}
RUN_KEYS_EXTRA = {"name", "grid", "splits", "smoke"}
SMOKE_DEFAULTS: dict[str, Any] = {"batch_size": 8, "data": {"max_per_genre": 1, "num_workers": 0}}
# applied last in smoke mode, over run settings and grid values
SMOKE_FORCED: dict[str, Any] = {"epochs": 1, "n_boot": 50, "progress": False, "patience": None}
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass
class Run:
    """One expanded run: its name, split variant and full train config."""

    name: str
    split: str
    config: TrainConfig
    entry: str  # the run entry's name in the recipe
    grid_point: dict[str, Any] = field(default_factory=dict)


@dataclass
class Recipe:
    name: str
    title: str
    runs: list[Run]
    path: Path | None = None
    smoke: bool = False
    variables: dict[str, str] = field(default_factory=dict)

    def select(self, patterns: Iterable[str] | None = None) -> list[Run]:
        """Runs matching any pattern: a glob on the full name (``leakfree/cnn_*``) or a whole part of it."""
        pats = [p for p in (patterns or []) if p]
        if not pats:
            return list(self.runs)
        def hit(name: str, p: str) -> bool:
            # a glob on the full name, or a whole name part: "leakfree", "mlp_lr1e-4", "study/lstm"
            return fnmatch.fnmatch(name, p) or p in name.split("/") or name.startswith(p.rstrip("/") + "/")

        out = [r for r in self.runs if any(hit(r.name, p) for p in pats)]
        if not out:
            raise ConfigError(f"no run of recipe {self.name!r} matches {pats}; runs: {', '.join(r.name for r in self.runs[:10])}...")
        return out


# --------------------------------------------------------------------------- helpers
def deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in (over or {}).items():
        if isinstance(v, dict) and isinstance(out.get(k), dict) and k not in ("model_args_replace",):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def set_dotted(d: dict[str, Any], key: str, value: Any) -> None:
    parts = key.split(".")
    cur = d
    for p in parts[:-1]:
        nxt = cur.get(p)
        if nxt is None:
            nxt = cur[p] = {}
        if not isinstance(nxt, dict):
            raise ConfigError(f"grid key {key!r}: {p!r} is not a mapping")
        cur = nxt
    cur[parts[-1]] = copy.deepcopy(value)


def substitute(obj: Any, variables: dict[str, str], where: str = "recipe") -> Any:
    if isinstance(obj, str):
        def rep(m: re.Match) -> str:
            k = m.group(1)
            if k not in variables:
                raise ConfigError(f"{where}: undefined variable ${{{k}}}; define it under vars: or pass --var {k}=...")
            return str(variables[k])

        return _VAR.sub(rep, obj)
    if isinstance(obj, dict):
        return {k: substitute(v, variables, where) for k, v in obj.items()}
    if isinstance(obj, list):
        return [substitute(v, variables, where) for v in obj]
    return obj


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            m, e = f"{v:e}".split("e")
            m = m.rstrip("0").rstrip(".")
            return f"{m}e{int(e)}"
        return f"{v:g}"
    if isinstance(v, bool):
        return "on" if v else "off"
    if v is None:
        return "none"
    if isinstance(v, (dict, list)):
        return "x"
    return re.sub(r"[^A-Za-z0-9.+-]", "-", str(v))


def _short(key: str) -> str:
    last = key.split(".")[-1]
    return {"lr": "lr", "batch_size": "bs", "optimizer": "", "scheduler": "", "epochs": "ep"}.get(last, last)


def expand_grid(grid: dict[str, Any] | None, where: str) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """``[(suffix, {dotted_key: value}, point)]`` for the product of the grid axes.

    An axis is ``key: [values]`` (dotted key into the train config) or ``alias: {label: {dotted: value}}``
    (named choices, e.g. CLR on/off)."""
    if not grid:
        return [("", {}, {})]
    if not isinstance(grid, dict):
        raise ConfigError(f"{where}: grid must be a mapping of axis -> values")
    axes = []
    for key, values in grid.items():
        if isinstance(values, dict):
            if not values:
                raise ConfigError(f"{where}: grid axis {key!r} has no choices")
            choices = []
            for label, sets in values.items():
                if not isinstance(sets, dict):
                    raise ConfigError(f"{where}: grid choice {key}.{label} must map dotted keys to values")
                choices.append((f"{key}{_fmt(label)}" if key not in ("opt", "optimizer") else _fmt(label), sets, label))
            axes.append((key, choices))
        elif isinstance(values, list):
            if not values:
                raise ConfigError(f"{where}: grid axis {key!r} is empty")
            axes.append((key, [(f"{_short(key)}{_fmt(v)}", {key: v}, v) for v in values]))
        else:
            raise ConfigError(f"{where}: grid axis {key!r} must be a list or a mapping of named choices")
    out = []
    for combo in itertools.product(*[choices for _, choices in axes]):
        suffix = "_".join(c[0] for c in combo)
        sets: dict[str, Any] = {}
        point: dict[str, Any] = {}
        for (key, _), (_, s, label) in zip(axes, combo):
            sets.update(s)
            point[key] = label
        out.append((suffix, sets, point))
    return out


def _numeric_axis(values: Any) -> bool:
    return isinstance(values, list) and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def smoke_cover(points: list[Any], grid: dict[str, Any] | None) -> list[Any]:
    """A few grid points in which every value of every non-numeric axis (optimisers, schedules, named
    choices) appears at least once (the diagonal); numeric axes (lr, batch size, epochs) keep their
    first value: they change numbers, not code paths."""
    if not grid or len(points) <= 1:
        return points
    sizes = [len(v) for v in grid.values()]
    covered = [1 if _numeric_axis(v) else len(v) for v in grid.values()]
    n = max(covered)
    idx = []
    for i in range(n):
        flat = 0
        for size, cov in zip(sizes, covered):
            flat = flat * size + (i % cov)
        idx.append(flat)
    return [points[i] for i in dict.fromkeys(idx)]


# --------------------------------------------------------------------------- loading
def resolve_variables(declared: dict[str, Any] | None, overrides: dict[str, str] | None) -> dict[str, str]:
    variables = {**DEFAULT_VARS, **{k: str(v) for k, v in (declared or {}).items()}}
    for k in list(variables):
        env = os.environ.get(ENV_PREFIX + k.upper())
        if env:
            variables[k] = env
    variables.update({k: str(v) for k, v in (overrides or {}).items()})
    for _ in range(5):  # variables may use other variables: fma_root: ${data_root}/fma
        variables = {k: _VAR.sub(lambda m: variables.get(m.group(1), m.group(0)), v) for k, v in variables.items()}
    return variables


def load_recipe(path: str | Path, *, variables: dict[str, str] | None = None, smoke: bool = False) -> Recipe:
    """Read, substitute, expand and validate a recipe file."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"recipe not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: invalid YAML ({exc})") from None
    return parse_recipe(raw, variables=variables, smoke=smoke, path=path)


def parse_recipe(raw: Any, *, variables: dict[str, str] | None = None, smoke: bool = False,
                 path: Path | None = None) -> Recipe:
    where = str(path) if path else "recipe"
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: a recipe is a mapping")
    unknown = set(raw) - RECIPE_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown top-level key(s) {sorted(unknown)}; known: {', '.join(sorted(RECIPE_KEYS))}")
    name = raw.get("name") or (path.stem if path else None)
    if not name or not re.fullmatch(r"[A-Za-z0-9_.-]+", str(name)):
        raise ConfigError(f"{where}: the recipe needs a name made of letters, digits, '_', '.', '-'")
    vars_ = resolve_variables(raw.get("vars"), variables)
    raw = substitute({k: v for k, v in raw.items() if k != "vars"}, vars_, where)
    runs_raw = raw.get("runs")
    if not isinstance(runs_raw, list) or not runs_raw:
        raise ConfigError(f"{where}: 'runs' must be a non-empty list")
    data = raw.get("data") or {}
    defaults = raw.get("defaults") or {}
    if not isinstance(data, dict) or not isinstance(defaults, dict):
        raise ConfigError(f"{where}: 'data' and 'defaults' must be mappings")
    splits = raw.get("splits") or {"default": {}}
    if not isinstance(splits, dict):
        raise ConfigError(f"{where}: 'splits' must map a variant name to data settings")
    smoke_cfg = raw.get("smoke") or {}
    smoke_splits = smoke_cfg.get("splits", {}) if smoke else {}
    smoke_train = {k: v for k, v in smoke_cfg.items() if k != "splits"}
    base = deep_merge(defaults, {"data": deep_merge(data, defaults.get("data", {}))})
    if smoke:
        base = deep_merge(deep_merge(base, SMOKE_DEFAULTS), smoke_train)

    runs: list[Run] = []
    seen: set[str] = set()
    covered_grids: set[str] = set()  # smoke: each distinct grid is covered (diagonal) once per recipe
    smoke_configs: set[str] = set()  # smoke: identical configs (e.g. epochs forced to 1) run once
    for i, entry in enumerate(runs_raw):
        ewhere = f"{where}: runs[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{ewhere}: each run is a mapping")
        ename = entry.get("name") or entry.get("model")
        if not ename:
            raise ConfigError(f"{ewhere}: a run needs a name or a model")
        ewhere = f"{where}: run {ename!r}"
        only_splits = entry.get("splits")
        if only_splits is not None:
            bad = [s for s in only_splits if s not in splits]
            if bad:
                raise ConfigError(f"{ewhere}: unknown split variant(s) {bad}; defined: {', '.join(splits)}")
        settings = {k: v for k, v in entry.items() if k not in RUN_KEYS_EXTRA}
        points = expand_grid(entry.get("grid"), ewhere)
        for v_i, (vname, vdata) in enumerate(splits.items()):
            if only_splits is not None and vname not in only_splits:
                continue
            if not isinstance(vdata, dict):
                raise ConfigError(f"{where}: split variant {vname!r} must be a mapping of data settings")
            chosen = points
            if smoke:
                gkey = json.dumps(entry.get("grid"), sort_keys=True, default=str)
                if gkey not in covered_grids:
                    covered_grids.add(gkey)
                    chosen = smoke_cover(points, entry.get("grid"))
                else:
                    chosen = points[:1]
            for suffix, sets, point in chosen:
                d = deep_merge(base, {"data": vdata})
                if smoke and vname in smoke_splits:
                    d = deep_merge(d, {"data": smoke_splits[vname]})
                d = deep_merge(d, settings)
                if smoke and entry.get("smoke"):
                    d = deep_merge(d, entry["smoke"])
                for key, value in sets.items():
                    set_dotted(d, key, value)
                if smoke:
                    d = deep_merge(d, {**SMOKE_FORCED, **{k: v for k, v in smoke_train.items()
                                                          if k in SMOKE_FORCED}})
                    pg = (d.get("sklearn") or {}).get("param_grid")
                    if pg:  # one candidate per scikit-learn grid in smoke mode
                        d["sklearn"] = {**d["sklearn"], "param_grid": {
                            k: (v[:1] if isinstance(v, list) else v) for k, v in pg.items()}}
                run_name = f"{ename}_{suffix}" if suffix else str(ename)
                full = f"{vname}/{run_name}" if len(splits) > 1 or vname != "default" else run_name
                if full in seen:
                    raise ConfigError(f"{ewhere}: duplicate run name {full!r} (give runs distinct names)")
                seen.add(full)
                if smoke:
                    ckey = json.dumps({**d, "name": None, "out": None, "_split": vname, "_entry": ename},
                                      sort_keys=True, default=str)
                    if ckey in smoke_configs:
                        continue
                    smoke_configs.add(ckey)
                d["name"] = full
                d.setdefault("out", full)
                try:
                    cfg = TrainConfig.from_dict(d)
                except ConfigError as exc:
                    raise ConfigError(f"{ewhere} ({full}): {exc}") from None
                except TypeError as exc:
                    raise ConfigError(f"{ewhere} ({full}): {exc}") from None
                _check_model(cfg, ewhere)
                runs.append(Run(full, vname, cfg, str(ename), point))
    return Recipe(str(name), str(raw.get("title") or name), runs, path, smoke, vars_)


def _check_model(cfg: TrainConfig, where: str) -> None:
    from genrelab.models import registry

    try:
        entry = registry.get(cfg.model)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    try:
        entry.contract(**cfg.model_args)
    except TypeError as exc:
        raise ConfigError(f"{where}: model {cfg.model!r} rejects its arguments {cfg.model_args}: {exc}") from None
