"""Feature extraction. Feature families register themselves (see ``config.py``) when their module is imported.

The families are imported lazily: :meth:`FeatureConfig.from_dict` imports only the module of the kind it
reads (:data:`FAMILY_OF_KIND`), and :func:`feature_kinds` imports every family. Importing this package is
cheap (no librosa, scipy or numba), which keeps ``genrelab classify`` fast to start.
"""

from genrelab.features.config import FAMILIES, FAMILY_OF_KIND, FeatureConfig, InputSpec, feature_kinds, register_feature

__all__ = ["FeatureConfig", "InputSpec", "feature_kinds", "register_feature", "FAMILIES", "FAMILY_OF_KIND"]
