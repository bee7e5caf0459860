"""The model zoo. Importing this package registers every model family with the registry.

Look models up by name: ``genrelab.models.registry.build("qin-mlp", n_classes=10)``.
"""

from importlib import import_module

from genrelab.models.registry import InputContract, build, get, list_models, register

# One module per study or family; each registers its models on import.
FAMILIES = ("qin", "saintfelix", "hoang", "liu", "sirek", "backbones", "classic", "musicnn")

for _family in FAMILIES:
    import_module(f"genrelab.models.{_family}")

__all__ = ["InputContract", "build", "get", "list_models", "register", "FAMILIES"]
