"""Activation layers: ReLU, LeakyReLU, Softmax, ELU."""

__all__ = []
