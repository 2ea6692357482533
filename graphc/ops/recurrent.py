"""Recurrent ops: whole-sequence SimpleRNN, LSTM and GRU, and ``reverse_sequence``.

Each recurrent op runs a whole batch-first sequence ``(N, T, F)`` as Keras 3 does and has
the outputs ``(sequence (N, T, U), final h (N, U)[, final c (N, U)])``. Weights use Keras's
layouts and gate orders (LSTM i, f, c, o; GRU z, r, h); the ONNX lowering converts them to
the ONNX ``RNN``/``LSTM``/``GRU`` operators' layouts (LSTM i, o, f, c).

With ``go_backwards`` the input is read from the last step to the first and, as in Keras,
the output sequence is in that processing order (its first entry belongs to the input's
last step); ONNX's ``direction="reverse"`` returns its sequence in input order, so the
lowering flips it.

Inputs: ``x, kernel, recurrent_kernel[, bias][, h0[, c0]]``; the attributes ``use_bias``
and ``initial_state`` say which optional inputs are present. The kernels loop over time
steps (vectorised over batch and units). The VJP (backpropagation through time) rebuilds
the gate values from the inputs and the output sequence, which holds every hidden state,
with a few batched matmuls; the LSTM's training forward pass without masks or dropout
keeps its gates and cell states instead (``_SavedForBackward``), and its VJP uses them.
That plain LSTM is laid out as a compiler would (``_FAST_ORDER``): gate-major buffers so
that every per-step operation runs in place over contiguous blocks, one GEMM per step for
the input and recurrent products and the bias together, and the weight gradients of all
steps as one product. Its buffers (megabytes) are kept from one call to the next
(``_Scratch``) instead of being faulted in afresh at every training step.

Dropout (Keras's ``dropout``/``recurrent_dropout``, attributes of the same names): in
training mode the kernel draws, once per call, an input mask ``(k, N, F)`` and a recurrent
mask ``(k, N, U)`` (inverted dropout, scaled by ``1 / (1 - rate)``) and uses them at every
step: ``x_t * mask`` goes into ``x_t @ kernel``, ``h * mask`` into ``h @ recurrent_kernel``.
``k`` is 1, or one mask per gate with ``gate_masks`` (Keras's LSTM/GRU ``implementation=1``,
which ``recurrent_dropout`` selects): gate block ``g`` of a product then reads
``(a * mask[g]) @ w[:, block g]``. The masks are two extra outputs (None when nothing was
drawn) that the VJP reads, as the ``dropout`` op's mask. Inference ignores them, and so
does the ONNX lowering (the export pass ``inference_mode`` also strips them from the graph).
"""

from __future__ import annotations

import weakref

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops import masking as _masking  # noqa: F401  (registers the mask ops)
from graphc.ops._blas import single_threaded, submit
from graphc.ops._gemm import matmul_tn
from graphc.ops._scratch import Scratch as _Scratch
from graphc.ops.registry import ExecContext, Op, apply
from graphc.ops.shapes import dims_compatible, known, merge_dim, shapes_compatible

__all__ = ["simple_rnn", "lstm", "gru", "reverse_sequence"]


# ---- activations: value, derivative from the value, ONNX name and alpha/beta ---------
def _sigmoid(x):
    # tanh form: no overflow for large |x|, one transcendental per element.
    return 0.5 * (1 + np.tanh(0.5 * x))


def _hard_sigmoid(x):
    return np.clip(x / 6 + 0.5, 0, 1)  # Keras 3: relu6(x + 3) / 6


def _softsign(x):
    return x / (1 + np.abs(x))


def _softplus(x):
    return np.logaddexp(0, x)


def _elu(x):
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0)))


def _leaky_relu(x):
    return np.where(x > 0, x, 0.2 * x)  # the function's slope (the layer's is 0.3)


# name -> (f(x), f'(x) written in terms of y = f(x), ONNX name, ONNX alpha, ONNX beta).
# Every derivative is a function of the output, so the VJP never needs pre-activations.
_ACT = {
    "tanh": (np.tanh, lambda y: 1 - y * y, "Tanh", None, None),
    "sigmoid": (_sigmoid, lambda y: y * (1 - y), "Sigmoid", None, None),
    "relu": (lambda x: np.maximum(x, 0), lambda y: (y > 0).astype(y.dtype), "Relu", None, None),
    "linear": (lambda x: x, np.ones_like, "Affine", 1.0, 0.0),
    "hard_sigmoid": (
        _hard_sigmoid,
        lambda y: ((y > 0) & (y < 1)).astype(y.dtype) / 6,
        "HardSigmoid",
        1 / 6,
        0.5,
    ),
    "softsign": (_softsign, lambda y: (1 - np.abs(y)) ** 2, "Softsign", None, None),
    "softplus": (_softplus, lambda y: -np.expm1(-y), "Softplus", None, None),
    "elu": (_elu, lambda y: np.where(y > 0, 1, y + 1).astype(y.dtype), "Elu", 1.0, None),
    "leaky_relu": (
        _leaky_relu,
        lambda y: np.where(y > 0, 1, 0.2).astype(y.dtype),
        "LeakyRelu",
        0.2,
        None,
    ),
}
#: Activation names the recurrent ops (and ONNX's recurrent operators) support.
RECURRENT_ACTIVATIONS = tuple(_ACT)


def _activate(name, a, out):
    """``out[...] = f(a)`` with no temporaries for the usual gates (``out`` may be
    ``a``). The sigmoid is ``1 / (1 + exp(-a))`` here, as Keras's and torch's: NumPy's
    float32 ``exp`` is 1.5x faster than its ``tanh`` on this hardware, and the gates are
    most of an LSTM's elementwise work. It agrees with ``_sigmoid`` to float32 rounding;
    an ``exp`` overflow (``a < -88``) gives the exact limit 0, so the caller silences
    that warning (``np.errstate(over="ignore")``)."""
    if name == "tanh":
        np.tanh(a, out=out)
    elif name == "sigmoid":
        # Not np.negative: NumPy 2.4's float32 negative in place on a one-column view (a
        # gate block of an LSTM with units=1) reads the wrong elements; multiply does not.
        np.multiply(a, -1, out=out)
        np.exp(out, out=out)
        out += 1
        np.reciprocal(out, out=out)
    else:
        out[...] = _ACT[name][0](a)


def _dactivate(name, y, out):
    """``out[...] = f'(x)`` from ``y = f(x)`` (the formulas of ``_ACT``), with no
    temporaries for the usual gates."""
    if name == "sigmoid":
        np.subtract(1, y, out=out)
        out *= y
    elif name == "tanh":
        np.multiply(y, y, out=out)
        np.subtract(1, out, out=out)
    else:
        out[...] = _ACT[name][1](y)


def _act(name):
    try:
        return _ACT[name]
    except KeyError:
        raise ShapeError(
            f"activation {name!r} is not supported inside a recurrent op; "
            f"use one of {', '.join(RECURRENT_ACTIVATIONS)}"
        ) from None


def _onnx_activations(names) -> dict:
    """ONNX attributes for a list of activations. onnxruntime hands out
    ``activation_alpha``/``activation_beta`` in order to the functions that take them, so
    the lists hold one entry per such function."""
    acts, alphas, betas = [], [], []
    for n in names:
        _, _, onnx_name, alpha, beta = _ACT[n]
        acts.append(onnx_name)
        if alpha is not None:
            alphas.append(float(alpha))
        if beta is not None:
            betas.append(float(beta))
    attrs = {"activations": acts}
    if alphas:
        attrs["activation_alpha"] = alphas
    if betas:
        attrs["activation_beta"] = betas
    return attrs


# ---- the shared frame ------------------------------------------------------------------
def _mm(a, w):
    """``(T, N, K) @ (K, M)`` as one GEMM."""
    return (a.reshape(-1, a.shape[-1]) @ w).reshape(a.shape[:-1] + (w.shape[1],))


def _outer(a, g):
    """``sum_{t, n} a[t, n, :]^T g[t, n, :]``: a weight gradient as one (blocked) GEMM
    over all steps."""
    return matmul_tn(a.reshape(-1, a.shape[-1]), g.reshape(-1, g.shape[-1]))


