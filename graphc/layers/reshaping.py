"""Permute and RepeatVector."""

__all__ = []
