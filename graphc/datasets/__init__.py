"""Small datasets shipped with graphc, so examples and tests need no download."""

from graphc.datasets import digits

__all__ = ["digits"]