def _gate_blocks(r, gates):
    """The recurrent kernel ``(U, G*U)`` as its gate blocks ``(G, U, U)``. The per-step
    product ``h @ r`` runs as G products ``(N, U) @ (U, U)``: at the usual sizes (U, N <=
    64) they take OpenBLAS's small-matrix kernel, 2-3x faster than the one product
    (measured: N = U = 64, 50 steps, 9.3 -> 3.6 ms)."""
    u = r.shape[0]
    return np.ascontiguousarray(r.reshape(u, gates, u).transpose(1, 0, 2))


class _SavedForBackward:
    """What a kernel computed in training that its VJP would otherwise recompute (the
    LSTM's gate activations and cell states), held by the identity of one of the
    kernel's outputs: the VJP receives that same array object from the executor. The
    entry goes when the array does (handed to ``release`` if given); a VJP given any
    other array finds nothing and recomputes."""

    def __init__(self):
        self._by_id: dict = {}

    def put(self, key, value, release=None):
        self._by_id[id(key)] = (weakref.ref(key), value)
        weakref.finalize(key, self._drop, id(key), release)

    def _drop(self, key_id, release):
        entry = self._by_id.pop(key_id, None)
        if entry is not None and release is not None:
            release(entry[1])

    def get(self, key):
        entry = self._by_id.get(id(key))
        return entry[1] if entry is not None and entry[0]() is key else None


_SAVED = _SavedForBackward()
_SCRATCH = _Scratch()


# ---- products with dropout masks: ``m`` is None, one mask ``(1, N, K)`` or one per gate
# block ``(G, N, K)``; ``a`` is ``(N, K)`` or ``(T, N, K)`` (the masks hold for every step).
def _proj(a, w, m):
    """``a @ w`` where gate block ``g`` of the result reads ``a * m[g]``."""
    if m is None:
        return _mm(a, w)
    if len(m) == 1:
        return _mm(a * m[0], w)
    return np.concatenate([_mm(a * mg, wg) for mg, wg in zip(m, np.split(w, len(m), 1))], axis=-1)


def _proj_grad_a(d, w, m):
    """The gradient of ``_proj(a, w, m)`` with respect to ``a``, given ``d`` for its
    result."""
    if m is None:
        return _mm(d, w.T)
    if len(m) == 1:
        return _mm(d, w.T) * m[0]
    k = len(m)
    return sum(_mm(dg, wg.T) * mg for mg, dg, wg in zip(m, np.split(d, k, -1), np.split(w, k, 1)))


def _proj_grad_w(a, d, m):
    """The gradient of ``_proj(a, w, m)`` with respect to ``w`` (summed over steps and
    batch), given ``d`` for its result."""
    if m is None:
        return _outer(a, d)
    if len(m) == 1:
        return _outer(a * m[0], d)
    return np.concatenate(
        [_outer(a * mg, dg) for mg, dg in zip(m, np.split(d, len(m), -1))], axis=1
    )


def _gate_slice(m, lo, hi):
    """The masks of gate blocks ``lo:hi`` (a single shared mask serves every block)."""
    return m if m is None or len(m) == 1 else m[lo:hi]


def _has_dropout(attrs) -> bool:
    return bool(attrs.get("dropout", 0.0) or attrs.get("recurrent_dropout", 0.0))


