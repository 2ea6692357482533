"""Array ops: gather, transpose, repeat, reductions, dot."""

__all__ = []
