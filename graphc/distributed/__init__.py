"""Scale out on Dask: score and evaluate data larger than one machine, and train many
models at once.

>>> from dask.distributed import Client
>>> import graphc.distributed as gd
>>> client = Client("tcp://scheduler:8786")          # a running dask.distributed scheduler
>>> probs = gd.predict("digits.onnx", "x.npy", client=client)        # a lazy dask array
>>> gd.evaluate("digits.graphc", "test.npz", client=client)          # {"loss": ..., ...}
>>> result = gd.search(build, {"units": [32, 64]}, x, y, epochs=5, client=client)
>>> result.best_params, result.best_model

Dask is an optional extra (``pip install 'graphc[distributed]'``): ``import graphc``
never imports it, and this package imports it only when a function needs it. The
streaming functions (``stream_predict``, ``stream_evaluate``: chunks of a file on one
machine, bounded memory) need no Dask at all.
"""

from graphc.distributed.errors import (
    DistributedDependencyError,
    MetricReductionError,
    RowShapeError,
    UnsupportedModelError,
)

__all__ = [
    "DistributedDependencyError",
    "MetricReductionError",
    "RowShapeError",
    "SearchResult",
    "Trial",
    "UnsupportedModelError",
    "evaluate",
    "predict",
    "search",
    "stream_evaluate",
    "stream_predict",
]


def predict(model, data, batch_size=32, chunk_rows=None, client=None):
    from graphc.distributed.cluster import predict as _predict

    return _predict(model, data, batch_size=batch_size, chunk_rows=chunk_rows, client=client)


def evaluate(
    model,
    data,
    y=None,
    sample_weight=None,
    batch_size=32,
    chunk_rows=None,
    loss=None,
    metrics=None,
    loss_weights=None,
    client=None,
):
    from graphc.distributed.cluster import evaluate as _evaluate

    return _evaluate(
        model,
        data,
        y,
        sample_weight=sample_weight,
        batch_size=batch_size,
        chunk_rows=chunk_rows,
        loss=loss,
        metrics=metrics,
        loss_weights=loss_weights,
        client=client,
    )


def __getattr__(name):
    import importlib

    homes = {
        "search": "tuning",
        "SearchResult": "tuning",
        "Trial": "tuning",
        "stream_predict": "stream",
        "stream_evaluate": "stream",
    }
    if name in homes:
        return getattr(importlib.import_module(f"graphc.distributed.{homes[name]}"), name)
    raise AttributeError(f"module 'graphc.distributed' has no attribute {name!r}")


def _copy_doc():
    from graphc.distributed import cluster

    predict.__doc__ = cluster.predict.__doc__
    evaluate.__doc__ = cluster.evaluate.__doc__


_copy_doc()  # cluster.py imports no Dask at module level: this stays cheap
