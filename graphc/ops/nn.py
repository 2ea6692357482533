"""``keras.ops.nn``: the neural-network functions of ``graphc.ops``, under the
names of Keras's submodule (a thin re-export: the functions live in ``graphc.ops``).

Names Keras has here that graphc does not provide yet are simply absent (the coverage
test, ``tests/oracle/test_keras_api_coverage.py``, lists them with their reasons).
"""

import graphc.ops as _ops

#: Keras 3's names in this namespace.
KERAS_NAMES = (
    "adaptive_average_pool",
    "adaptive_max_pool",
    "average_pool",
    "batch_normalization",
    "binary_crossentropy",
    "categorical_crossentropy",
    "celu",
    "conv",
    "conv_transpose",
    "ctc_decode",
    "ctc_loss",
    "depth_to_space",
    "depthwise_conv",
    "dot_product_attention",
    "elu",
    "fold",
    "gelu",
    "glu",
    "hard_shrink",
    "hard_sigmoid",
    "hard_silu",
    "hard_swish",
    "hard_tanh",
    "layer_normalization",
    "leaky_relu",
    "log_sigmoid",
    "log_softmax",
    "max_pool",
    "moments",
    "multi_hot",
    "normalize",
    "one_hot",
    "polar",
    "psnr",
    "relu",
    "relu6",
    "rms_normalization",
    "selu",
    "separable_conv",
    "sigmoid",
    "silu",
    "soft_shrink",
    "softmax",
    "softplus",
    "softsign",
    "space_to_depth",
    "sparse_categorical_crossentropy",
    "sparse_plus",
    "sparse_sigmoid",
    "sparsemax",
    "squareplus",
    "swish",
    "tanh_shrink",
    "threshold",
    "unfold",
)

globals().update({_n: getattr(_ops, _n) for _n in KERAS_NAMES if hasattr(_ops, _n)})
__all__ = [_n for _n in KERAS_NAMES if _n in globals()]
