"""The errors of ``graphc.distributed``: each says what was received, what was expected
and how to fix it."""

from __future__ import annotations

from graphc.errors import GraphcError, InputDataError

__all__ = [
    "DISTRIBUTED_EXTRA",
    "DistributedDependencyError",
    "MetricReductionError",
    "RowShapeError",
    "UnsupportedModelError",
    "DATA_LOSS_RETRIES",
    "data_lost_error",
    "require_dask",
]

DISTRIBUTED_EXTRA = "pip install 'graphc[distributed]'"

#: How many times work is re-sent after the cluster lost the data it needed.
DATA_LOSS_RETRIES = 3


class RowShapeError(InputDataError):
    """The rows of the data do not fit the model's inputs (or the targets' rows do not
    line up with the inputs'). Raised before any work is sent to a worker."""


class UnsupportedModelError(GraphcError, ValueError):
    """``model`` is neither a graphc Model, a ``.graphc`` file nor an ``.onnx`` file."""


class DistributedDependencyError(GraphcError, ImportError):
    """Dask (or Zarr) is needed and not installed."""


class MetricReductionError(GraphcError, TypeError):
    """A metric whose state cannot be added up across chunks exactly."""


def require_dask(what: str = "graphc.distributed"):
    """``(dask, dask.array, distributed)``, imported on first use: ``import graphc`` must
    stay free of Dask, which is an optional extra."""
    try:
        import dask
        import dask.array as da
        import distributed
    except ImportError as e:
        raise DistributedDependencyError(
            f"{what} needs Dask (dask[array] and distributed), which is not installed "
            f"({e}). Install the extra: {DISTRIBUTED_EXTRA}"
        ) from e
    return dask, da, distributed


def data_lost_error() -> type[BaseException]:
    """What a future raises when the scheduler cancelled it because a worker killed while
    holding the only copy of scattered data (one that joined after the scatter has none)
    took that data with it. Scattering again and resubmitting recovers."""
    try:
        from distributed.client import FutureCancelledError
    except ImportError:  # pragma: no cover - older dask.distributed
        from concurrent.futures import CancelledError

        return CancelledError
    return FutureCancelledError