class _Recurrent(Op):
    """Common shape rule, input unpacking, time-major layout and ONNX lowering."""

    n_outputs = 2
    gates = 1
    n_states = 1
    onnx_type = "RNN"
    vjp_reads_inputs = True
    vjp_reads_outputs = True  # the output sequence holds every hidden state
    # Keras's dropout and recurrent dropout (their masks are extra outputs), or a forced
    # training mode: without them the op is its inference form.
    training_attrs = ("dropout", "recurrent_dropout", "gate_masks", "force_training")

    # ---- attributes and inputs ------------------------------------------------------
    def _activations(self, attrs) -> tuple:
        return (attrs.get("activation", "tanh"),)

    def _bias_shape(self, attrs, units) -> tuple:
        return (self.gates * units,)

    def _unpack(self, attrs, xs):
        """``x, kernel, recurrent_kernel, bias or None, [states]`` from the inputs."""
        xs = list(xs)
        x, w, r = xs[:3]
        k = 3
        bias = None
        if attrs.get("use_bias", True):
            bias = xs[3]
            k = 4
        states = xs[k : k + self.n_states] if attrs.get("initial_state", False) else []
        return x, w, r, bias, states

    def _mask_of(self, attrs, xs):
        """The ``(N, T)`` boolean mask input, or None."""
        return xs[-1] if attrs.get("masked", False) else None

    def _n_inputs(self, attrs):
        return (
            3
            + bool(attrs.get("use_bias", True))
            + (self.n_states if attrs.get("initial_state", False) else 0)
            + bool(attrs.get("masked", False))
        )

    # ---- shape rule ------------------------------------------------------------------
    def infer(self, attrs, *types):
        if len(types) != self._n_inputs(attrs):
            raise ShapeError(
                f"expects {self._n_inputs(attrs)} inputs (x, kernel, "
                f"recurrent_kernel{', bias' if attrs.get('use_bias', True) else ''}"
                f"{', initial states' if attrs.get('initial_state') else ''}), "
                f"got {len(types)}"
            )
        for name in self._activations(attrs):
            _act(name)
        mask = self._mask_of(attrs, types)
        x, w, r, bias, states = self._unpack(attrs, types)
        units, g = attrs["units"], self.gates
        if mask is not None:
            if (
                mask.dtype != "bool"
                or len(mask.shape) != 2
                or not shapes_compatible(mask.shape, tuple(x.shape[:2]))
            ):
                raise ShapeError(
                    f"mask should be a boolean (batch, timesteps) tensor "
                    f"{format_shape(tuple(x.shape[:2]))}, got "
                    f"{format_shape(mask.shape)} of dtype {mask.dtype}"
                )
            types = types[:-1]
        dtypes = {t.dtype for t in types}
        if len(dtypes) != 1:
            raise ShapeError(f"inputs have different dtypes {', '.join(sorted(dtypes))}")
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected a floating-point sequence, got dtype {x.dtype}")
        if len(x.shape) != 3:
            raise ShapeError(
                f"expects a sequence of shape (batch, timesteps, features), "
                f"got {format_shape(x.shape)}"
            )
        if not shapes_compatible(w.shape, (x.shape[2], g * units)):
            raise ShapeError(
                f"kernel {format_shape(w.shape)} does not fit the input "
                f"{format_shape(x.shape)}: expected ({x.shape[2]}, {g * units})"
            )
        if not shapes_compatible(r.shape, (units, g * units)):
            raise ShapeError(
                f"recurrent kernel {format_shape(r.shape)} should be ({units}, {g * units})"
            )
        if bias is not None:
            want = self._bias_shape(attrs, units)
            if not shapes_compatible(bias.shape, want):
                raise ShapeError(f"bias {format_shape(bias.shape)} should be {format_shape(want)}")
        n = x.shape[0]
        for s in states:
            if (
                len(s.shape) != 2
                or not dims_compatible(s.shape[1], units)
                or not dims_compatible(s.shape[0], n)
            ):
                raise ShapeError(f"initial state {format_shape(s.shape)} should be ({n}, {units})")
            n = merge_dim(n, s.shape[0])
        state = TensorType((n, units), x.dtype)
        out = (TensorType((n, x.shape[1], units), x.dtype),) + (state,) * self.n_states
        if _has_dropout(attrs):
            for arg in ("dropout", "recurrent_dropout"):
                rate = attrs.get(arg, 0.0)
                if not 0 <= rate <= 1:
                    raise ShapeError(f"{arg} must be in [0, 1], got {rate}")
            k = self._n_masks(attrs)
            out += (TensorType((k, n, x.shape[2]), x.dtype), TensorType((k, n, units), x.dtype))
        return out

    # ---- dropout masks ---------------------------------------------------------------
    def _n_masks(self, attrs) -> int:
        return self.gates if attrs.get("gate_masks", False) else 1

    def _draw_masks(self, attrs, x, units, ctx):
        """``(input mask, recurrent mask)``, each None unless drawn (training mode and a
        rate above 0). Drawn in Keras's order: the input mask first."""
        if not (ctx.training or attrs.get("force_training", False)):
            return None, None
        k, n = self._n_masks(attrs), x.shape[0]

        def draw(rate, width):
            if not rate:
                return None
            keep = ctx.rng.random((k, n, width), dtype=np.float32) >= rate
            # rate 1 drops everything (Keras's backend dropout returns zeros)
            return keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - rate) if rate < 1 else 0)

        return (
            draw(attrs.get("dropout", 0.0), x.shape[2]),
            draw(attrs.get("recurrent_dropout", 0.0), units),
        )

    def _masks_of(self, attrs, ys):
        """The drawn masks among the outputs ``ys``: ``(input mask, recurrent mask)``."""
        if not _has_dropout(attrs):
            return None, None
        return ys[1 + self.n_states], ys[2 + self.n_states]

    # ---- kernel and VJP frame --------------------------------------------------------
    def _time_major(self, attrs, x):
        """``(T, N, F)`` in processing order."""
        xt = x.transpose(1, 0, 2)
        return xt[::-1] if attrs.get("go_backwards", False) else xt

    def _zeros_states(self, x, units, states):
        n = x.shape[0]
        if states:
            return [np.asarray(s, dtype=x.dtype) for s in states]
        return [np.zeros((n, units), dtype=x.dtype) for _ in range(self.n_states)]

    def _time_mask(self, attrs, xs):
        """The mask as ``(T, N, 1)`` booleans in processing order, or None."""
        mask = self._mask_of(attrs, xs)
        if mask is None:
            return None
        mt = np.asarray(mask, dtype=bool).T[:, :, None]
        return mt[::-1] if attrs.get("go_backwards", False) else mt

    def kernel(self, attrs, *xs, ctx):
        x, w, r, bias, states = self._unpack(attrs, xs)
        xt = self._time_major(attrs, x)
        states = self._zeros_states(x, attrs["units"], states)
        mt = self._time_mask(attrs, xs)
        drop = (None, None)
        if _has_dropout(attrs):
            drop = self._draw_masks(attrs, x, attrs["units"], ctx or ExecContext())
        with single_threaded(self._step_macs(attrs, x)):  # see graphc.ops._blas
            seq, finals, *saved = self._forward(attrs, xt, w, r, bias, states, mt, drop)
        if mt is not None:
            seq = _masked_outputs(seq, mt, attrs.get("zero_output_for_mask", False))
        keep = bool(saved) and saved[0] is not None
        # a copy even where the transpose is contiguous: what _forward kept is reused
        seq = seq.transpose(1, 0, 2)
        out = (np.array(seq, order="C") if keep else np.ascontiguousarray(seq),) + tuple(finals)
        if keep:
            if ctx is not None and ctx.training:  # the VJP's; kept until out[0] goes
                _SAVED.put(out[0], saved[0], release=self._release)
            else:
                self._release(saved[0])
        return out + drop if _has_dropout(attrs) else out

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, w, r, bias, states = self._unpack(attrs, xs)
        saved = _SAVED.get(ys[0])
        # read by two GEMMs (not at all by the LSTM's VJP over what its forward kept)
        xt = None if saved is not None else np.ascontiguousarray(self._time_major(attrs, x))
        units = attrs["units"]
        s0 = self._zeros_states(x, units, states)
        hs = ys[0].transpose(1, 0, 2)  # (T, N, U), processing order
        mt = self._time_mask(attrs, xs)
        if mt is not None:
            hs = _states_from_outputs(hs, mt, s0[0])
        route = _Route(mt, attrs.get("zero_output_for_mask", False))
        g_seq = None if gys[0] is None else gys[0].transpose(1, 0, 2)
        if g_seq is not None and not g_seq.any():
            # The executor hands zeros for an output nothing read (the sequence when a
            # layer returns only the final state): skip adding them at every step.
            g_seq = None
        g_final = [None if g is None else g for g in gys[1 : 1 + self.n_states]]
        drop = self._masks_of(attrs, ys)
        with single_threaded(self._step_macs(attrs, x)):
            dxw, dw, dr, db, ds0 = self._backward(
                attrs, xt, w, r, bias, s0, hs, g_seq, g_final, needs, route, drop, saved
            )
            dx = self._input_grad(dxw, w, drop[0]) if needs[0] else None  # (T, N, F)
        if needs[0]:
            if attrs.get("go_backwards", False):
                dx = dx[::-1]
            dx = np.ascontiguousarray(dx.transpose(1, 0, 2))
        grads = [dx, dw, dr]
        if bias is not None:
            grads.append(db)
        if states:
            grads.extend(ds0)
        if mt is not None:
            grads.append(None)  # the mask has no gradient
        return tuple(grads)

    def _step_macs(self, attrs, x):
        """Multiply-adds of one step's products ([x_t, h] @ the gates' columns)."""
        n, _, f = x.shape
        u = attrs["units"]
        return n * (f + u + 1) * self.gates * u

    def _release(self, saved):
        """Give what ``_forward`` kept back to the scratch buffers (``_Scratch``)."""

    def _input_grad(self, dxw, w, mx):
        """The gradient of the input sequence (T, N, F) from ``dxw``, the gradient of
        the input products that ``_backward`` returned."""
        return _proj_grad_a(dxw, w, mx)

    def _forward(self, attrs, xt, w, r, bias, states, mt=None, drop=(None, None)):
        """``(states h after every step (T, N, U), final states[, saved])``; with a mask
        ``mt`` a masked step keeps the previous states; ``drop``: the (input, recurrent)
        dropout masks or Nones. ``saved``, when given and not None, is kept for the VJP
        in training (``_SavedForBackward``)."""
        raise NotImplementedError

    def _backward(self, attrs, xt, w, r, bias, s0, hs, g_seq, g_final, needs, route, drop, saved):
        """``(gradient of the input products (T, N, G*U), d kernel, d recurrent_kernel,
        d bias, d initial states)``; ``saved``: what ``_forward`` kept, or None."""
        raise NotImplementedError

    # ---- ONNX ------------------------------------------------------------------------
    #: Keras gate blocks in ONNX order (LSTM: Keras i, f, c, o -> ONNX i, o, f, c).
    onnx_gate_order = None

    def _onnx_matrix(self, b, name, units):
        """Keras ``(in, gates*U)`` -> ONNX ``(1, gates*U, in)``, gates reordered."""
        if self.onnx_gate_order is not None:
            idx = np.concatenate([np.arange(units) + k * units for k in self.onnx_gate_order])
            name = b.op("Gather", name, b.const(idx.astype(np.int64)), axis=1)
        name = b.op("Unsqueeze", name, b.const(np.array([0], dtype=np.int64)))
        return b.op("Transpose", name, perm=[0, 2, 1])

    def _onnx_bias(self, b, name, attrs, units):
        """Keras's single bias into ONNX's ``(1, 2*gates*U)``: the input half, zeros for
        the recurrent half."""
        g = self.gates
        if self.onnx_gate_order is not None:
            idx = np.concatenate([np.arange(units) + k * units for k in self.onnx_gate_order])
            name = b.op("Gather", name, b.const(idx.astype(np.int64)), axis=0)
        zeros = b.const(np.zeros(g * units, dtype=b.float_dtype))
        name = b.op("Concat", name, zeros, axis=0)
        return b.op("Unsqueeze", name, b.const(np.array([0], dtype=np.int64)))

    def _onnx_extra_attrs(self, attrs) -> dict:
        return {}

    def lower(self, attrs, b, *names):
        x, w, r, bias, states = self._unpack(attrs, names)
        mask = self._mask_of(attrs, names)
        units = attrs["units"]
        axis0 = b.const(np.array([0], dtype=np.int64))
        lens = ""  # sequence_lens: every sequence is full length
        if mask is not None:
            x, lens, masked = _onnx_compact(b, x, mask)
        # onnxruntime implements only layout=0 (time-major), so transpose at every opset.
        xt = b.op("Transpose", x, perm=[1, 0, 2])
        inputs = [xt, self._onnx_matrix(b, w, units), self._onnx_matrix(b, r, units)]
        inputs.append(self._onnx_bias(b, bias, attrs, units) if bias is not None else "")
        inputs.append(lens)
        for s in states:
            inputs.append(b.op("Unsqueeze", s, axis0))
        while inputs and inputs[-1] == "":
            inputs.pop()
        extra = dict(
            hidden_size=int(units),
            direction="reverse" if attrs.get("go_backwards", False) else "forward",
            **_onnx_activations(self._activations(attrs)),
            **self._onnx_extra_attrs(attrs),
        )
        if b.opset >= 14:
            extra["layout"] = 0
        outs = b.op(self.onnx_type, *inputs, outputs=1 + self.n_states, **extra)
        y = b.op("Squeeze", outs[0], b.const(np.array([1], dtype=np.int64)))  # (T, N, U)
        # ONNX models are for inference, where dropout does nothing: no masks.
        no_masks = (None, None) if _has_dropout(attrs) else ()
        if mask is not None:
            return (
                _onnx_expand(
                    b, attrs, y, [b.op("Squeeze", o, axis0) for o in outs[1:]], states, masked
                )
                + no_masks
            )
        if attrs.get("go_backwards", False):
            # ONNX gives the reverse pass's outputs in input order; Keras in processing order.
            y = _flip_axis0(b, y)
        y = b.op("Transpose", y, perm=[1, 0, 2])
        finals = tuple(b.op("Squeeze", o, axis0) for o in outs[1:])
        return (y,) + finals + no_masks


