"""``keras.preprocessing.sequence``: ``pad_sequences`` (``graphc.utils.pad_sequences``)."""

from graphc.utils import pad_sequences

__all__ = ["pad_sequences"]
