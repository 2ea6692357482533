"""graphc.ops: the primitive operations, like ``keras.ops``.

Each function works on symbolic tensors (it records a node, for use inside a layer's
``call``) and on NumPy arrays (it runs the kernel at once)::

    import graphc
    from graphc import ops

    class Scale(graphc.layers.Layer):
        def build(self, input_shape):
            self.s = self.add_weight(shape=(input_shape[-1],), initializer="ones")
        def call(self, x):
            return ops.multiply(x, self.s)

To add a primitive, subclass ``graphc.ops.Op`` with all four rules (see
``graphc.ops.registry`` and ARCHITECTURE.md, "Adding an op").
"""

from graphc import ir as _ir

# Op families that define their public functions beside the ops (each module's __all__).
# (Modules under private aliases: a family may export a function of its own module's name.)
from graphc.ops import arrays as _arrays  # noqa: E402
from graphc.ops import attention as _attention  # noqa: E402
from graphc.ops import aug_mix as _aug_mix  # noqa: E402,F401  (registers aug_mix)
from graphc.ops import batch_norm as _batch_norm  # noqa: E402
from graphc.ops import bitwise as _bitwise  # noqa: E402
from graphc.ops import clahe as _clahe  # noqa: E402,F401  (registers clahe)
from graphc.ops import composite as _composite  # noqa: E402
from graphc.ops import control_flow as _control_flow  # noqa: E402,F401  (registers scan)
from graphc.ops import conv as _conv  # noqa: E402
from graphc.ops import conv_transpose as _conv_transpose  # noqa: E402
from graphc.ops import core_extra as _core_extra  # noqa: E402
from graphc.ops import ctc as _ctc  # noqa: E402
from graphc.ops import cumulative as _cumulative  # noqa: E402
from graphc.ops import custom as _custom  # noqa: E402
from graphc.ops import dynamic as _dynamic  # noqa: E402
from graphc.ops import elementary as _elementary  # noqa: E402
from graphc.ops import elementwise, linalg, shape  # noqa: F401  (registers the ops)
from graphc.ops import image as _image  # noqa: E402
from graphc.ops import image_augment as _image_augment  # noqa: E402,F401  (registers the ops)
from graphc.ops import indexing as _indexing  # noqa: E402
from graphc.ops import logic as _logic  # noqa: E402
from graphc.ops import lookup as _lookup  # noqa: E402,F401  (registers the lookup ops)
from graphc.ops import masking as _masking  # noqa: E402
from graphc.ops import normalization as _normalization  # noqa: E402
from graphc.ops import numeric as _numeric  # noqa: E402
from graphc.ops import numpy_extra as _numpy_extra  # noqa: E402
from graphc.ops import padding as _padding  # noqa: E402
from graphc.ops import pooling as _pooling  # noqa: E402
from graphc.ops import recurrent as _recurrent  # noqa: E402
from graphc.ops import rounding as _rounding  # noqa: E402
from graphc.ops import selection as _selection  # noqa: E402
from graphc.ops import sets as _sets  # noqa: E402
from graphc.ops import signal as _signal  # noqa: E402
from graphc.ops import sorting as _sorting  # noqa: E402
from graphc.ops import special as _special  # noqa: E402
from graphc.ops import spectral as _spectral  # noqa: E402,F401
from graphc.ops import spectral_norm as _spectral_norm  # noqa: E402,F401
from graphc.ops import state as _state  # noqa: E402  (assign, after_updates)
from graphc.ops import text as _text  # noqa: E402,F401  (registers text_vectorization)
from graphc.ops.arrays import *  # noqa: F401,F403,E402
from graphc.ops.attention import *  # noqa: F401,F403,E402
from graphc.ops.batch_norm import *  # noqa: F401,F403,E402
from graphc.ops.bitwise import *  # noqa: F401,F403,E402
from graphc.ops.composite import *  # noqa: F401,F403,E402
from graphc.ops.conv import *  # noqa: F401,F403,E402
from graphc.ops.conv_transpose import *  # noqa: F401,F403,E402
from graphc.ops.core_extra import *  # noqa: F401,F403,E402
from graphc.ops.ctc import *  # noqa: F401,F403,E402
from graphc.ops.cumulative import *  # noqa: F401,F403,E402
from graphc.ops.custom import *  # noqa: F401,F403,E402

