"""Utilities: ``set_random_seed``, ``plot_model``, ``plot_history``, the progress bar,
and the data loaders (``image_dataset_from_directory``, ``text_dataset_from_directory``,
``load_img``, ...)."""

from graphc.utils.dataset_utils import (
    Dataset,
    image_dataset_from_directory,
    text_dataset_from_directory,
)
from graphc.utils.image_utils import array_to_img, img_to_array, load_img, save_img
from graphc.training_curves import plot_history
from graphc.utils.plot import model_to_dot, plot_model
from graphc.models.py_dataset import PyDataset
from graphc.progbar import Progbar
from graphc.rng import set_random_seed

__all__ = [
    "Dataset",
    "Progbar",
    "PyDataset",
    "array_to_img",
    "image_dataset_from_directory",
    "img_to_array",
    "load_img",
    "model_to_dot",
    "plot_history",
    "plot_model",
    "save_img",
    "set_random_seed",
    "text_dataset_from_directory",
]