# ---- masks in ONNX: exact for any mask. Each row's unmasked steps move to the front, in
# order; ONNX's RNN/LSTM/GRU runs them with sequence_lens = their number (the reverse
# direction runs them last to first: Keras's go_backwards); the outputs are then mapped
# back to every step. --------------------------------------------------------------------
def _i64(values):
    return np.asarray(values, dtype=np.int64)


def _onnx_compact(b, x, mask):
    """``(x with each row's unmasked steps first, sequence_lens (N,) int32, parts)``."""
    shape = b.op("Shape", x)
    t1 = b.op("Gather", shape, b.const(_i64([1])))  # [T]
    t0 = b.op("Squeeze", t1, b.const(_i64([0])))  # T
    steps = b.op("Range", b.const(_i64(0)), t0, b.const(_i64(1)))
    # Sort key: an unmasked step t keeps t, a masked one goes after all: t + T.
    key = b.op("Where", mask, steps, b.op("Add", steps, t0))
    _, order = b.op("TopK", key, t1, axis=1, largest=0, sorted=1, outputs=2)
    gather = b.op("Expand", b.op("Unsqueeze", order, b.const(_i64([2]))), shape)
    xc = b.op("GatherElements", x, gather, axis=1)
    m64 = b.op("Cast", mask, to=7)
    count = b.op("ReduceSum", m64, b.const(_i64([1])), keepdims=0)  # (N,)
    # A fully masked row runs one (discarded) step: its states are replaced below.
    lens = b.op("Cast", b.op("Max", count, b.const(_i64([1]))), to=6)
    empty = b.op("Unsqueeze", b.op("Equal", count, b.const(_i64(0))), b.const(_i64([1])))
    return xc, lens, dict(mask=mask, m64=m64, count=count, empty=empty)


def _onnx_expand(b, attrs, y, finals, states, parts):
    """The op's outputs from the compacted run: ``y`` (T, N, U) in compacted order, the
    final states (N, U)."""
    backwards = attrs.get("go_backwards", False)
    zero = b.const(np.zeros((), dtype=b.float_dtype))
    empty = parts["empty"]
    # A fully masked row keeps its initial states.
    finals = tuple(
        b.op("Where", empty, s0 if s0 else zero, f)
        for f, s0 in zip(finals, list(states) + [None] * len(finals))
    )
    yc = b.op("Transpose", y, perm=[1, 0, 2])  # (N, T, U)
    # Steps processed up to each step t (input order): a running count of unmasked steps,
    # from the end when going backwards. The output at t is the compacted output of the
    # last of them: index count - 1 forwards, L - count backwards (ONNX's reverse run
    # gives its outputs at the compacted positions).
    count = b.op("CumSum", parts["m64"], b.const(_i64(1)), reverse=int(bool(backwards)))
    if backwards:
        idx = b.op("Sub", b.op("Unsqueeze", parts["count"], b.const(_i64([1]))), count)
    else:
        idx = b.op("Sub", count, b.const(_i64(1)))
    if attrs.get("zero_output_for_mask", False):
        valid = parts["mask"]
    else:  # before the first processed step the output is zeros, as in Keras
        valid = b.op("Greater", count, b.const(_i64(0)))
    idx = b.op("Where", valid, idx, b.const(_i64(0)))
    idx = b.op("Expand", b.op("Unsqueeze", idx, b.const(_i64([2]))), b.op("Shape", yc))
    out = b.op("GatherElements", yc, idx, axis=1)
    out = b.op("Where", b.op("Unsqueeze", valid, b.const(_i64([2]))), out, zero)
    if backwards:  # Keras gives a backward pass's outputs in processing order
        out = ReverseSequence().lower({}, b, out)
    return (out,) + finals


def _flip_axis0(b, name):
    return b.op(
        "Slice",
        name,
        b.const(np.array([-1], dtype=np.int64)),
        b.const(np.array([np.iinfo(np.int64).min], dtype=np.int64)),
        b.const(np.array([0], dtype=np.int64)),
        b.const(np.array([-1], dtype=np.int64)),
    )


# ---- masks (Keras's backend.rnn): a masked step keeps the states; its output is the
# previous step's output (zeros before the first unmasked step), or zeros with
# zero_output_for_mask. -------------------------------------------------------------------
def _keep(mt, t, new, old):
    """The states after step ``t``: ``new`` where the step is unmasked, else ``old``."""
    return new if mt is None else np.where(mt[t], new, old)


def _masked_outputs(hs, mt, zero_output):
    """Outputs from the states after each step ``hs`` (processing order)."""
    if zero_output:
        return np.where(mt, hs, hs.dtype.type(0))
    out = np.empty_like(hs)
    prev = np.zeros_like(hs[0])
    for t in range(hs.shape[0]):
        prev = np.where(mt[t], hs[t], prev)
        out[t] = prev
    return out


def _states_from_outputs(out, mt, h0):
    """The states h after each step, rebuilt from the outputs: an unmasked step's output
    is its state; a masked step keeps the previous state."""
    hs = np.empty_like(out)
    h = h0
    for t in range(out.shape[0]):
        h = np.where(mt[t], out[t], h)
        hs[t] = h
    return hs


class _Route:
    """Backward through masked steps. ``into_cell`` gives the gradient reaching the
    cell's new output at step ``t`` (the state gradient ``dh`` and the output gradient
    where the step is unmasked); the output gradient of a masked step goes to the
    previous step's output (unless zero_output_for_mask), the state gradient of a masked
    step to the previous state (``keep``). Without a mask it is the plain ``dh +
    g_seq[t]``."""

    def __init__(self, mt, zero_output):
        self.mt, self.zero, self.carry = mt, bool(zero_output), None

    def into_cell(self, t, dh, g_seq):
        if self.mt is None:
            if g_seq is not None:
                dh += g_seq[t]  # dh is the loop's own array
            return dh
        m = self.mt[t]
        g = None if g_seq is None else g_seq[t]
        if self.carry is not None:
            g = self.carry if g is None else g + self.carry
        gh = dh * m
        if g is not None:
            gh += g * m
            self.carry = None if self.zero else g * ~m
        return gh

    def keep(self, t, new, old):
        return _keep(self.mt, t, new, old)


def _state_grads(g_final, k, like):
    g = g_final[k] if k < len(g_final) else None
    return np.zeros_like(like) if g is None else np.array(g, dtype=like.dtype, copy=True)


