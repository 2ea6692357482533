"""Utilities: ``set_random_seed`` and the progress bar."""

from graphc.utils.random import set_random_seed

__all__ = ["set_random_seed"]
