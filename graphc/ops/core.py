"""``keras.ops.core``: the core functions of ``graphc.ops`` (casts, control flow), under the
names of Keras's submodule (a thin re-export: the functions live in ``graphc.ops``).

Names Keras has here that graphc does not provide yet are simply absent (the coverage
test, ``tests/oracle/test_keras_api_coverage.py``, lists them with their reasons).
"""

import graphc.ops as _ops

#: Keras 3's names in this namespace.
KERAS_NAMES = (
    "associative_scan",
    "cast",
    "cond",
    "convert_to_numpy",
    "convert_to_tensor",
    "custom_gradient",
    "dtype",
    "fori_loop",
    "is_tensor",
    "map",
    "saturate_cast",
    "scan",
    "scatter",
    "scatter_update",
    "shape",
    "slice",
    "slice_update",
    "stop_gradient",
    "switch",
    "unstack",
    "vectorized_map",
    "while_loop",
)

globals().update({_n: getattr(_ops, _n) for _n in KERAS_NAMES if hasattr(_ops, _n)})
__all__ = [_n for _n in KERAS_NAMES if _n in globals()]