# ---- SimpleRNN -------------------------------------------------------------------------
class SimpleRNN(_Recurrent):
    """``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel + bias)``."""

    name = "simple_rnn"
    onnx_type = "RNN"

    def _forward(self, attrs, xt, w, r, bias, states, mt=None, drop=(None, None)):
        f = _act(attrs.get("activation", "tanh"))[0]
        mx, mh = drop
        xw = _proj(xt, w, mx)
        if bias is not None:
            xw += bias
        h = states[0]
        seq = np.empty(xw.shape, dtype=xt.dtype)
        for t in range(xt.shape[0]):
            h = _keep(mt, t, f(xw[t] + _proj(h, r, mh)), h)
            seq[t] = h
        return seq, [h]

    def _backward(self, attrs, xt, w, r, bias, s0, hs, g_seq, g_final, needs, route, drop, saved):
        df = _act(attrs.get("activation", "tanh"))[1]
        mx, mh = drop
        T = hs.shape[0]
        dact = df(hs)
        dh = _state_grads(g_final, 0, s0[0])
        da = np.empty_like(hs)
        rt = r.T
        for t in range(T - 1, -1, -1):
            gh = route.into_cell(t, dh, g_seq)
            da[t] = gh * dact[t]
            dh = route.keep(t, da[t] @ rt if mh is None else _proj_grad_a(da[t], r, mh), dh)
        h_prev = np.concatenate([s0[0][None], hs[:-1]], axis=0)
        dw = _proj_grad_w(xt, da, mx) if needs[1] else None
        dr = _proj_grad_w(h_prev, da, mh) if needs[2] else None
        db = da.sum(axis=(0, 1)) if bias is not None else None
        return da, dw, dr, db, [dh]


# ---- the LSTM's fast path: its layout ---------------------------------------------------
# Gate-major: the gates of all steps are one (4, T, N, U) buffer, so every gate block of a
# step (N, U) is contiguous. NumPy's elementwise loops pay for every non-contiguous row
# (an (N, U) block inside (N, 4U) rows runs 3x slower than a contiguous one, and a (T, N,
# U) block inside (T, N, 4U) 7x), so all of the per-step work and the VJP's vectorised
# factors run over contiguous blocks. Gate order o, i, f, g (Keras's blocks 3, 0, 1, 2):
# the three sigmoids (o, i, f) are one block, and so are the VJP's three gates scaled by
# the cell-state gradient (i, f, g).
_FAST_ORDER = (3, 0, 1, 2)
_KERAS_ORDER = (1, 2, 3, 0)  # Keras's block k sits at _KERAS_ORDER[k] in _FAST_ORDER


def _fast_blocks(a, u):
    """``a`` ``(K, 4U)`` (Keras's gate order) as a new ``(4, K, U)`` array of its gate
    blocks in _FAST_ORDER."""
    return np.ascontiguousarray(a.reshape(a.shape[0], 4, u)[:, _FAST_ORDER].transpose(1, 0, 2))


def _keras_cols(blocks):
    """``(4, K, U)`` gate blocks in _FAST_ORDER as a new ``(K, 4U)`` array in Keras's
    order."""
    return np.concatenate([blocks[p] for p in _KERAS_ORDER], axis=-1)


def _fast_sign(recurrent_activation, dtype):
    """With the sigmoid, the ``(4, 1, 1)`` signs that make the fast path's products give
    ``-z`` for the sigmoid gates (o, i, f): negation is exact, so ``exp`` then reads
    ``-z`` with no extra pass. None for any other activation."""
    if recurrent_activation != "sigmoid":
        return None
    return np.array([-1, -1, -1, 1], dtype=dtype).reshape(4, 1, 1)


def _matmul_tn_blocks(a, d):
    """``a.T @ d[g]`` for each gate block: ``a`` ``(K, M)``, ``d`` ``(4, K, U)`` ->
    ``(4, M, U)``, over row blocks as ``matmul_tn`` (the four products in one batched
    call per block)."""
    k, b = a.shape[0], 128
    if k <= 2 * b:
        return np.matmul(a.T, d)
    out = np.matmul(a[:b].T, d[:, :b])
    part = np.empty_like(out)
    for start in range(b, k, b):
        np.matmul(a[start : start + b].T, d[:, start : start + b], out=part)
        out += part
    return out


#: Rows (steps x batch) per chunk of the LSTM's weight-gradient product: small enough
#: that the last chunk, left after the loop, is short; large enough that each chunk's
#: blocked product pays for its hand-off to the worker.
_WGRAD_ROWS = 512


