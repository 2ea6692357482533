"""The NumPy backend: an executor over a compiled plan, and the contiguous weight store."""

from graphc.backends.numpy.executor import Executor, KernelError
from graphc.backends.numpy.params import ParamStore

__all__ = ["Executor", "KernelError", "ParamStore"]
