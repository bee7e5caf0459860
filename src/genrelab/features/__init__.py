"""Feature extraction. Importing this package registers every feature family (see ``config.py``)."""

from importlib import import_module

from genrelab.features.config import FeatureConfig, InputSpec, feature_kinds, register_feature

FAMILIES = ("spectral", "gtzan57", "images", "musicnn")

for _family in FAMILIES:
    import_module(f"genrelab.features.{_family}")

__all__ = ["FeatureConfig", "InputSpec", "feature_kinds", "register_feature", "FAMILIES"]