# (after this, graphc.ops.shape is the function `shape`; the module stays importable)
from graphc.ops.dynamic import *  # noqa: F401,F403,E402
from graphc.ops.elementary import *  # noqa: F401,F403,E402
from graphc.ops.image import *  # noqa: F401,F403,E402
from graphc.ops.indexing import *  # noqa: F401,F403,E402
from graphc.ops.logic import *  # noqa: F401,F403,E402
from graphc.ops.masking import *  # noqa: F401,F403,E402
from graphc.ops.normalization import *  # noqa: F401,F403,E402
from graphc.ops.numeric import *  # noqa: F401,F403,E402
from graphc.ops.numpy_extra import *  # noqa: F401,F403,E402
from graphc.ops.padding import *  # noqa: F401,F403,E402
from graphc.ops.pooling import *  # noqa: F401,F403,E402
from graphc.ops.recurrent import *  # noqa: F401,F403,E402
from graphc.ops.registry import REGISTRY, RULES, ExecContext, Op, apply, get_op
from graphc.ops.rounding import *  # noqa: F401,F403,E402
from graphc.ops.selection import *  # noqa: F401,F403,E402
from graphc.ops.sets import *  # noqa: F401,F403,E402
from graphc.ops.signal import *  # noqa: F401,F403,E402
from graphc.ops.sorting import *  # noqa: F401,F403,E402
from graphc.ops.special import *  # noqa: F401,F403,E402

__all__ = [
    "Op",
    "ExecContext",
    "REGISTRY",
    "RULES",
    "get_op",
    "apply",
    "add",
    "subtract",
    "multiply",
    "divide",
    "maximum",
    "minimum",
    "negative",
    "matmul",
    "identity",
    "relu",
    "sigmoid",
    "tanh",
    "softmax",
    "elu",
    "selu",
    "softplus",
    "softsign",
    "silu",
    "swish",
    "gelu",
    "leaky_relu",
    "hard_sigmoid",
    "exp",
    "reshape",
    "flatten",
    "dropout",
    "concatenate",
] + (
    _arrays.__all__
    + _attention.__all__
    + _masking.__all__
    + _batch_norm.__all__
    + _conv.__all__
    + _conv_transpose.__all__
    + _dynamic.__all__
    + _elementary.__all__
    + _image.__all__
    + _normalization.__all__
    + _numeric.__all__
    + _numpy_extra.__all__
    + _padding.__all__
    + _pooling.__all__
    + _recurrent.__all__
    + _logic.__all__
    + _rounding.__all__
    + _sorting.__all__
    + _signal.__all__
    + _core_extra.__all__
    + _indexing.__all__
    + _composite.__all__
    + _bitwise.__all__
    + _cumulative.__all__
    + _ctc.__all__
    + _sets.__all__
    + _custom.__all__
    + _selection.__all__
    + _special.__all__
)


def add(x1, x2):
    return apply("add", [x1, x2])


def subtract(x1, x2):
    return apply("subtract", [x1, x2])


def multiply(x1, x2):
    return apply("multiply", [x1, x2])


def divide(x1, x2):
    return apply("divide", [x1, x2])


def maximum(x1, x2):
    return apply("maximum", [x1, x2])


def minimum(x1, x2):
    return apply("minimum", [x1, x2])


def negative(x):
    return apply("negative", [x])


def matmul(x1, x2):
    return apply("matmul", [x1, x2])


