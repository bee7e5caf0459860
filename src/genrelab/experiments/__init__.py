"""Experiment recipes (``recipes/*.yaml``) and their runner (``genrelab run``)."""

from genrelab.experiments.recipe import Recipe, Run, load_recipe, parse_recipe

__all__ = ["Recipe", "Run", "load_recipe", "parse_recipe"]
