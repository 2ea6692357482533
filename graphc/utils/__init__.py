"""Utilities: ``set_random_seed``, ``plot_model`` and the progress bar."""

from graphc.utils.plot import model_to_dot, plot_model
from graphc.utils.py_dataset import PyDataset
from graphc.utils.random import set_random_seed

__all__ = ["set_random_seed", "plot_model", "model_to_dot", "PyDataset"]
