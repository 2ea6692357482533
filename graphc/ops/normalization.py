"""Normalization ops."""

__all__ = []
