"""graphc's error hierarchy.

Every user-facing error is a ``GraphcError``. The ones Keras users already catch as
``ValueError`` (shape mismatches, disconnected graphs, bad input data) are also
``ValueError``s, so ``except ValueError`` keeps working after switching from Keras.
"""

__all__ = [
    "GraphcError",
    "ShapeError",
    "GraphDisconnectedError",
    "GraphError",
    "InputDataError",
    "TraceError",
    "StateUpdateError",
    "FileFormatError",
    "OutputPathError",
    "ArgumentValueError",
    "ArgumentTypeError",
]


class GraphcError(Exception):
    """Base class of every error graphc raises on purpose."""


class ShapeError(GraphcError, ValueError):
    """A layer or op received a tensor whose shape or dtype it cannot accept."""


class GraphDisconnectedError(GraphcError, ValueError):
    """An output cannot be computed from the model's inputs."""


class GraphError(GraphcError, ValueError):
    """A graph breaks an IR invariant: a cycle, a duplicate name, a dangling value."""


class InputDataError(GraphcError, ValueError):
    """Data passed to fit/evaluate/predict does not match the model."""


class ArgumentValueError(GraphcError, ValueError):
    """A public argument (``batch_size``, ``epochs``, ``verbose``...) is out of range."""


class ArgumentTypeError(GraphcError, TypeError):
    """A public argument has the wrong type (``batch_size=2.5``, ``shuffle="yes"``)."""


class TraceError(GraphcError, TypeError):
    """A custom loss or regularizer could not be recorded with ``graphc.ops`` (it called
    NumPy on a symbolic tensor, say), so graphc cannot differentiate it."""


class StateUpdateError(GraphcError, RuntimeError):
    """A variable's ``assign`` / ``assign_add`` / ``assign_sub`` that graphc cannot
    record into the model's graph (made outside any layer's ``call`` while a model is
    traced): applied once at tracing, it would silently not apply when the model runs."""


class FileFormatError(GraphcError, ValueError):
    """A file graphc was asked to read (a ``.graphc`` model, a ``.weights.npz``) is
    damaged, truncated, not of the expected kind, or declares sizes it does not hold."""


class OutputPathError(GraphcError, OSError):
    """graphc was asked to write a file where it cannot or must not: a folder, a device,
    a FIFO, a socket, or into a folder that does not exist."""


class NotDifferentiableError(GraphcError, NotImplementedError):
    """A gradient was asked of an op (or an op with these attributes) that has none:
    the error names the op and which of its inputs has no gradient."""
