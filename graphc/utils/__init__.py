"""Utilities: ``set_random_seed``, ``plot_model``, ``plot_history``, the progress bar,
and the data loaders (``image_dataset_from_directory``, ``text_dataset_from_directory``,
``load_img``, ...)."""

from graphc.models.py_dataset import PyDataset
from graphc.progbar import (
    Progbar,
    disable_interactive_logging,
    enable_interactive_logging,
    is_interactive_logging_enabled,
)
from graphc.rng import set_random_seed
from graphc.training_curves import plot_history
from graphc.utils import bounding_boxes
from graphc.utils.array_utils import (
    normalize,
    pack_x_y_sample_weight,
    pad_sequences,
    to_categorical,
    unpack_x_y_sample_weight,
)
from graphc.utils.config import Config
from graphc.utils.dataset_utils import (
    Dataset,
    audio_dataset_from_directory,
    image_dataset_from_directory,
    text_dataset_from_directory,
)
from graphc.utils.file_utils import get_file
from graphc.utils.general import (
    CustomObjectScope,
    clear_session,
    custom_object_scope,
    deserialize_keras_object,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    get_source_inputs,
    is_keras_tensor,
    register_keras_serializable,
    serialize_keras_object,
    standardize_dtype,
)
from graphc.utils.image_utils import array_to_img, img_to_array, load_img, save_img
from graphc.utils.plot import model_to_dot, plot_model
from graphc.utils.timeseries_utils import split_dataset, timeseries_dataset_from_array

Sequence = PyDataset

__all__ = [
    "Config",
    "audio_dataset_from_directory",
    "bounding_boxes",
    "split_dataset",
    "timeseries_dataset_from_array",
    "get_source_inputs",
    "disable_interactive_logging",
    "enable_interactive_logging",
    "is_interactive_logging_enabled",
    "to_categorical",
    "normalize",
    "pad_sequences",
    "pack_x_y_sample_weight",
    "unpack_x_y_sample_weight",
    "get_file",
    "clear_session",
    "is_keras_tensor",
    "standardize_dtype",
    "CustomObjectScope",
    "custom_object_scope",
    "deserialize_keras_object",
    "get_custom_objects",
    "get_registered_name",
    "get_registered_object",
    "register_keras_serializable",
    "serialize_keras_object",
    "Sequence",
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
