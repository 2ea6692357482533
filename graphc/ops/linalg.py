"""Linear algebra ops."""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops._blas import product
from graphc.ops.registry import Op
from graphc.ops.shapes import broadcast_shapes, dims_compatible, unbroadcast


class MatMul(Op):
    """NumPy ``matmul``: ``(..., n, k) @ (..., k, m)``, batch dims broadcast; a 1-D
    operand is not supported (layers always pass rank >= 2)."""

    name = "matmul"

    def infer(self, attrs, a, b):
        if a.dtype != b.dtype:
            raise ShapeError(f"operands have different dtypes {a.dtype} and {b.dtype}")
        if len(a.shape) < 2 or len(b.shape) < 2:
            raise ShapeError(
                f"both operands need rank >= 2, got {format_shape(a.shape)} "
                f"and {format_shape(b.shape)}"
            )
        if not dims_compatible(a.shape[-1], b.shape[-2]):
            raise ShapeError(
                f"inner dimensions differ, got {format_shape(a.shape)} and {format_shape(b.shape)}"
            )
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        return TensorType(batch + (a.shape[-2], b.shape[-1]), a.dtype)

    def kernel(self, attrs, a, b, *, ctx):
        if a.ndim == 2 and b.ndim == 2:
            return product(a, b)  # small ones on one BLAS thread (as the compiled plans)
        if a.ndim > 2 and b.ndim == 2:
            # One GEMM over all leading dims: NumPy's stacked matmul calls BLAS per slice,
            # or not at all for some strides.
            return product(a.reshape(-1, a.shape[-1]), b).reshape(a.shape[:-1] + b.shape[-1:])
        return np.matmul(a, b)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, b = xs
        g = gys[0]
        ga = gb = None
        if b.ndim == 2:
            # The common Dense case: fold all leading dims into one GEMM per gradient,
            # written straight into the gradient buffer when the executor gives one.
            if needs[0]:
                ga = product(g.reshape(-1, g.shape[-1]), b.T).reshape(a.shape)
            if needs[1]:
                a2, g2 = a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1])
                gb = product(a2.T, g2, out=out[1])
            return ga, gb
        if needs[0]:
            ga = unbroadcast(np.matmul(g, np.swapaxes(b, -1, -2)), a.shape)
        if needs[1]:
            gb = unbroadcast(np.matmul(np.swapaxes(a, -1, -2), g), b.shape)
        return ga, gb

    def lower(self, attrs, b, x, y):
        return b.op("MatMul", x, y)


class Gemm(Op):
    """``x @ w + b``: ``(n, k) @ (k, m) + (m,)``, lowered to ONNX ``Gemm``."""

    # What a Dense layer records on a rank-2 input, and passes.export.FuseMatMulAdd makes
    # of other matmul + add pairs.
    name = "gemm"

    def infer(self, attrs, x, w, b):
        if not (x.dtype == w.dtype == b.dtype):
            raise ShapeError(f"operands have different dtypes {x.dtype}, {w.dtype} and {b.dtype}")
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected floating-point operands, got dtype {x.dtype}")
        if len(x.shape) != 2 or len(w.shape) != 2 or len(b.shape) != 1:
            raise ShapeError(
                f"expects a rank-2 input, a 2-D weight and a 1-D bias, got "
                f"{format_shape(x.shape)}, {format_shape(w.shape)} and "
                f"{format_shape(b.shape)}"
            )
        if not dims_compatible(x.shape[1], w.shape[0]):
            raise ShapeError(
                f"inner dimensions differ, got {format_shape(x.shape)} and {format_shape(w.shape)}"
            )
        if not dims_compatible(w.shape[1], b.shape[0]):
            raise ShapeError(
                f"bias {format_shape(b.shape)} does not match the weight's {w.shape[1]} columns"
            )
        return TensorType((x.shape[0], w.shape[1]), x.dtype)

    # The matmul then the add, as MatMul's kernel and VJP compute them: the NumPy plan
    # runs a gemm as those two steps (backends/numpy/executor.py), and these give the
    # same numbers where a gemm runs alone.
    def kernel(self, attrs, x, w, b, *, ctx):
        return product(x, w) + b

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, w, _ = xs
        g = gys[0]
        return (
            product(g, w.T) if needs[0] else None,
            product(x.T, g) if needs[1] else None,
            np.add.reduce(g, axis=0) if needs[2] else None,
        )

    def lower(self, attrs, b, x, w, bias):
        # Every attribute written out: ONNX defaults are not graphc's business to rely on.
        return b.op("Gemm", x, w, bias, alpha=1.0, beta=1.0, transA=0, transB=0)


