"""``genrelab train``, ``genrelab evaluate`` and ``genrelab run``.

- ``train``: train any registered model with explicit data, split and hyperparameter options
  (or a ``--config`` file holding a train config); ``--resume`` continues a killed run.
- ``evaluate CHECKPOINT``: score a checkpoint (or run directory) on a dataset part, or on a whole
  labelled folder/table, and write ``metrics.json`` (segment- and track-level, bootstrap CI).
- ``run RECIPE``: run an experiment recipe (``recipes/*.yaml``); ``--smoke`` for a tiny CI version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, List, Optional

import typer

from genrelab.cli.show import shown


def register(app: typer.Typer) -> None:
    app.command("train")(train_cmd)
    app.command("evaluate")(evaluate_cmd)
    app.command("run")(run_cmd)


def _interactive() -> bool:
    """Progress bars only on a terminal: a run piped to a file or a pipe logs lines, not bar frames."""
    import sys

    return all(getattr(s, "isatty", lambda: False)() for s in (sys.stdout, sys.stderr))


def _parse_value(text: str) -> Any:
    """``KEY=VALUE`` values: JSON when it parses (numbers, lists, true/false/null), else the string."""
    import yaml

    try:
        return yaml.safe_load(text)
    except Exception:
        return text


def _parse_pairs(pairs: Optional[List[str]], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in pairs or []:
        if "=" not in item:
            raise typer.BadParameter(f"{what} must look like KEY=VALUE, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = _parse_value(v)
    return out


def _fail(msg: str, code: int = 2) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[red]error:[/red] {shown(msg)}")
    raise typer.Exit(code)


def _specaugment(text: Optional[str]) -> dict[str, Any] | None:
    """``--specaugment 2,8,2,20`` (or ``default``) -> the train config's ``specaugment`` block."""
    if text is None:
        return None
    if text.strip().lower() == "default":
        return {}
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise typer.BadParameter(f"--specaugment takes FREQ_MASKS,FREQ_WIDTH,TIME_MASKS,TIME_WIDTH, got {text!r}")
    return dict(zip(("freq_masks", "freq_width", "time_masks", "time_width"), parts))


def _ratios(text: Optional[str]) -> Any:
    if text is None:
        return None
    t = text.strip()
    if any(c.isdigit() for c in t):
        return [float(x) for x in t.replace("/", ",").split(",") if x.strip()]
    return t  # a preset name: qin, sears, liu, sirek


