"""``graphc.preprocessing``, as ``keras.preprocessing``: the older home of some of
``graphc.utils`` (``preprocessing.sequence.pad_sequences``, ``preprocessing.image``'s
image helpers, the datasets from directories), which tutorials still use."""

from graphc.preprocessing import image, sequence
from graphc.utils import image_dataset_from_directory, text_dataset_from_directory

__all__ = ["image", "sequence", "image_dataset_from_directory", "text_dataset_from_directory"]