def norm(x, ord=None, axis=None, keepdims=False):
    """``keras.ops.linalg.norm`` for vector norms (``ord`` None/2, 1, ``inf``, ``-inf``, 0
    or a positive number) over one axis, and the Frobenius norm (``ord`` None or "fro")
    over all of ``x`` or two axes."""
    from graphc.ops import composite as c  # same rank, imported late (composite is larger)
    from graphc.ops.arrays import sum as _sum
    from graphc.ops.numeric import abs as _abs
    from graphc.ops.numeric import max as _max
    from graphc.ops.numeric import sqrt, square

    axes = axis if isinstance(axis, (tuple, list)) else None
    if axes is not None and len(axes) == 2 or axis is None and (ord in (None, "fro")):
        if ord not in (None, "fro"):
            raise NotImplementedError(f"norm: matrix norm ord={ord!r} is not supported yet")
        return sqrt(_sum(square(x), axis=axis, keepdims=keepdims))
    if axes is not None:
        axis = axes[0]
    if ord is None or ord == 2:
        return sqrt(_sum(square(x), axis=axis, keepdims=keepdims))
    if ord == 1:
        return _sum(_abs(x), axis=axis, keepdims=keepdims)
    if ord == float("inf"):
        return _max(_abs(x), axis=axis, keepdims=keepdims)
    if ord == float("-inf"):
        return c.min(_abs(x), axis=axis, keepdims=keepdims)
    if ord == 0:
        return (
            c.count_nonzero(x, axis=axis)
            if not keepdims
            else _sum(c.cast(c.not_equal(x, 0), c.dtype(x)), axis=axis, keepdims=True)
        )
    p = float(ord)
    return c.power(_sum(c.power(_abs(x), p), axis=axis, keepdims=keepdims), 1.0 / p)


# ---- keras.ops.linalg: decompositions and solvers ------------------------------------------
# NumPy's LAPACK kernels; ONNX has only ``Det`` of these, so the others refuse export
# with the reason. Gradients: the standard matrix-calculus VJPs for cholesky, inv, det,
# slogdet, solve and solve_triangular; none for the other decompositions (eig, eigh,
# qr, svd, lu_factor), whose gradients graphc does not provide.
def _square(t, what):
    if len(t.shape) < 2:
        raise ShapeError(f"{what} needs a tensor of rank >= 2, got {format_shape(t.shape)}")
    n, m = t.shape[-2], t.shape[-1]
    if n is not None and m is not None and n != m:
        raise ShapeError(f"{what} needs square matrices, got {format_shape(t.shape)}")
    if not t.dtype.startswith("float"):
        raise ShapeError(f"{what} needs a floating-point tensor, got dtype {t.dtype}")


def _T(a):
    return np.swapaxes(a, -1, -2)


def _no_onnx(name):
    from graphc.ops.elementary import no_onnx

    return no_onnx(name)


class _LinalgOp(Op):
    def lower(self, attrs, b, *names):
        raise _no_onnx(self.name)


class Cholesky(_LinalgOp):
    """The lower Cholesky factor ``L`` (``upper``: ``L^T``) of symmetric positive-definite
    matrices. The kernel factors the symmetric part ``(a + a^T) / 2`` (the same matrix
    for a symmetric ``a``), so the VJP, Murray's (2016) formula, is its exact gradient."""

    name = "cholesky"
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def infer(self, attrs, a):
        _square(a, "cholesky")
        return TensorType(a.shape, a.dtype)

    def kernel(self, attrs, a, *, ctx):
        L = np.linalg.cholesky(0.5 * (a + _T(a)))
        return _T(L).copy() if attrs.get("upper", False) else L

    def vjp(self, attrs, xs, ys, gys, needs, out):
        L, g = ys[0], gys[0]
        if attrs.get("upper", False):
            L, g = _T(L), _T(g)
        phi = np.tril(_T(L) @ g)
        phi = phi - 0.5 * np.eye(L.shape[-1], dtype=L.dtype) * phi
        Linv = np.linalg.inv(L)
        ga = _T(Linv) @ phi @ Linv
        return (0.5 * (ga + _T(ga)),)


class Inv(_LinalgOp):
    name = "inv"
    vjp_reads_inputs, vjp_reads_outputs = False, True

    def infer(self, attrs, a):
        _square(a, "inv")
        return TensorType(a.shape, a.dtype)

    def kernel(self, attrs, a, *, ctx):
        return np.linalg.inv(a)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        y = _T(ys[0])
        return (-(y @ gys[0] @ y),)


