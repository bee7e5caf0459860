"""The model zoo. Each family module registers its models with the registry when it is imported.

Look models up by name: ``genrelab.models.registry.build("qin-mlp", n_classes=10)``. Families are imported
lazily: :func:`registry.get` imports only the family of the model it is asked for (``FAMILY_OF_MODEL``)
and :func:`registry.list_models` imports all of them, so importing this package does not import torch.
"""

from genrelab.models.registry import FAMILIES, FAMILY_OF_MODEL, InputContract, build, get, list_models, register

__all__ = ["InputContract", "build", "get", "list_models", "register", "FAMILIES", "FAMILY_OF_MODEL"]
