"""Pooling ops (channels-last, as Keras)."""

__all__ = []