class Det(Op):
    """The determinant over the last two axes (ONNX ``Det``)."""

    name = "det"
    vjp_reads_outputs = True

    def infer(self, attrs, a):
        _square(a, "det")
        return TensorType(a.shape[:-2], a.dtype)

    def kernel(self, attrs, a, *, ctx):
        return np.asarray(np.linalg.det(a)).astype(a.dtype, copy=False)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, d, g = xs[0], ys[0], gys[0]
        return ((g * d)[..., None, None] * _T(np.linalg.inv(a)),)

    def lower(self, attrs, b, x):
        return b.op("Det", x)


class Slogdet(_LinalgOp):
    """``(sign, log|det|)`` over the last two axes; the gradient of ``log|det|`` is
    ``inv(a)^T``, the sign has none."""

    name = "slogdet"
    n_outputs = 2

    def infer(self, attrs, a):
        _square(a, "slogdet")
        return TensorType(a.shape[:-2], a.dtype), TensorType(a.shape[:-2], a.dtype)

    def kernel(self, attrs, a, *, ctx):
        s, logabs = np.linalg.slogdet(a)
        return np.asarray(s).astype(a.dtype), np.asarray(logabs).astype(a.dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a = xs[0]
        g = np.zeros(a.shape[:-2], a.dtype) if gys[1] is None else gys[1]
        return (g[..., None, None] * _T(np.linalg.inv(a)),)


def _vector_rhs(a, b):
    return len(b.shape) == len(a.shape) - 1


class Solve(_LinalgOp):
    """``x`` with ``a @ x = b``; ``b`` a matrix or (one rank lower) a vector."""

    name = "solve"
    vjp_reads_outputs = True

    def infer(self, attrs, a, b):
        _square(a, "solve")
        if a.dtype != b.dtype:
            raise ShapeError(f"operands have different dtypes {a.dtype} and {b.dtype}")
        return TensorType(b.shape, b.dtype)

    def _solve(self, attrs, a, b, transpose=False):
        if transpose:
            a = _T(a)
        if b.ndim == a.ndim - 1:
            return np.linalg.solve(a, b[..., None])[..., 0]
        return np.linalg.solve(a, b)

    def kernel(self, attrs, a, b, *, ctx):
        return self._solve(attrs, a, b)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        a, b = xs
        x, g = ys[0], gys[0]
        gb = self._solve(attrs, a, g, transpose=True)
        if b.ndim == a.ndim - 1:
            ga = -gb[..., :, None] * x[..., None, :]
        else:
            ga = -gb @ _T(x)
        return (self._mask(attrs, ga) if needs[0] else None), (gb if needs[1] else None)

    def _mask(self, attrs, ga):
        return ga


class SolveTriangular(Solve):
    """``solve`` with only the lower (``lower=True``) or upper triangle of ``a`` read."""

    name = "solve_triangular"

    def _tri(self, attrs, a):
        return np.tril(a) if attrs.get("lower", False) else np.triu(a)

    def _solve(self, attrs, a, b, transpose=False):
        return super()._solve(attrs, self._tri(attrs, a), b, transpose)

    def _mask(self, attrs, ga):
        return self._tri(attrs, ga)


class Eigh(_LinalgOp):
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices (the lower triangle
    is read); no gradient."""

    name = "eigh"
    n_outputs = 2
    vjp_reads_inputs = False

    def infer(self, attrs, a):
        _square(a, "eigh")
        return TensorType(a.shape[:-1], a.dtype), TensorType(a.shape, a.dtype)

    def kernel(self, attrs, a, *, ctx):
        w, v = np.linalg.eigh(a)
        return w.astype(a.dtype), v.astype(a.dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)


class Qr(_LinalgOp):
    """``q, r`` of ``mode`` "reduced" or "complete"; no gradient."""

    name = "qr"
    n_outputs = 2
    vjp_reads_inputs = False

    def infer(self, attrs, a):
        if len(a.shape) < 2:
            raise ShapeError(f"qr needs a tensor of rank >= 2, got {format_shape(a.shape)}")
        m, n = a.shape[-2], a.shape[-1]
        k = (
            n
            if attrs.get("mode", "reduced") == "complete"
            else (None if m is None or n is None else min(m, n))
        )
        q_cols = m if attrs.get("mode", "reduced") == "complete" else k
        r_rows = m if attrs.get("mode", "reduced") == "complete" else k
        return (
            TensorType(a.shape[:-2] + (m, q_cols), a.dtype),
            TensorType(a.shape[:-2] + (r_rows, n), a.dtype),
        )

    def kernel(self, attrs, a, *, ctx):
        q, r = np.linalg.qr(a, mode=attrs.get("mode", "reduced"))
        return q.astype(a.dtype), r.astype(a.dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)


class Svd(_LinalgOp):
    """``u, s, vh`` (``full_matrices`` as NumPy); no gradient."""

    name = "svd"
    n_outputs = 3
    vjp_reads_inputs = False

    def infer(self, attrs, a):
        if len(a.shape) < 2:
            raise ShapeError(f"svd needs a tensor of rank >= 2, got {format_shape(a.shape)}")
        m, n = a.shape[-2], a.shape[-1]
        k = None if m is None or n is None else min(m, n)
        full = attrs.get("full_matrices", True)
        lead = a.shape[:-2]
        return (
            TensorType(lead + (m, m if full else k), a.dtype),
            TensorType(lead + (k,), a.dtype),
            TensorType(lead + (n if full else k, n), a.dtype),
        )

    def kernel(self, attrs, a, *, ctx):
        u, s, vh = np.linalg.svd(a, full_matrices=attrs.get("full_matrices", True))
        return u.astype(a.dtype), s.astype(a.dtype), vh.astype(a.dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)


class Pinv(_LinalgOp):
    """The Moore-Penrose pseudo-inverse (``rcond`` as NumPy's); no gradient."""

    name = "pinv"
    vjp_reads_inputs = False

    def infer(self, attrs, a):
        if len(a.shape) < 2:
            raise ShapeError(f"pinv needs a tensor of rank >= 2, got {format_shape(a.shape)}")
        return TensorType(a.shape[:-2] + (a.shape[-1], a.shape[-2]), a.dtype)

    def kernel(self, attrs, a, *, ctx):
        return np.linalg.pinv(a, rcond=attrs.get("rcond", 1e-15)).astype(a.dtype)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)


def _lu_factor(a):
    """LAPACK's getrf for one matrix: the packed ``L\\U`` and the 0-based pivot rows."""
    a = a.copy()
    piv = np.zeros(min(a.shape), dtype=np.int32)
    for k in range(min(a.shape)):
        p = k + int(np.argmax(np.abs(a[k:, k])))
        piv[k] = p
        if p != k:
            a[[k, p]] = a[[p, k]]
        if a[k, k] != 0:
            a[k + 1 :, k] /= a[k, k]
            a[k + 1 :, k + 1 :] -= np.outer(a[k + 1 :, k], a[k, k + 1 :])
    return a, piv


class LuFactor(_LinalgOp):
    """``(lu, pivots)`` as ``scipy.linalg.lu_factor``: partial pivoting; no gradient."""

    name = "lu_factor"
    n_outputs = 2
    vjp_reads_inputs = False

    def infer(self, attrs, a):
        if len(a.shape) < 2:
            raise ShapeError(f"lu_factor needs rank >= 2, got {format_shape(a.shape)}")
        m, n = a.shape[-2], a.shape[-1]
        k = None if m is None or n is None else min(m, n)
        return TensorType(a.shape, a.dtype), TensorType(a.shape[:-2] + (k,), "int32")

    def kernel(self, attrs, a, *, ctx):
        lead = a.shape[:-2]
        flat = a.reshape((-1,) + a.shape[-2:])
        outs = [_lu_factor(m) for m in flat]
        lu = np.stack([o[0] for o in outs]).reshape(a.shape)
        piv = np.stack([o[1] for o in outs]).reshape(lead + (-1,))
        return lu, piv

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (None,)


def _apply(name, xs, **attrs):
    from graphc.ops.registry import apply

    return apply(name, xs, **attrs)


def _f(x):
    from graphc.ops.elementary import _to_float

    return _to_float(x)


def cholesky(a, upper=False):
    """``keras.ops.linalg.cholesky``: ``L`` with ``a = L L^T`` (``upper``: ``L^T``)."""
    return _apply("cholesky", [_f(a)], upper=bool(upper))


def cholesky_inverse(a, upper=False):
    """``keras.ops.linalg.cholesky_inverse``: the inverse of ``L L^T`` from its Cholesky
    factor ``a`` (``upper``: ``a`` is ``U`` with ``U^T U``)."""
    from graphc.ops.composite import eye

    a = _f(a)
    n = a.shape[-1]
    ident = eye(n, dtype=str(a.dtype))
    if len(a.shape) > 2:  # one identity per matrix of the batch
        ident = _apply("add", [_apply("multiply", [a, 0.0]), ident])
    inv_chol = _apply("solve_triangular", [a, ident], lower=not upper)
    t = _apply(
        "transpose",
        [inv_chol],
        perm=tuple(range(len(a.shape) - 2))
        + (
            len(a.shape) - 1,
            len(a.shape) - 2,
        ),
    )
    return _apply("matmul", [inv_chol, t] if upper else [t, inv_chol])


def det(a):
    """``keras.ops.linalg.det``: the determinant of the last two axes."""
    return _apply("det", [_f(a)])


def slogdet(x):
    """``keras.ops.slogdet``: ``(sign, log|det|)``."""
    return _apply("slogdet", [_f(x)])


def logdet(x):
    """``keras.ops.logdet``: ``log det`` of positive-definite matrices (``log|det|``)."""
    return slogdet(x)[1]


def inv(a):
    """``keras.ops.linalg.inv``: the matrix inverse."""
    return _apply("inv", [_f(a)])


def solve(a, b):
    """``keras.ops.linalg.solve``: ``x`` with ``a @ x = b``."""
    return _apply("solve", [_f(a), _f(b)])


def solve_triangular(a, b, lower=False):
    """``keras.ops.linalg.solve_triangular``: ``solve`` reading one triangle of ``a``."""
    return _apply("solve_triangular", [_f(a), _f(b)], lower=bool(lower))


def eigh(a):
    """``keras.ops.linalg.eigh``: ascending eigenvalues and the eigenvectors (columns)."""
    return _apply("eigh", [_f(a)])


def eig(a):
    """``keras.ops.linalg.eig`` (arrays only): complex eigenvalues and eigenvectors, as
    NumPy's (graphc's tensors are real)."""
    from graphc.ops.registry import is_symbolic

    if is_symbolic(a):
        from graphc.errors import ArgumentValueError

        raise ArgumentValueError(
            "eig gives complex results, which graphc's tensors cannot hold; call it on "
            "arrays, or use eigh for symmetric matrices"
        )
    return np.linalg.eig(np.asarray(a))


def qr(x, mode="reduced"):
    """``keras.ops.linalg.qr``: ``(q, r)``."""
    if mode not in ("reduced", "complete"):
        from graphc.errors import ArgumentValueError

        raise ArgumentValueError(f"mode must be 'reduced' or 'complete'; received mode={mode!r}")
    return _apply("qr", [_f(x)], mode=mode)


def svd(x, full_matrices=True, compute_uv=True):
    """``keras.ops.linalg.svd``: ``(u, s, vh)``, or ``s`` alone without ``compute_uv``."""
    out = _apply("svd", [_f(x)], full_matrices=bool(full_matrices))
    return out if compute_uv else out[1]


def pinv(x, rcond=None):
    """``keras.ops.linalg.pinv``: the pseudo-inverse."""
    return _apply("pinv", [_f(x)], rcond=1e-15 if rcond is None else float(rcond))


def lstsq(a, b, rcond=None):
    """``keras.ops.linalg.lstsq``: the least-squares solution of ``a @ x = b``, as
    ``pinv(a) @ b``."""
    p = _apply("pinv", [_f(a)], rcond=1e-15 if rcond is None else float(rcond))
    b = _f(b)
    if len(b.shape) == 1:
        from graphc.ops.composite import dot

        return dot(p, b)
    return _apply("matmul", [p, b])


def lu_factor(a):
    """``keras.ops.linalg.lu_factor``: ``(lu, pivots)`` as SciPy's."""
    return _apply("lu_factor", [_f(a)])


def matrix_rank(x, tol=None):
    """``keras.ops.linalg.matrix_rank`` (int32): singular values above ``tol`` (default
    NumPy's: ``max(s) * max(m, n) * eps``)."""
    from graphc.ops.composite import max as _max
    from graphc.ops.masking import cast

    s = svd(x, compute_uv=False)
    m, n = x.shape[-2], x.shape[-1]
    if tol is None:
        eps = float(np.finfo(str(s.dtype)).eps)
        tol = _apply("multiply", [_max(s, axis=-1, keepdims=True), eps * max(m, n)])
    hit = cast(_apply("greater", [s, tol]), "float32")
    from graphc.ops.arrays import sum as _sum

    return cast(_sum(hit, axis=-1), "int32")