def identity(x, dtype=None):
    """The identity op on a tensor; on an integer ``n``, Keras's ``identity(n)``: the
    ``n x n`` identity matrix (float32 unless ``dtype``)."""
    if isinstance(x, int) and not isinstance(x, bool):
        import numpy

        return numpy.eye(x, dtype=dtype or "float32")
    return apply("identity", [x])


def relu(x):
    return apply("relu", [x])


def sigmoid(x):
    return apply("sigmoid", [x])


def tanh(x):
    return apply("tanh", [x])


def softmax(x, axis=-1):
    return apply("softmax", [x], axis=int(axis))


def elu(x, alpha=1.0):
    return apply("elu", [x], alpha=float(alpha))


def selu(x):
    return apply("selu", [x])


def softplus(x):
    return apply("softplus", [x])


def softsign(x):
    return apply("softsign", [x])


def silu(x):
    return apply("silu", [x])


swish = silu


def gelu(x, approximate=False):
    return apply("gelu", [x], approximate=bool(approximate))


def leaky_relu(x, negative_slope=0.2):
    return apply("leaky_relu", [x], negative_slope=float(negative_slope))


def hard_sigmoid(x):
    return apply("hard_sigmoid", [x])


def exp(x):
    return apply("exp", [x])


def reshape(x, newshape):
    return apply("reshape", [x], shape=tuple(int(d) for d in newshape))


def flatten(x):
    """Keep the first (batch) dimension and flatten the rest."""
    return apply("flatten", [x])


def dropout(x, rate, noise_shape=None, seed=None, training=None):
    """Inverted dropout; active when the executor runs in training mode, or always when
    ``training=True`` is passed explicitly (Monte-Carlo dropout)."""
    attrs = {"rate": float(rate)}
    if noise_shape is not None:
        attrs["noise_shape"] = tuple(noise_shape)
    if training:
        attrs["force_training"] = True
    return apply("dropout", [x], **attrs)[0]


def concatenate(xs, axis=-1):
    return apply("concatenate", list(xs), axis=int(axis))


# keras.ops's linear algebra, also under graphc.ops.linalg (the op family of that name).
from graphc.ops.linalg import (  # noqa: E402
    cholesky,
    cholesky_inverse,
    det,
    eig,
    eigh,
    inv,
    logdet,
    lstsq,
    lu_factor,
    matrix_rank,
    norm,
    pinv,
    qr,
    slogdet,
    solve,
    solve_triangular,
    svd,
)

__all__ += [
    "cholesky",
    "cholesky_inverse",
    "det",
    "eig",
    "eigh",
    "inv",
    "logdet",
    "lstsq",
    "lu_factor",
    "matrix_rank",
    "norm",
    "pinv",
    "qr",
    "slogdet",
    "solve",
    "solve_triangular",
    "svd",
]

# Arithmetic on symbolic tensors (``x + y``, ``-x``, ``x @ w``) records these ops.
_ir.OPERATORS.update(
    add=add, subtract=subtract, multiply=multiply, divide=divide, matmul=matmul, negative=negative
)
_ir.OPERATORS.update(
    abs=_numeric.abs,
    power=_rounding.power,
    mod=_rounding.mod,
    floor_divide=_elementary.floor_divide,
    less=_logic.less,
    less_equal=_logic.less_equal,
    greater=_logic.greater,
    greater_equal=_logic.greater_equal,
    logical_and=_logic.logical_and,
    logical_or=_logic.logical_or,
    logical_xor=_logic.logical_xor,
    logical_not=_logic.logical_not,
    get_item=_numpy_extra.get_item,
)
# ``Variable.assign`` on a recording call records these (graphc/ops/state.py).
_ir.OPERATORS.update(assign=_state.assign, after_updates=_state.after_updates)


# Keras's submodules ``keras.ops.nn``, ``numpy``, ``core`` (``linalg`` and ``image`` are the
# op families of those names): thin re-exports of the functions above, imported last.
from graphc.ops import core, nn, numpy  # noqa: E402,F401
