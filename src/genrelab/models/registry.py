"""The model registry: every model is built by name, never by ``eval`` or if/elif chains.

A model class registers itself with ``@register("qin-mlp", family="qin")``. The class must
provide a classmethod ``input_contract(**args) -> InputContract`` describing the input it needs
(feature config, framing, per-example shape), so training and inference build it automatically.

Torch models are ``nn.Module``s whose constructor takes ``n_classes`` plus keyword arguments and
whose ``forward`` returns logits ``(batch, n_classes)``. scikit-learn baselines register the same
way with ``kind="sklearn"`` (see :mod:`genrelab.models.classic`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

from genrelab.features.config import InputSpec
from genrelab.types import ConfigError


@dataclass(frozen=True)
class InputContract:
    """What a model consumes: how to make one example and its shape (without the batch axis)."""

    spec: InputSpec
    input_shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"spec": self.spec.to_dict(), "input_shape": list(self.input_shape)}

    @staticmethod
    def from_dict(d: dict[str, Any]) -> "InputContract":
        return InputContract(InputSpec.from_dict(d["spec"]), tuple(d["input_shape"]))


@dataclass(frozen=True)
class ModelEntry:
    name: str
    cls: type
    family: str
    kind: str = "torch"  # "torch" or "sklearn"
    summary: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)

    def contract(self, **args: Any) -> InputContract:
        return self.cls.input_contract(**_accepted(self.cls.input_contract, args))

    def build(self, n_classes: int, **args: Any):
        return self.cls(n_classes=n_classes, **args)


_REGISTRY: dict[str, ModelEntry] = {}


def register(name: str, *, family: str, kind: str = "torch", tags: tuple[str, ...] = ()) -> Callable[[type], type]:
    """Class decorator adding a model to the registry under ``name``."""

    def deco(cls: type) -> type:
        if name in _REGISTRY and _REGISTRY[name].cls is not cls:
            raise ConfigError(f"model name {name!r} registered twice")
        if not hasattr(cls, "input_contract"):
            raise ConfigError(f"model {name!r} ({cls.__name__}) must define input_contract()")
        doc = inspect.getdoc(cls) or ""
        _REGISTRY[name] = ModelEntry(name, cls, family, kind, doc.split("\n", 1)[0], tuple(tags))
        cls.registry_name = name
        return cls

    return deco


#: One module of ``genrelab.models`` per study or family; each registers its models on import.
FAMILIES = ("qin", "saintfelix", "hoang", "liu", "sirek", "backbones", "classic", "musicnn")
#: The family module of each built-in model, so that :func:`get` imports only that module
#: (``tests/models/test_zoo.py`` checks this map against the registrations).
FAMILY_OF_MODEL = {
    **dict.fromkeys(("qin-lstm", "qin-mlp", "qin-resnet18"), "qin"),
    **dict.fromkeys(("saintfelix-cnn", "saintfelix-lstm", "saintfelix-mlp", "sears-cnn038", "sears-mlp27"), "saintfelix"),
    **dict.fromkeys(("bian-cnn1d", "bian-cnn1d-svm", "feng-bigru"), "hoang"),
    **dict.fromkeys(("liu-cnn", "liu-crnn", "liu-dcnn", "liu-dcrnn"), "liu"),
    **dict.fromkeys(("sirek-cnn3", "sirek-cnn4", "sirek-cnn4-gru", "sirek-efficientnet-b0", "sirek-efficientnet-b0-gru",
                     "sirek-vgg11"), "sirek"),
    **dict.fromkeys(("knn", "logreg", "random-forest", "svm-rbf"), "classic"),
    **dict.fromkeys(("musicnn", "musicnn-msd", "musicnn-mtt", "vgg-msd", "vgg-mtt"), "musicnn"),
}


def _ensure_loaded(name: str | None = None) -> None:
    """Import the family that registers ``name`` (every family when ``name`` is None or not a known model)."""
    from importlib import import_module

    if name is not None:
        if name in _REGISTRY:
            return
        family = FAMILY_OF_MODEL.get(name)
        if family is not None:
            import_module(f"genrelab.models.{family}")
            if name in _REGISTRY:
                return
    for family in FAMILIES:
        import_module(f"genrelab.models.{family}")


def get(name: str) -> ModelEntry:
    _ensure_loaded(name)
    try:
        return _REGISTRY[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; known: {', '.join(sorted(_REGISTRY))}") from None


def list_models() -> list[ModelEntry]:
    _ensure_loaded()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def build(name: str, n_classes: int, **args: Any):
    """Instantiate model ``name`` with ``n_classes`` outputs."""
    return get(name).build(n_classes, **args)


def _accepted(fn: Callable, args: dict[str, Any]) -> dict[str, Any]:
    """The subset of ``args`` that ``fn`` accepts (contracts take only the args that shape input)."""
    params = inspect.signature(fn).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return dict(args)
    return {k: v for k, v in args.items() if k in params}
