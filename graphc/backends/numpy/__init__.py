"""The NumPy backend: an executor over a compiled plan, and the contiguous weight store."""

from graphc.backends.numpy.executor import Executor, KernelError
from graphc.backends.numpy.params import ParamStore
from graphc.ops import control_flow as _control_flow

# The scan op (graphc/ops/control_flow.py) runs its body with this backend's executor.
_control_flow.set_executor_factory(lambda graph, trainable: Executor(graph, trainable=trainable))

__all__ = ["Executor", "KernelError", "ParamStore"]