# --------------------------------------------------------------------------- train
def train_cmd(
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Registered model name (see `genrelab models`)."),
    model_arg: Optional[List[str]] = typer.Option(None, "--model-arg", help="Model argument KEY=VALUE (repeatable)."),
    pretrained_weights: Optional[Path] = typer.Option(None, "--pretrained-weights", help="ImageNet weight file (.pth/.safetensors) for ResNet/EfficientNet/VGG backbones."),
    no_pretrained: bool = typer.Option(False, "--no-pretrained", help="Train ResNet/EfficientNet/VGG models from scratch (default: torchvision's ImageNet weights, downloaded on first use)."),
    feature: Optional[str] = typer.Option(None, "--feature", help='Replace the model\'s feature, as JSON (e.g. \'{"kind": "musicnn"}\' for a classic head on musicnn embeddings).'),
    dataset: str = typer.Option("auto", "--dataset", help="gtzan, fma, folder, table or auto (guess from ROOT)."),
    root: Optional[Path] = typer.Option(None, "--root", help="Dataset folder, or feature table (.csv) for --dataset table."),
    data_option: Optional[List[str]] = typer.Option(None, "--data-option", help="Dataset loader option KEY=VALUE (e.g. subset=medium)."),
    split: str = typer.Option("artist", "--split", help="artist, stratified, gtzan-filtered, fma-official, random-segment, manifest, none."),
    lists: Optional[Path] = typer.Option(None, "--lists", help="Folder with train/valid/test_filtered.txt (--split gtzan-filtered)."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="A split manifest CSV (--split manifest)."),
    ratios: Optional[str] = typer.Option(None, "--ratios", help="Split ratios train,valid[,test] or a preset (qin, sears, liu, sirek)."),
    split_seed: int = typer.Option(0, "--split-seed", help="Seed of the random split."),
    allow_artist_leak: bool = typer.Option(False, "--allow-artist-leak", help="Stratified split that may put one artist on two sides (reproduces studies)."),
    folds: Optional[int] = typer.Option(None, "--folds", help="k-fold cross-validation (artist-grouped with --split artist); pooled + mean/std in metrics.json."),
    fold: Optional[int] = typer.Option(None, "--fold", help="Train only this fold (0-based) of --folds."),
    test_part: Optional[str] = typer.Option(None, "--test-part", help="Score this part instead of test (e.g. valid when the test list is held back)."),
    valid_from_train: Optional[float] = typer.Option(None, "--valid-from-train", help="Carve an artist-grouped validation fraction out of train for model selection."),
    genres: Optional[str] = typer.Option(None, "--genres", help="Comma-separated genres to keep."),
    max_per_genre: Optional[int] = typer.Option(None, "--max-per-genre", help="Use at most N tracks per genre and part (quick runs)."),
    clip_seconds: Optional[float] = typer.Option(None, "--clip-seconds", help="Override the model's clip length."),
    hop_seconds: Optional[float] = typer.Option(None, "--hop-seconds", help="Override the hop between segments (overlap = more training examples)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Feature cache folder."),
    augment: bool = typer.Option(False, "--augment", help="Add Liu et al.'s pitch +-1 and tempo 0.93/1.07 variants of every training track (training audio only)."),
    specaugment: Optional[str] = typer.Option(None, "--specaugment", help="SpecAugment on training batches: FREQ_MASKS,FREQ_WIDTH,TIME_MASKS,TIME_WIDTH (e.g. 2,8,2,20; 'default' = that)."),
    mixup: Optional[float] = typer.Option(None, "--mixup", help="mixup on training batches with this alpha (e.g. 0.2)."),
    normalize: str = typer.Option("auto", "--normalize", help="auto, none, feature, band, channel or global."),
    optimizer: str = typer.Option("adam", "--optimizer", help="adam, adamw, rmsprop, sgd or adadelta."),
    lr: float = typer.Option(1e-3, "--lr", help="Learning rate."),
    weight_decay: float = typer.Option(0.0, "--weight-decay"),
    momentum: float = typer.Option(0.9, "--momentum", help="SGD momentum."),
    scheduler: str = typer.Option("none", "--scheduler", help="none, triangular, triangular2 (Smith's CLR), cosine or step."),
    base_lr: Optional[float] = typer.Option(None, "--base-lr", help="Cyclic LR lower bound [default: --lr]."),
    max_lr: Optional[float] = typer.Option(None, "--max-lr", help="Cyclic LR upper bound [default: 2 x base]."),
    step_size_epochs: float = typer.Option(8.0, "--step-size-epochs", help="Cyclic LR half cycle in epochs (Liu et al.: 8)."),
    epochs: int = typer.Option(10, "--epochs"),
    batch_size: int = typer.Option(32, "--batch-size"),
    seed: int = typer.Option(0, "--seed"),
    patience: Optional[int] = typer.Option(None, "--patience", help="Early stopping patience in epochs (default: off)."),
    monitor: str = typer.Option("val_acc", "--monitor", help="Validation metric for best checkpoint and early stopping."),
    grad_clip: Optional[float] = typer.Option(None, "--grad-clip", help="Clip the gradient norm to this value."),
    precision: str = typer.Option("auto", "--precision", help="auto (16-mixed on GPU, 32 on CPU) or a Lightning precision."),
    accelerator: str = typer.Option("auto", "--accelerator", help="auto, cpu, gpu."),
    devices: str = typer.Option("auto", "--devices", help="auto, a count, or a list like 0,1."),
    strategy: str = typer.Option("auto", "--strategy", help="auto, ddp, ... (ddp: one process per device; see docs/scaling.md)."),
    num_nodes: int = typer.Option(1, "--num-nodes", min=1, help="Machines in a DDP run (launch with torchrun or SLURM srun; see docs/scaling.md)."),
    num_workers: int = typer.Option(0, "--num-workers", help="DataLoader worker processes."),
    mmap: str = typer.Option("auto", "--mmap", help="Memory-map the training examples from a pack of the feature cache "
                                                    "(needs --cache-dir): auto (when they exceed a quarter of RAM), true, false."),
    pixels: str = typer.Option("auto", "--pixels", help="Storage of colour-mapped image inputs: auto (uint8 PNG pixels, as the "
                                                        "studies read them), uint8 or float32."),
    level: str = typer.Option("track", "--level", help="Headline scoring level in metrics.json: track or segment."),
    test_curve: bool = typer.Option(False, "--test-curve", help="Also score the test part after every epoch (history test_loss/test_acc; for plots, never used to select or stop)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory [default: runs/<model>]."),
    config: Optional[Path] = typer.Option(None, "--config", help="A JSON/YAML train config (other options are ignored)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its last checkpoint."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bars."),
) -> None:
    """Train a model (torch or scikit-learn) and write a run directory: checkpoint, metrics.json, history.csv."""
    from genrelab.training.config import TrainConfig
    from genrelab.types import GenrelabError

    try:
        if config is not None:
            import yaml

            d = yaml.safe_load(Path(config).read_text())
            if not isinstance(d, dict):
                _fail(f"{config}: not a mapping")
            d = d.get("train", d)
            if out is not None:
                d["out"] = str(out)
            cfg = TrainConfig.from_dict(d)
        else:
            if not model:
                _fail("give --model (or --config)")
            if root is None:
                _fail("give --root (a dataset folder or a feature table)")
            optim: dict[str, Any] = dict(optimizer=optimizer, lr=lr, weight_decay=weight_decay, momentum=momentum,
                                         scheduler=scheduler, base_lr=base_lr, max_lr=max_lr,
                                         step_size_epochs=step_size_epochs)
            dev: Any = devices
            if devices not in ("auto",) and "," not in devices and devices.lstrip("-").isdigit():
                dev = int(devices)
            elif "," in devices:
                dev = [int(x) for x in devices.split(",") if x.strip()]
            cfg = TrainConfig.from_dict(dict(
                model=model, model_args=_parse_pairs(model_arg, "--model-arg"),
                pretrained_weights=str(pretrained_weights) if pretrained_weights else None,
                pretrained=False if no_pretrained else None,
                feature=json.loads(feature) if feature else None,
                data=dict(dataset=dataset, root=str(root), options=_parse_pairs(data_option, "--data-option"),
                          split=split, lists=str(lists) if lists else None,
                          manifest=str(manifest) if manifest else None, ratios=_ratios(ratios),
                          split_seed=split_seed, allow_artist_leak=allow_artist_leak,
                          test_part=test_part, valid_from_train=valid_from_train, folds=folds, fold=fold,
                          genres=[g.strip() for g in genres.split(",")] if genres else None,
                          max_per_genre=max_per_genre, clip_seconds=clip_seconds, hop_seconds=hop_seconds,
                          cache_dir=str(cache_dir) if cache_dir else None, num_workers=num_workers,
                          augment={} if augment else None, normalize=normalize, mmap=mmap, pixels=pixels),
                optim=optim, epochs=epochs, batch_size=batch_size, seed=seed, patience=patience, monitor=monitor,
                grad_clip=grad_clip, precision=precision, accelerator=accelerator, devices=dev, strategy=strategy,
                num_nodes=num_nodes, level=level, test_curve=test_curve, out=str(out or Path("runs") / model),
                progress=not quiet, specaugment=_specaugment(specaugment), mixup=mixup,
            ))
        if quiet or not _interactive():
            cfg.progress = False
        from genrelab.training.trainer import train

        run_dir = train(cfg, resume=resume)
    except GenrelabError as exc:
        _fail(str(exc))
        return
    _print_result(run_dir)


def _print_result(run_dir: Path) -> None:
    from rich.console import Console

    if os.environ.get("LOCAL_RANK", "0") != "0" or os.environ.get("NODE_RANK", "0") != "0":
        return  # DDP worker processes: rank 0 reports
    from rich.markup import escape

    from genrelab.evaluation.record import load_record

    console = Console()
    if not (run_dir / "metrics.json").exists():
        console.print(f"run directory: {shown(run_dir)}")
        return
    rec = load_record(run_dir)
    met, ci, split = rec.metrics, rec.ci.get("accuracy") or {}, rec.split
    acc = met.get("accuracy")
    line = f"{rec.model}: "
    if acc is not None:
        line += f"{split.get('part', '?')} accuracy {acc:.3f}"
        if ci.get("low") is not None:
            line += f" (95% CI {ci['low']:.3f}-{ci['high']:.3f})"
        line += f", macro F1 {met.get('f1_macro', float('nan')):.3f} [{rec.level} level, n={met.get('n')}]"
    else:
        line += "no held-out part to score"
    leak = " LEAKY split" if split.get("leaky") else ""
    console.print(escape(line + f"; split {split.get('method')}{leak}"))
    names = {"valid": "valid (selection)", "test": f"held-out ({split.get('part')})"}
    parts = [f"{names.get(role, role)} {s['accuracy']:.3f}" for role, s in rec.scores.items()
             if s.get("accuracy") is not None]
    if len(parts) > 1:
        console.print(escape("accuracy: " + ", ".join(parts)))
    console.print(f"run directory: {shown(run_dir)}")


# --------------------------------------------------------------------------- evaluate
def evaluate_cmd(
    checkpoint: Path = typer.Argument(..., help="A checkpoint folder (model.json) or a run directory."),
    dataset: str = typer.Option("auto", "--dataset", help="gtzan, fma, folder, table or auto."),
    root: Path = typer.Option(..., "--root", help="Dataset folder or feature table."),
    data_option: Optional[List[str]] = typer.Option(None, "--data-option", help="Dataset loader option KEY=VALUE."),
    split: str = typer.Option("none", "--split", help="Split method to pick a part (none: every labelled track)."),
    lists: Optional[Path] = typer.Option(None, "--lists", help="Folder with the GTZAN filtered lists."),
    manifest: Optional[Path] = typer.Option(None, "--manifest", help="A split manifest CSV (e.g. a run's split.csv)."),
    ratios: Optional[str] = typer.Option(None, "--ratios"),
    split_seed: int = typer.Option(0, "--split-seed"),
    allow_artist_leak: bool = typer.Option(False, "--allow-artist-leak"),
    part: str = typer.Option("test", "--part", help="train, valid or test (ignored with --split none)."),
    level: str = typer.Option("track", "--level", help="Headline level: track or segment (both are written)."),
    aggregation: str = typer.Option("mean", "--aggregation", help="Track aggregation: mean or vote."),
    n_boot: int = typer.Option(1000, "--n-boot", help="Bootstrap resamples for the 95% CI."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder [default: <run>/eval/<dataset>-<part>]."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Feature cache folder (features computed once, reused; "
                                                                     "the training run's cache works)."),
    workers: int = typer.Option(1, "--workers", "-j", help="Worker processes computing missing features (with --cache-dir)."),
    mmap: str = typer.Option("auto", "--mmap", help="Memory-map the examples from a pack of the cache (with --cache-dir): "
                                                    "auto (when they exceed a quarter of RAM), true, false."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Score a checkpoint on a dataset (part) and write metrics.json with segment- and track-level scores."""
    from genrelab.training.config import DataConfig
    from genrelab.training.evaluate import evaluate_checkpoint
    from genrelab.types import GenrelabError

    try:
        dc = DataConfig(dataset=dataset, root=str(root), options=_parse_pairs(data_option, "--data-option"),
                        split="manifest" if (manifest and split == "none") else split,
                        lists=str(lists) if lists else None, manifest=str(manifest) if manifest else None,
                        ratios=_ratios(ratios), split_seed=split_seed, allow_artist_leak=allow_artist_leak,
                        cache_dir=str(cache_dir) if cache_dir else None, num_workers=workers, mmap=mmap)
        out_dir = evaluate_checkpoint(checkpoint, dc, part=None if dc.split == "none" else part, out=out,
                                      level=level, aggregation=aggregation, n_boot=n_boot,
                                      progress=not quiet and _interactive())
    except GenrelabError as exc:
        _fail(str(exc))
        return
    _print_result(out_dir)


# --------------------------------------------------------------------------- run
def run_cmd(
    recipe: Path = typer.Argument(..., help="A recipe file (recipes/*.yaml)."),
    smoke: bool = typer.Option(False, "--smoke", help="Tiny data, 1 epoch: checks the recipe end to end (CI)."),
    only: Optional[List[str]] = typer.Option(None, "--only", help="Only runs whose name matches: a glob (leakfree/cnn_*) or a whole name part (leakfree, study/lstm); repeatable."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Output folder [default: runs/<recipe>[-smoke]]."),
    var: Optional[List[str]] = typer.Option(None, "--var", help="Recipe variable KEY=VALUE (e.g. data_root=/data)."),
    data_root: Optional[Path] = typer.Option(None, "--data-root", help="Shortcut for --var data_root=PATH."),
    list_runs: bool = typer.Option(False, "--list", help="Print the expanded runs and exit."),
    force: bool = typer.Option(False, "--force", help="Re-run runs that already have metrics.json."),
    no_pretrained: bool = typer.Option(False, "--no-pretrained", help="Train the ImageNet-backbone models from scratch (default: torchvision's weights)."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
) -> None:
    """Run every run of an experiment recipe; skips finished runs, continues after failures."""
    from rich.console import Console

    from genrelab.experiments.recipe import load_recipe
    from genrelab.experiments.runner import run_recipe
    from genrelab.types import GenrelabError

    console = Console()
    variables = {k: str(v) for k, v in _parse_pairs(var, "--var").items()}
    if data_root is not None:
        variables["data_root"] = str(data_root)
    try:
        rec = load_recipe(recipe, variables=variables, smoke=smoke)
        if "data_root" not in variables and not list_runs:
            found = _recipe_data_root(recipe, rec.variables.get("data_root"))
            if found is not None:
                variables["data_root"] = found
                rec = load_recipe(recipe, variables=variables, smoke=smoke)
        if no_pretrained:
            for r in rec.runs:
                r.config.pretrained = False
        if list_runs:
            for r in rec.select(only):
                d = r.config
                console.print(f"{r.name}: {d.model} {d.optim.optimizer} lr={d.optim.lr} bs={d.batch_size} "
                              f"epochs={d.epochs} split={d.data.split}")
            return
        result = run_recipe(rec, out=out, only=only, force=force, progress=not quiet and _interactive())
    except GenrelabError as exc:
        _fail(str(exc))
        return
    console.print(result.summary_text())
    if result.failed:
        raise typer.Exit(1)


def _recipe_data_root(recipe: Path, value: Optional[str]) -> Optional[str]:
    """A relative ``${data_root}`` that does not exist from the current folder, found from the recipe's folder
    (or the project folder above it) instead; a GenrelabError (once, before any run) when it is nowhere."""
    from genrelab.types import ConfigError

    if not value or Path(value).is_absolute() or Path(value).exists():
        return None
    here = recipe.resolve().parent
    for base in (here, here.parent):
        if (base / value).exists():
            return str((base / value).resolve())
    raise ConfigError(f"data root not found: {value} (tried from the current folder {Path.cwd()} and from the "
                      f"recipe's folder {here}); pass --data-root PATH (or set GENRELAB_DATA_ROOT)")