def _wgrad_chunks(T, n):
    """``[(first step, end step), ...]`` of the weight-gradient chunks, the first steps'
    chunk first (the loop pops them from the end)."""
    k = max(1, _WGRAD_ROWS // max(n, 1))
    return [(lo, min(T, lo + k)) for lo in range(0, T, k)]


# ---- LSTM ------------------------------------------------------------------------------
class LSTM(_Recurrent):
    """Keras 3 LSTM (gates i, f, c, o in the kernel columns):
    ``z = x_t @ kernel + h @ recurrent_kernel + bias``; ``i, f, o = rec_act(z_i, z_f,
    z_o)``; ``c = f * c + i * act(z_c)``; ``h = o * act(c)``."""

    name = "lstm"
    n_outputs = 3
    gates = 4
    n_states = 2
    onnx_type = "LSTM"
    onnx_gate_order = (0, 3, 1, 2)  # ONNX i, o, f, c from Keras i, f, c, o

    def _activations(self, attrs):
        # ONNX's order: f (gates), g (cell input), h (cell output).
        act = attrs.get("activation", "tanh")
        return (attrs.get("recurrent_activation", "sigmoid"), act, act)

    def _onnx_extra_attrs(self, attrs):
        return {"input_forget": 0}

    def _forward(self, attrs, xt, w, r, bias, states, mt=None, drop=(None, None)):
        if mt is not None or drop[0] is not None or drop[1] is not None:
            return self._forward_general(attrs, xt, w, r, bias, states, mt, drop)
        # The plain case, laid out as a compiler would (see _FAST_ORDER):
        # - one buffer ``xh`` (T + 1, N, F + U + 1) whose row t holds [x_t, h before step
        #   t, 1], and the kernel, recurrent kernel and bias stacked as one (F + U + 1,
        #   4U) matrix: each step's gates are one product ([x_t, h, 1] @ that matrix,
        #   faster than a separate input projection of all steps plus a per-step
        #   recurrent product and add), written straight into the gate-major gate
        #   buffer; each step writes its h in place into ``xh``, and the VJP's kernel,
        #   recurrent kernel and bias gradients are one product over all of ``xh``;
        # - every elementwise operation in place over contiguous gate blocks;
        # - with the sigmoid the weight columns of o, i, f are negated so that the
        #   products give -z exactly, and the sigmoid is exp, +1, reciprocal.
        u = attrs["units"]
        fa = attrs.get("activation", "tanh")
        fr = attrs.get("recurrent_activation", "sigmoid")
        T, n, nf = xt.shape
        dt = xt.dtype
        b = np.zeros((1, 4 * u), dtype=dt) if bias is None else bias[None]
        wrb = _fast_blocks(np.concatenate([w, r, b]).astype(dt, copy=False), u)
        sign = _fast_sign(fr, dt)
        if sign is not None:
            wrb *= sign  # (4, F + U + 1, U)
        xh = _SCRATCH.empty((T + 1, n, nf + u + 1), dt)
        xh[:T, :, :nf] = xt
        xh[T, :, :nf] = 0
        xh[..., nf + u] = 1
        hs = xh[..., nf : nf + u]  # row t: the state h before step t
        hs[0] = states[0]
        gates = _SCRATCH.empty((4, T, n, u), dt)
        cs = _SCRATCH.empty((T + 1, n, u), dt)
        cs[0] = states[1]
        tcs = _SCRATCH.empty((T, n, u), dt)  # act(c) after each step

        ig = np.empty((n, u), dtype=dt)
        with np.errstate(over="ignore"):  # see _activate
            for t in range(T):
                z = gates[:, t]  # o, i, f, g: (4, N, U)
                c, c_new, h_new, tc = cs[t], cs[t + 1], hs[t + 1], tcs[t]
                np.matmul(xh[t], wrb, out=z)
                s = z[:3]
                if sign is not None:  # s holds -z: sigmoid = 1 / (1 + exp(-z))
                    np.exp(s, out=s)
                    s += 1
                    np.reciprocal(s, out=s)
                else:
                    _activate(fr, s, s)
                g = z[3]
                _activate(fa, g, g)  # the cell's input
                np.multiply(z[2], c, out=c_new)
                np.multiply(z[1], g, out=ig)
                c_new += ig
                _activate(fa, c_new, tc)
                np.multiply(z[0], tc, out=h_new)
        return hs[1:], [hs[T].copy(), cs[T].copy()], (gates, xh, cs, tcs)

    def _release(self, saved):
        _SCRATCH.give(*saved)  # (gates, xh, cs, tcs): nothing else refers to them

    def _forward_general(self, attrs, xt, w, r, bias, states, mt, drop):
        """With a mask or dropout masks: the states kept where a step is masked."""
        u = attrs["units"]
        fa = _act(attrs.get("activation", "tanh"))[0]
        fr = _act(attrs.get("recurrent_activation", "sigmoid"))[0]
        mx, mh = drop
        xw = _proj(xt, w, mx)
        if bias is not None:
            xw += bias
        h, c = states
        seq = np.empty(xw.shape[:2] + (u,), dtype=xt.dtype)
        for t in range(xt.shape[0]):
            z = xw[t] + _proj(h, r, mh)
            s = fr(z)  # all four blocks at once (fewer, larger calls); c's is unused
            c_new = s[:, u : 2 * u] * c + s[:, :u] * fa(z[:, 2 * u : 3 * u])
            h_new = s[:, 3 * u :] * fa(c_new)
            if mt is None:
                h, c = h_new, c_new
            else:
                h, c = np.where(mt[t], h_new, h), np.where(mt[t], c_new, c)
            seq[t] = h
        return seq, [h, c]

    def _backward(self, attrs, xt, w, r, bias, s0, hs, g_seq, g_final, needs, route, drop, saved):
        if saved is not None:  # the plain case's forward pass kept its gates and states
            return self._backward_saved(attrs, r, bias, s0, g_seq, g_final, needs, saved)
        u = attrs["units"]
        aa = attrs.get("activation", "tanh")
        ra = attrs.get("recurrent_activation", "sigmoid")
        fa, fr = _act(aa)[0], _act(ra)[0]
        mx, mh = drop
        T = hs.shape[0]
        h0, c0 = s0
        # rebuilt from the inputs and the output sequence
        h_prev = np.concatenate([h0[None], hs[:-1]], axis=0)
        z = _proj(xt, w, mx) + _proj(h_prev, r, mh)
        if bias is not None:
            z += bias
        i = fr(z[..., :u])
        f = fr(z[..., u : 2 * u])
        g = fa(z[..., 2 * u : 3 * u])
        o = fr(z[..., 3 * u :])
        cs = np.empty_like(i)  # the cell states: one multiply-add per step
        c = c0
        for t in range(T):
            c = route.keep(t, f[t] * c + i[t] * g[t], c)
            cs[t] = c
        tc = fa(cs)
        c_prev = np.concatenate([c0[None], cs[:-1]], axis=0)
        # Per-step factors, vectorised over all steps before the loop: d z_{i,f,c} = dc *
        # factor, d z_o = dh * do_f, and dc picks up dh * dc_f.
        n = hs.shape[1]
        ifg = np.empty((T, n, 3, u), dtype=hs.dtype)
        for k, (name, y, factor) in enumerate(((ra, i, g), (ra, f, c_prev), (aa, g, i))):
            _dactivate(name, y, ifg[:, :, k])
            ifg[:, :, k] *= factor
        do_f = np.empty_like(tc)
        _dactivate(ra, o, do_f)
        do_f *= tc
        dc_f = np.empty_like(tc)
        _dactivate(aa, tc, dc_f)
        dc_f *= o
        dh = _state_grads(g_final, 0, h0)
        dc = _state_grads(g_final, 1, c0)
        dz = np.empty((T, n, 4 * u), dtype=hs.dtype)
        dz4 = dz.reshape(T, n, 4, u)
        rt4 = np.ascontiguousarray(_gate_blocks(r, 4).transpose(0, 2, 1))  # (4, U, U)
        rec = np.empty((4, n, u), dtype=hs.dtype)
        mt = route.mt
        tmp = np.empty_like(dc)
        for t in range(T - 1, -1, -1):
            gh = route.into_cell(t, dh, g_seq)
            if mt is None:
                dc += np.multiply(gh, dc_f[t], out=tmp)
                dc_in = dc
            else:  # a masked step passes dc by, and its gates get nothing
                dc_in = dc * mt[t] + gh * dc_f[t]
            np.multiply(dc_in[:, None, :], ifg[t], out=dz4[t, :, :3])
            np.multiply(gh, do_f[t], out=dz4[t, :, 3])
            if mt is None:
                dc *= f[t]
            else:
                dc = np.where(mt[t], dc_in * f[t], dc)
            if mt is None and mh is None:
                # dz[t] @ r.T, gate block by gate block (see _gate_blocks)
                np.matmul(dz4[t].transpose(1, 0, 2), rt4, out=rec)
                dh = rec.sum(axis=0, out=gh)  # gh is dh's own array, used up
            else:
                dh = route.keep(t, _proj_grad_a(dz[t], r, mh), dh)
        dw = _proj_grad_w(xt, dz, mx) if needs[1] else None
        dr = _proj_grad_w(h_prev, dz, mh) if needs[2] else None
        db = dz.sum(axis=(0, 1)) if bias is not None else None
        return dz, dw, dr, db, [dh, dc]

    def _backward_saved(self, attrs, r, bias, s0, g_seq, g_final, needs, saved):
        """BPTT over what the plain forward pass kept (its layout: ``_forward``). The
        per-step factors are computed for all steps at once before the loop, over
        contiguous gate blocks; each step is then five in-place products and one batched
        GEMM; the kernel, recurrent kernel and bias gradients are one product over all
        steps after it. The gradient of the input products is returned gate-major ``(4,
        T, N, U)`` (``_input_grad`` reads it)."""
        u = attrs["units"]
        aa = attrs.get("activation", "tanh")
        ra = attrs.get("recurrent_activation", "sigmoid")
        gates, xh, cs, tcs = saved
        T, n = tcs.shape[:2]
        nf = xh.shape[2] - u - 1
        dt = tcs.dtype
        o, i, f, g = gates
        # d z_o = dh * o' * act(c); d z_{i,f,g} = dc * (i' * g, f' * c_prev, g' * i);
        # dc picks up dh * o * act'(c).
        fac = _SCRATCH.empty((4, T, n, u), dt)
        dc_f = _SCRATCH.empty((T, n, u), dt)

        def factors(lo, hi):  # steps lo:hi; elementwise, so chunks change no number
            _dactivate(ra, gates[:3, lo:hi], fac[:3, lo:hi])
            fac[0, lo:hi] *= tcs[lo:hi]
            fac[1, lo:hi] *= g[lo:hi]
            fac[2, lo:hi] *= cs[lo:hi]  # the cell states before the steps
            _dactivate(aa, g[lo:hi], fac[3, lo:hi])
            fac[3, lo:hi] *= i[lo:hi]
            _dactivate(aa, tcs[lo:hi], dc_f[lo:hi])
            dc_f[lo:hi] *= o[lo:hi]

        dz = _SCRATCH.empty((4, T, n, u), dt)
        rt4 = np.ascontiguousarray(_fast_blocks(r, u).transpose(0, 2, 1))  # (4, U, U)
        # The weight gradients are products over the rows [x_t, h before step t, 1] of
        # every step (d kernel, d recurrent kernel and d bias in one), in chunks of steps
        # (_WGRAD_ROWS) summed in a fixed order.
        wgrad = needs[1] or needs[2] or bias is not None
        chunks = _wgrad_chunks(T, n) if wgrad else []
        a = xh[:T].reshape(T * n, nf + u + 1)
        dzr = dz.reshape(4, T * n, u)
        parts = []  # the chunks' products, the last steps' first

        def chunk_product(lo, hi):
            return _matmul_tn_blocks(a[lo * n : hi * n], dzr[:, lo * n : hi * n])

        # The last steps' factors here, the earlier chunks' on the worker thread (when
        # there is one) while the loop runs: it waits for a chunk only on reaching it.
        pending = {}
        fchunks = _wgrad_chunks(T, n)
        factors(*fchunks[-1])
        for lo, hi in fchunks[-2::-1]:
            job = submit(factors, lo, hi)
            if job is None:
                factors(lo, hi)
            else:
                pending[hi - 1] = job
        dh = _state_grads(g_final, 0, s0[0])
        dc = _state_grads(g_final, 1, s0[1])
        rec = np.empty((4, n, u), dtype=dt)
        tmp = np.empty_like(dc)
        for t in range(T - 1, -1, -1):
            if t in pending:
                pending.pop(t).result()
            if g_seq is not None:
                dh += g_seq[t]
            np.multiply(dh, dc_f[t], out=tmp)
            dc += tmp
            np.multiply(dc, fac[1:, t], out=dz[1:, t])  # i, f, g
            np.multiply(dh, fac[0, t], out=dz[0, t])  # o
            dc *= f[t]
            np.matmul(dz[:, t], rt4, out=rec)  # dz[t] @ r.T, gate block by gate block
            rec.sum(axis=0, out=dh)
            if chunks and t == chunks[-1][0] and t > 0:
                # a chunk of steps has its dz: its product on graphc's worker thread
                # beside the loop when there is a second core
                lo, hi = chunks.pop()
                parts.append(submit(chunk_product, lo, hi) or chunk_product(lo, hi))
        dw = dr = db = None
        if wgrad:
            parts.extend(chunk_product(*c) for c in chunks[::-1])  # the first steps' chunk
            # summed in a fixed order (the last steps' chunk first), whichever thread
            # computed each: the same numbers with or without the worker
            total = parts[0] if isinstance(parts[0], np.ndarray) else parts[0].result()
            for p in parts[1:]:
                total += p if isinstance(p, np.ndarray) else p.result()
            full = _keras_cols(total)
            dw = full[:nf] if needs[1] else None
            dr = full[nf : nf + u] if needs[2] else None
            db = full[nf + u] if bias is not None else None
        _SCRATCH.give(fac, dc_f)  # every job that read them has ended
        if not needs[0]:
            _SCRATCH.give(dz)
        return (dz if needs[0] else None), dw, dr, db, [dh, dc]

    def _input_grad(self, dxw, w, mx):
        if dxw.ndim == 3:
            return super()._input_grad(dxw, w, mx)
        # gate-major from _backward_saved: sum over the gate blocks of dz[g] @ kernel_g.T
        _, T, n, u = dxw.shape
        wt4 = _fast_blocks(w, u).transpose(0, 2, 1)  # (4, U, F)
        dx = np.matmul(dxw.reshape(4, T * n, u), wt4).sum(axis=0).reshape(T, n, -1)
        _SCRATCH.give(dxw)  # _backward_saved's buffer, read for the last time
        return dx


# ---- GRU -------------------------------------------------------------------------------
class GRU(_Recurrent):
    """Keras 3 GRU (gates z, r, h). ``reset_after=True`` (default; bias ``(2, 3U)``, input
    and recurrent rows): ``hh = act(x_h + r * (h @ U_h + b_rh))``; ``reset_after=False``
    (bias ``(3U,)``): ``hh = act(x_h + (r * h) @ U_h)``. Then
    ``h = z * h_prev + (1 - z) * hh`` (ONNX's formula too)."""

    name = "gru"
    gates = 3
    onnx_type = "GRU"

    def _activations(self, attrs):
        return (attrs.get("recurrent_activation", "sigmoid"), attrs.get("activation", "tanh"))

    def _bias_shape(self, attrs, units):
        return (2, 3 * units) if attrs.get("reset_after", True) else (3 * units,)

    def _onnx_extra_attrs(self, attrs):
        return {"linear_before_reset": 1 if attrs.get("reset_after", True) else 0}

    def _onnx_bias(self, b, name, attrs, units):
        if attrs.get("reset_after", True):
            # Rows (input bias, recurrent bias) are exactly ONNX's Wb and Rb halves.
            return b.op("Reshape", name, b.const(np.array([1, 6 * units], dtype=np.int64)))
        return super()._onnx_bias(b, name, attrs, units)

    def _split_bias(self, attrs, bias):
        if bias is None:
            return None, None
        if attrs.get("reset_after", True):
            return bias[0], bias[1]
        return bias, None

    def _forward(self, attrs, xt, w, r, bias, states, mt=None, drop=(None, None)):
        u = attrs["units"]
        fa = _act(attrs.get("activation", "tanh"))[0]
        fr = _act(attrs.get("recurrent_activation", "sigmoid"))[0]
        after = attrs.get("reset_after", True)
        b_in, b_rec = self._split_bias(attrs, bias)
        mx, mh = drop
        mh_zr, mh_h = _gate_slice(mh, 0, 2), _gate_slice(mh, 2, 3)
        xw = _proj(xt, w, mx)
        if b_in is not None:
            xw += b_in
        h = states[0]
        seq = np.empty(xw.shape[:2] + (u,), dtype=xt.dtype)
        r_zr, r_h = r[:, : 2 * u], r[:, 2 * u :]
        for t in range(xt.shape[0]):
            if after:
                rh = _proj(h, r, mh)
                if b_rec is not None:
                    rh += b_rec
                zr = fr(xw[t, :, : 2 * u] + rh[:, : 2 * u])
                hh = fa(xw[t, :, 2 * u :] + zr[:, u:] * rh[:, 2 * u :])
            else:
                zr = fr(xw[t, :, : 2 * u] + _proj(h, r_zr, mh_zr))
                hh = fa(xw[t, :, 2 * u :] + _proj(zr[:, u:] * h, r_h, mh_h))
            z = zr[:, :u]
            h = _keep(mt, t, z * h + (1 - z) * hh, h)
            seq[t] = h
        return seq, [h]

    def _backward(self, attrs, xt, w, r, bias, s0, hs, g_seq, g_final, needs, route, drop, saved):
        u = attrs["units"]
        fa, dfa = _act(attrs.get("activation", "tanh"))[:2]
        fr, dfr = _act(attrs.get("recurrent_activation", "sigmoid"))[:2]
        after = attrs.get("reset_after", True)
        b_in, b_rec = self._split_bias(attrs, bias)
        mx, mh = drop
        mh_zr, mh_h = _gate_slice(mh, 0, 2), _gate_slice(mh, 2, 3)
        T = hs.shape[0]
        h0 = s0[0]
        h_prev = np.concatenate([h0[None], hs[:-1]], axis=0)
        xw = _proj(xt, w, mx)
        if b_in is not None:
            xw += b_in
        r_zr, r_h = r[:, : 2 * u], r[:, 2 * u :]
        if after:
            rh = _proj(h_prev, r, mh)
            if b_rec is not None:
                rh += b_rec
            zr = fr(xw[..., : 2 * u] + rh[..., : 2 * u])
            rec_h = rh[..., 2 * u :]
            hh = fa(xw[..., 2 * u :] + zr[..., u:] * rec_h)
        else:
            zr = fr(xw[..., : 2 * u] + _proj(h_prev, r_zr, mh_zr))
            rhp = zr[..., u:] * h_prev
            hh = fa(xw[..., 2 * u :] + _proj(rhp, r_h, mh_h))
        z, rr = zr[..., :u], zr[..., u:]
        dzr_f = dfr(zr)
        # dL/d(pre-activation of hh) = dh * (1 - z) * act'(hh); dz_pre = dh * (h_prev - hh)
        dhh_f = (1 - z) * dfa(hh)
        dz_f = (h_prev - hh) * dzr_f[..., :u]
        dh = _state_grads(g_final, 0, h0)
        dxw = np.empty(xw.shape, dtype=xw.dtype)  # gradient of x @ kernel (+ input bias)
        drec = np.empty(xw.shape, dtype=xw.dtype)  # gradient of the recurrent products
        for t in range(T - 1, -1, -1):
            d_keep = dh
            dh = route.into_cell(t, dh, g_seq)
            da = dh * dhh_f[t]
            dx_t = dxw[t]
            dx_t[:, :u] = dh * dz_f[t]
            dx_t[:, 2 * u :] = da
            if after:
                dx_t[:, u : 2 * u] = da * rec_h[t] * dzr_f[t, :, u:]
                dr_t = drec[t]
                dr_t[:, : 2 * u] = dx_t[:, : 2 * u]
                dr_t[:, 2 * u :] = da * rr[t]
                dh = route.keep(t, dh * z[t] + _proj_grad_a(dr_t, r, mh), d_keep)
            else:
                d_rh = _proj_grad_a(da, r_h, mh_h)  # gradient of r * h_prev
                dx_t[:, u : 2 * u] = d_rh * h_prev[t] * dzr_f[t, :, u:]
                drec[t, :, : 2 * u] = dx_t[:, : 2 * u]
                drec[t, :, 2 * u :] = da
                dh = route.keep(
                    t,
                    dh * z[t] + d_rh * rr[t] + _proj_grad_a(dx_t[:, : 2 * u], r_zr, mh_zr),
                    d_keep,
                )
        dw = _proj_grad_w(xt, dxw, mx) if needs[1] else None
        dr = None
        if needs[2]:
            if after:
                dr = _proj_grad_w(h_prev, drec, mh)
            else:
                dr = np.concatenate(
                    [
                        _proj_grad_w(h_prev, drec[..., : 2 * u], mh_zr),
                        _proj_grad_w(rhp, drec[..., 2 * u :], mh_h),
                    ],
                    axis=1,
                )
        db = None
        if bias is not None:
            db_in = dxw.sum(axis=(0, 1))
            db = np.stack([db_in, drec.sum(axis=(0, 1))]) if after else db_in
        return dxw, dw, dr, db, [dh]


# ---- reversing the time axis -----------------------------------------------------------
class ReverseSequence(Op):
    """Reverse axis 1 (time) of a batch-first tensor ``(N, T, ...)``: how Bidirectional
    puts its backward layer's sequence back in input order."""

    name = "reverse_sequence"
    vjp_reads_inputs = False

    def infer(self, attrs, x):
        if len(x.shape) < 2:
            raise ShapeError(
                f"expects a tensor of rank >= 2 (batch, time, ...), got {format_shape(x.shape)}"
            )
        return TensorType(x.shape, x.dtype)

    def kernel(self, attrs, x, *, ctx):
        return np.ascontiguousarray(x[:, ::-1])

    def vjp(self, attrs, xs, ys, gys, needs, out):
        return (np.ascontiguousarray(gys[0][:, ::-1]),)

    def lower(self, attrs, b, x):
        return b.op(
            "Slice",
            x,
            b.const(np.array([-1], dtype=np.int64)),
            b.const(np.array([np.iinfo(np.int64).min], dtype=np.int64)),
            b.const(np.array([1], dtype=np.int64)),
            b.const(np.array([-1], dtype=np.int64)),
        )


# ---- public functions ------------------------------------------------------------------
def _units(recurrent_kernel) -> int:
    shape = getattr(recurrent_kernel, "shape", None)
    if shape is None:
        shape = np.shape(recurrent_kernel)
    if len(shape) != 2 or not known(shape[0]):
        raise ShapeError(
            f"recurrent_kernel must be a 2-D (units, gates * units) weight, got "
            f"{format_shape(tuple(shape))}"
        )
    return int(shape[0])


def _act_name(activation) -> str:
    """An activation given by name or as a function (``graphc.activations.tanh``)."""
    if activation is None:
        return "linear"
    return activation if isinstance(activation, str) else getattr(activation, "__name__", "")


def _run(
    name,
    x,
    kernel,
    recurrent_kernel,
    bias,
    initial_state,
    n_states,
    mask=None,
    zero_output_for_mask=False,
    dropout=0.0,
    recurrent_dropout=0.0,
    gate_masks=False,
    training=None,
    **attrs,
):
    inputs = [x, kernel, recurrent_kernel]
    if bias is not None:
        inputs.append(bias)
    states = []
    if initial_state is not None:
        states = (
            list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
        )
        if len(states) != n_states:
            raise ValueError(f"{name} expects {n_states} initial state(s), received {len(states)}")
        inputs += states
    if mask is not None:
        inputs.append(mask)
        attrs.update(masked=True, zero_output_for_mask=bool(zero_output_for_mask))
    if training is not False and (dropout or recurrent_dropout):
        # Only then: without dropout the node (and its export) is the plain one.
        attrs.update(
            dropout=float(dropout),
            recurrent_dropout=float(recurrent_dropout),
            gate_masks=bool(gate_masks),
        )
        if training:
            attrs["force_training"] = True
    outs = apply(
        name,
        inputs,
        units=_units(recurrent_kernel),
        use_bias=bias is not None,
        initial_state=bool(states),
        **attrs,
    )
    return tuple(outs[: 1 + n_states])  # the dropout masks are the VJP's business


def simple_rnn(
    x,
    kernel,
    recurrent_kernel,
    bias=None,
    initial_state=None,
    activation="tanh",
    go_backwards=False,
    mask=None,
    zero_output_for_mask=False,
    dropout=0.0,
    recurrent_dropout=0.0,
    training=None,
):
    """A whole SimpleRNN pass: ``(sequence, final_h)``. ``mask``: a boolean ``(batch,
    timesteps)`` tensor; a masked step keeps the state and repeats the previous output
    (zeros with ``zero_output_for_mask``), as Keras. ``dropout``/``recurrent_dropout``:
    rates of the input and recurrent dropout masks, drawn once per call in training mode
    (or always with ``training=True``) and shared by every step.

    >>> seq, h = graphc.ops.simple_rnn(x, kernel, recurrent_kernel, bias)
    """
    return _run(
        "simple_rnn",
        x,
        kernel,
        recurrent_kernel,
        bias,
        initial_state,
        1,
        mask=mask,
        zero_output_for_mask=zero_output_for_mask,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
        training=training,
        activation=_act_name(activation),
        go_backwards=bool(go_backwards),
    )


def lstm(
    x,
    kernel,
    recurrent_kernel,
    bias=None,
    initial_state=None,
    activation="tanh",
    recurrent_activation="sigmoid",
    go_backwards=False,
    mask=None,
    zero_output_for_mask=False,
    dropout=0.0,
    recurrent_dropout=0.0,
    gate_masks=False,
    training=None,
):
    """A whole LSTM pass (Keras gate order i, f, c, o): ``(sequence, final_h, final_c)``.
    Dropout as in ``simple_rnn``; ``gate_masks``: one mask per gate (Keras's LSTM with
    ``recurrent_dropout``) instead of one for all.

    >>> seq, h, c = graphc.ops.lstm(x, kernel, recurrent_kernel, bias)
    """
    return _run(
        "lstm",
        x,
        kernel,
        recurrent_kernel,
        bias,
        initial_state,
        2,
        mask=mask,
        zero_output_for_mask=zero_output_for_mask,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
        gate_masks=gate_masks,
        training=training,
        activation=_act_name(activation),
        recurrent_activation=_act_name(recurrent_activation),
        go_backwards=bool(go_backwards),
    )


def gru(
    x,
    kernel,
    recurrent_kernel,
    bias=None,
    initial_state=None,
    activation="tanh",
    recurrent_activation="sigmoid",
    go_backwards=False,
    reset_after=True,
    mask=None,
    zero_output_for_mask=False,
    dropout=0.0,
    recurrent_dropout=0.0,
    gate_masks=False,
    training=None,
):
    """A whole GRU pass (Keras gate order z, r, h): ``(sequence, final_h)``. Dropout as in
    ``lstm``.

    >>> seq, h = graphc.ops.gru(x, kernel, recurrent_kernel, bias)
    """
    return _run(
        "gru",
        x,
        kernel,
        recurrent_kernel,
        bias,
        initial_state,
        1,
        mask=mask,
        zero_output_for_mask=zero_output_for_mask,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
        gate_masks=gate_masks,
        training=training,
        activation=_act_name(activation),
        recurrent_activation=_act_name(recurrent_activation),
        go_backwards=bool(go_backwards),
        reset_after=bool(reset_after),
    )


def reverse_sequence(x):
    """Reverse the time axis (axis 1) of a batch-first tensor."""
    return apply("reverse_sequence", [x])
