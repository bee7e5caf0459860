"""genrelab: music genre classification, from datasets and features to a model that answers at once."""

__version__ = "0.1.0"
