"""ImageNet weights for the backbones the studies fine-tune: downloaded on first use, checked, cached.

Qin fine-tunes an ImageNet ResNet-18 and Sirek an ImageNet EfficientNet-B0 and VGG11, so those models
(the registry classes with a ``pretrained_arch``) start from torchvision's published ImageNet weights by
default. :func:`resolve_pretrained` runs before training and turns the train config's request into a
file:

- ``pretrained_weights`` given: that local file (``.pth`` read with ``weights_only=True``, or ``.safetensors``);
- ``pretrained`` False (``--no-pretrained``): train from scratch;
- otherwise (``pretrained`` None or True) torchvision's file for the architecture
  (:data:`genrelab.models.backbones.TORCHVISION_WEIGHTS`, e.g.
  ``https://download.pytorch.org/models/resnet18-f37072fd.pth``), downloaded once into
  ``<genrelab cache>/imagenet/`` with :func:`genrelab.httpfetch.fetch` (resumable from a
  ``.part`` file, retried) and kept only when its SHA-256 starts with the 8 hex digits in the file
  name -- the same check as torchvision's ``check_hash`` (torchvision publishes only that prefix; the
  full digests are not recorded here because they could not be confirmed offline).

When the weights cannot be had (no network, a refused checksum) a loud warning says so and the run
trains from scratch, unless ``pretrained`` is True (asked for explicitly): then it fails. The outcome is
written back into the config (``pretrained`` True/False, ``pretrained_weights`` the file), so the run's
``config.json``, checkpoint and reports show which it was. ``GENRELAB_WEIGHTS_MIRROR=<base URL>`` fetches
``<base URL>/<file name>`` instead (a local mirror, or the test server).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import Any

from genrelab.types import ConfigError, DataError

MIRROR_ENV = "GENRELAB_WEIGHTS_MIRROR"
log = logging.getLogger(__name__)


class PretrainedUnavailable(DataError):
    """ImageNet weights that could not be downloaded or whose checksum was refused."""


def weights_dir() -> Path:
    """``<genrelab cache>/imagenet`` (``$GENRELAB_CACHE``, else ``$XDG_CACHE_HOME/genrelab``, else ``~/.cache/genrelab``)."""
    from genrelab.runtime import default_cache_dir

    return default_cache_dir() / "imagenet"


def weights_url(arch: str) -> str:
    """torchvision's ImageNet weight URL for ``arch`` (or the mirror's copy of the same file name)."""
    from genrelab.models.backbones import TORCHVISION_WEIGHTS

    if arch not in TORCHVISION_WEIGHTS:
        raise ConfigError(f"no ImageNet weights known for {arch!r}; known: {', '.join(TORCHVISION_WEIGHTS)}")
    url = TORCHVISION_WEIGHTS[arch][1]
    mirror = os.environ.get(MIRROR_ENV)
    return mirror.rstrip("/") + "/" + url.rsplit("/", 1)[-1] if mirror else url


def sha256_prefix(filename: str) -> str:
    """The hex digits after the last '-' of a torchvision weight file name (``resnet18-f37072fd.pth`` -> ``f37072fd``)."""
    tail = filename.rsplit(".", 1)[0].rsplit("-", 1)[-1]
    if len(tail) < 8 or any(c not in "0123456789abcdef" for c in tail):
        raise ConfigError(f"{filename}: no SHA-256 prefix in the file name")
    return tail


def fetch_imagenet_weights(arch: str, cache: str | Path | None = None, *, retries: int = 2,
                           timeout: float = 30.0) -> Path:
    """The local path of torchvision's ImageNet weights for ``arch``, downloading them on first use.

    The file is fetched to ``<name>.unverified`` (resuming ``<name>.unverified.part`` left by an
    interrupted download), its SHA-256 checked against the prefix in the file name, and only then
    renamed to ``<name>``: a cached file is always a verified one. A mismatch deletes the download
    and raises :class:`PretrainedUnavailable`.
    """
    from genrelab.httpfetch import DownloadError, fetch

    url = weights_url(arch)
    name = url.rsplit("/", 1)[-1]
    prefix = sha256_prefix(name)
    folder = Path(cache) if cache is not None else weights_dir()
    dest = folder / name
    if dest.is_file():
        return dest
    tmp = folder / (name + ".unverified")
    try:
        fetch(url, tmp, checksum=None, retries=retries, timeout=timeout)
    except DownloadError as exc:
        raise PretrainedUnavailable(f"ImageNet weights for {arch}: {exc}") from None
    h = hashlib.sha256()
    with open(tmp, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    digest = h.hexdigest()
    if not digest.startswith(prefix):
        tmp.unlink(missing_ok=True)
        raise PretrainedUnavailable(
            f"{url}: checksum mismatch, the SHA-256 should start with {prefix} (torchvision's file name), "
            f"got {digest}; the file was deleted")
    os.replace(tmp, dest)
    return dest


def pretrained_arch(entry: Any) -> str | None:
    """The ImageNet architecture a registry model fine-tunes (its class's ``pretrained_arch``), or None."""
    return getattr(entry.cls, "pretrained_arch", None)


def resolve_pretrained(cfg: Any, entry: Any) -> Any:
    """A copy of train config ``cfg`` whose ``pretrained``/``pretrained_weights`` say what the run starts from.

    Models without an ImageNet backbone keep ``pretrained`` None (not applicable) and must not be given
    weights. See the module docstring for the rules and the warning.
    """
    arch = pretrained_arch(entry)
    if arch is None:
        if cfg.pretrained_weights or cfg.pretrained:
            raise ConfigError(f"model {cfg.model!r} has no ImageNet backbone to load pretrained weights into")
        return cfg
    if cfg.pretrained_weights:
        return dataclasses.replace(cfg, pretrained=True)
    if cfg.pretrained is False:
        return cfg
    try:
        path = fetch_imagenet_weights(arch)
    except PretrainedUnavailable as exc:
        if cfg.pretrained:  # asked for explicitly: no silent fallback
            raise
        msg = (f"\n{'!' * 78}\n{cfg.model}: the study fine-tunes ImageNet weights, but they cannot be had:\n  {exc}\n"
               f"TRAINING FROM SCRATCH (recorded as pretrained: false). Give a local copy with "
               f"--pretrained-weights FILE, or pass --no-pretrained to silence this.\n{'!' * 78}")
        warnings.warn(msg, UserWarning, stacklevel=2)
        log.warning(msg)
        return dataclasses.replace(cfg, pretrained=False)
    return dataclasses.replace(cfg, pretrained=True, pretrained_weights=str(path))


__all__ = ["fetch_imagenet_weights", "resolve_pretrained", "weights_url", "weights_dir", "sha256_prefix",
           "PretrainedUnavailable", "MIRROR_ENV"]
