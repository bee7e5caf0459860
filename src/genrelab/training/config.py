"""The train config: one typed description of a training run, from CLI options or a recipe.

``TrainConfig.to_dict()`` is written to ``config.json`` in the run directory and stored in the
checkpoint's ``train`` block; ``TrainConfig.from_dict`` reads it back (unknown keys are errors).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from genrelab.training.optim import OptimConfig
from genrelab.types import ConfigError

DATASET_KINDS = ("auto", "gtzan", "fma", "folder", "table")
SPLIT_METHODS = (
    "artist",          # artist-grouped random split with `ratios` (leak-free)
    "stratified",      # random split of tracks, genre proportions kept (artist leak only if allow_artist_leak)
    "gtzan-filtered",  # the artist-filtered GTZAN split (Kereliuk & Sturm); needs `lists`
    "fma-official",    # FMA's own set.split
    "random-segment",  # random split of segments with `ratios` (LEAKY: one track on both sides; Sears, Sirek)
    "manifest",        # a saved split manifest (genrelab.splits CSV); needs `manifest`
    "none",            # everything is training data (e.g. a final model); no valid/test
)
SPLIT_ALIASES = {"lists": "gtzan-filtered", "official": "fma-official", "segments": "random-segment",
                 "segment": "random-segment", "random": "stratified", "artist-grouped": "artist"}


@dataclass
class DataConfig:
    dataset: str = "gtzan"
    root: str = ""
    options: dict[str, Any] | None = field(default_factory=dict)  # passed to the dataset loader
    split: str = "artist"
    ratios: Any = None  # [train, valid[, test]] or a preset name (qin, sears, liu, sirek)
    allow_artist_leak: bool = False  # stratified split reproducing a study on GTZAN (artists cross sides)
    lists: str | None = None  # folder with {train,valid,test}_filtered.txt (or train.txt, ...)
    manifest: str | None = None
    split_seed: int = 0
    folds: int | None = None  # k-fold cross-validation (artist-grouped with split "artist", else stratified)
    fold: int | None = None  # one fold (0-based); None with `folds`: all folds + a summary
    test_part: str | None = None  # score on this split part instead of "test" (e.g. "valid" when the test list is held back)
    valid_from_train: float | None = None  # carve an artist-grouped validation part of this fraction out of train
    genres: list[str] | None = None  # keep only these labels
    max_per_genre: int | None = None  # subsample (smoke runs): the first n tracks of each genre per part
    clip_seconds: float | None = None  # override the model's crop length (smoke runs)
    n_segments: int | None = None  # override the number of segments (smoke runs)
    hop_seconds: float | None = None  # override the hop between segments (overlapping segments: more examples)
    cache_dir: str | None = None  # feature cache folder (None: compute in memory)
    num_workers: int = 0
    augment: dict[str, Any] | None = None  # {} = Liu's pitch/tempo variants; {pitch_steps, tempo_rates}; training part only
    normalize: str = "auto"  # auto | none | feature | band | channel | global
    mmap: Any = "auto"  # memory-mapped examples (needs cache_dir): auto (over 1/4 of RAM) | true | false
    pixels: str = "auto"  # image storage: auto (uint8 for colour-mapped PNG-style images) | uint8 | float32

    def __post_init__(self) -> None:
        self.options = dict(self.options or {})
        if self.dataset not in DATASET_KINDS:
            raise ConfigError(f"unknown dataset kind {self.dataset!r}; choose from {', '.join(DATASET_KINDS)}")
        self.split = SPLIT_ALIASES.get(self.split, self.split)
        if self.split not in SPLIT_METHODS:
            raise ConfigError(f"unknown split method {self.split!r}; choose from {', '.join(SPLIT_METHODS)}")
        if self.split == "gtzan-filtered" and not self.lists:
            raise ConfigError(f"split {self.split!r} needs `lists` (a folder with the train/valid/test lists)")
        if self.split == "manifest" and not self.manifest:
            raise ConfigError("split 'manifest' needs `manifest` (a split manifest file)")
        if isinstance(self.ratios, str) and "," in self.ratios:
            self.ratios = [float(x) for x in self.ratios.split(",")]
        if self.ratios is not None and not isinstance(self.ratios, str):
            r = [float(x) for x in self.ratios]
            if not 2 <= len(r) <= 3 or any(x < 0 for x in r) or sum(r) <= 0:
                raise ConfigError(f"ratios must be 2 or 3 non-negative numbers (train, valid[, test]), got {r}")
            self.ratios = r
        if self.folds is not None:
            if int(self.folds) < 2:
                raise ConfigError(f"folds must be >= 2, got {self.folds}")
            if self.split not in ("artist", "stratified"):
                raise ConfigError("k-fold needs split 'artist' (grouped folds) or 'stratified'")
            if self.fold is not None and not 0 <= int(self.fold) < int(self.folds):
                raise ConfigError(f"fold must be in 0..{int(self.folds) - 1}, got {self.fold}")
        if self.test_part is not None and self.test_part not in ("train", "valid", "test"):
            raise ConfigError(f"test_part must be valid or test, got {self.test_part!r}")
        if self.valid_from_train is not None and not 0 < float(self.valid_from_train) < 1:
            raise ConfigError(f"valid_from_train must be a fraction in (0, 1), got {self.valid_from_train}")
        if self.normalize not in ("auto", "none", "feature", "band", "channel", "global"):
            raise ConfigError(f"unknown normalisation {self.normalize!r}")
        if isinstance(self.mmap, str) and self.mmap.lower() in ("true", "false"):
            self.mmap = self.mmap.lower() == "true"
        if self.mmap != "auto" and not isinstance(self.mmap, bool):
            raise ConfigError(f"mmap must be auto, true or false, got {self.mmap!r}")
        if self.pixels not in ("auto", "uint8", "float32"):
            raise ConfigError(f"pixels must be auto, uint8 or float32, got {self.pixels!r}")


@dataclass
class TrainConfig:
    model: str = ""
    model_args: dict[str, Any] = field(default_factory=dict)
    feature: dict[str, Any] | None = None  # replace the model's feature (e.g. musicnn embeddings for a classic head)
    pretrained_weights: str | None = None  # ImageNet weight file loaded into the backbone (models.backbones.load_pretrained)
    # ImageNet initialisation of the models with a torchvision backbone (training.pretrained): None = the
    # study's default (download torchvision's weights; warn and train from scratch when they cannot be had),
    # False = from scratch (--no-pretrained), True = required. After training starts it records the outcome.
    pretrained: bool | None = None
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    epochs: int = 10
    batch_size: int = 32
    seed: int = 0
    deterministic: bool = True  # exact repeatability on CPU ("warn" mode on GPU)
    monitor: str = "val_acc"  # val_acc | val_loss | train_loss | train_acc
    patience: int | None = None  # early stopping (None: off)
    min_epochs: int | None = None
    grad_clip: float | None = None
    precision: str = "auto"  # auto: 16-mixed on GPU, 32 on CPU; or any Lightning precision
    accelerator: str = "auto"
    devices: Any = "auto"
    strategy: str = "auto"
    num_nodes: int = 1
    label_smoothing: float = 0.0
    # SpecAugment on training batches, on the device (features.augment.SpecAugment): {freq_masks, freq_width,
    # time_masks, time_width} ({} = 2 bands of <= 8 bins, 2 spans of <= 20 frames); None = off
    specaugment: dict[str, Any] | None = None
    mixup: float | None = None  # mixup alpha (lam ~ Beta(alpha, alpha)) on training batches; None = off
    class_weights: bool = False  # weight the loss by inverse class frequency
    level: str = "track"  # level of the headline metrics in metrics.json: track | segment
    test_curve: bool = False  # score the test part after every epoch (history test_loss/test_acc; plots only)
    aggregation: str = "mean"
    n_boot: int = 1000
    out: str = "runs/run"
    name: str | None = None
    progress: bool = True
    threads: int | None = None  # CPU threads for torch (None: 1 for models under 2M parameters, else torch's default)
    max_time_s: float | None = None  # hard cap on training time (stops like early stopping)
    sklearn: dict[str, Any] = field(default_factory=dict)  # sklearn: {"param_grid": {...}} selected on valid

    def __post_init__(self) -> None:
        if isinstance(self.data, dict):
            self.data = DataConfig(**_known(DataConfig, self.data, "data"))
        if isinstance(self.optim, dict):
            self.optim = OptimConfig.from_dict(self.optim)
        if not self.model:
            raise ConfigError("a train config needs a model name")
        if not self.pretrained_weights:
            self.pretrained_weights = None
        if isinstance(self.pretrained, str):  # from a recipe variable
            text = self.pretrained.strip().lower()
            if text not in ("", "auto", "none", "true", "false", "yes", "no", "1", "0"):
                raise ConfigError(f"pretrained must be true, false or auto, got {self.pretrained!r}")
            self.pretrained = None if text in ("", "auto", "none") else text in ("true", "yes", "1")
        if self.feature is not None and not isinstance(self.feature, dict):
            raise ConfigError("feature must be a mapping: a feature config with a 'kind', or parameters to change")
        if int(self.epochs) < 1:
            raise ConfigError(f"epochs must be >= 1, got {self.epochs}")
        if int(self.batch_size) < 1:
            raise ConfigError(f"batch_size must be >= 1, got {self.batch_size}")
        if self.monitor not in ("val_acc", "val_loss", "train_loss", "train_acc"):
            raise ConfigError(f"monitor must be val_acc, val_loss, train_loss or train_acc, got {self.monitor!r}")
        if self.level not in ("track", "segment"):
            raise ConfigError(f"level must be 'track' or 'segment', got {self.level!r}")
        if self.aggregation not in ("mean", "vote"):
            raise ConfigError(f"aggregation must be 'mean' or 'vote', got {self.aggregation!r}")
        self.epochs, self.batch_size, self.seed = int(self.epochs), int(self.batch_size), int(self.seed)
        self._check_batch_augmentation()

    def _check_batch_augmentation(self) -> None:
        """Validate ``specaugment`` / ``mixup`` (ConfigError) and store all four mask parameters."""
        from genrelab.features.augment import Mixup, SpecAugment

        if self.specaugment is not None:
            if not isinstance(self.specaugment, dict):
                raise ConfigError("specaugment must be a mapping {freq_masks, freq_width, time_masks, time_width}"
                                  f" (or null), got {self.specaugment!r}")
            known = set(SpecAugment().params())
            unknown = sorted(set(self.specaugment) - known)
            if unknown:
                raise ConfigError(f"specaugment has no field(s) {unknown}; known: {', '.join(sorted(known))}")
            self.specaugment = SpecAugment(**self.specaugment).params()
        if self.mixup is not None:
            self.mixup = Mixup(self.mixup).alpha

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "TrainConfig":
        return cls(**_known(cls, d, "train config"))


def _known(cls: type, d: dict[str, Any], what: str) -> dict[str, Any]:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"{what} has no field(s) {unknown}; known: {', '.join(sorted(names))}")
    return dict(d)
