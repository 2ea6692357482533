"""Transposed convolution, as ``keras.ops.conv_transpose`` (channels-last by default).

One op, ``conv_transpose``, generic over the spatial rank: input ``(N, *spatial, C_in)``,
kernel ``(*kernel_size, filters, C_in)`` exactly as Keras 3 stores a ConvNDTranspose
kernel, an optional bias ``(filters,)``. It is the adjoint of ``conv`` with the same
kernel: every input pixel scatters ``x[i] @ kernel[o].T`` to output position
``i * stride + o * dilation`` of the "full" output (length ``(in - 1) * stride + K``,
``K = (k - 1) * dilation + 1``), which is then cropped (or zero-extended on the right) to
Keras's size. The crops depend on the kernel, stride, padding and output_padding only —
Keras 3's rule (``keras/src/backend/common/backend_utils.py``: the JAX padding of
``_convert_conv_transpose_padding_args_from_keras_to_jax``, which the torch backend
reproduces by cropping the full output).

>>> import numpy as np
>>> from graphc import ops
>>> x = np.ones((1, 4, 4, 3), "float32"); w = np.ones((3, 3, 8, 3), "float32")
>>> ops.conv_transpose(x, w, strides=2, padding="same").shape
(1, 8, 8, 8)

The NumPy kernel is one matmul and a col2im scatter-add by strided slices (one slice per
kernel offset); the input gradient is a forward convolution of the output gradient. The
ONNX lowering is ``Transpose -> ConvTranspose -> Transpose`` with explicit ``pads`` and
``output_padding``, like ``conv``'s, so the exporter's peephole cancels the transposes
between layers.
"""

from __future__ import annotations

import numpy as np

from graphc.errors import ShapeError
from graphc.ir import TensorType, format_shape
from graphc.ops.conv import (
    DATA_FORMATS,
    _as_tuple,
    _eff,
    _from_last,
    _standard_format,
    _to_last,
    _window_slices,
    _windows,
    lower_windowed,
)
from graphc.ops.registry import Op, apply
from graphc.ops.shapes import dims_compatible, known

__all__ = ["conv_transpose"]


# ---- Keras's size rule ------------------------------------------------------------------
def _crops(k: int, s: int, d: int, padding: str, output_padding):
    """(left, right) crop of the full output along one axis; a negative right crop means
    zeros appended (``output_padding`` beyond the full output)."""
    eff = _eff(k, d)
    if padding == "valid":
        op = max(eff, s) - eff if output_padding is None else output_padding
        left, right = eff - 1, eff - 1 + op
    else:
        pad_len = s + eff - 2 if output_padding is None else eff + eff % 2 - 2 + output_padding
        left = min(pad_len // 2 + pad_len % 2, eff - 1)
        right = pad_len - left
    # JAX pads the stride-dilated input by (left, right); the full output has eff - 1.
    return eff - 1 - left, eff - 1 - right


def _geometry(attrs, window):
    """Per axis: (stride, dilation, crop_left, crop_right)."""
    n = len(window)
    strides = tuple(attrs.get("strides", (1,) * n))
    dilation = tuple(attrs.get("dilation_rate", (1,) * n))
    op = attrs.get("output_padding")
    op = (None,) * n if op is None else tuple(op)
    padding = attrs.get("padding", "valid")
    return [
        (s, d, *_crops(k, s, d, padding, p)) for k, s, d, p in zip(window, strides, dilation, op)
    ]


def _out_len(size, k, s, d, crop_l, crop_r):
    if not known(size):
        return None
    return (int(size) - 1) * s + _eff(k, d) - crop_l - crop_r


def _check_attrs(attrs, n: int):
    for key in ("strides", "dilation_rate"):
        v = attrs.get(key, (1,) * n)
        if len(v) != n or any(int(t) <= 0 for t in v):
            raise ShapeError(
                f"{key} must be {n} positive integers for a {n}-D transposed "
                f"convolution, got {tuple(v)}"
            )
    op = attrs.get("output_padding")
    if op is not None and (len(op) != n or any(int(t) < 0 for t in op)):
        raise ShapeError(
            f"output_padding must be None or {n} non-negative integers, got {tuple(op)}"
        )
    if attrs.get("padding", "valid") not in ("valid", "same"):
        raise ShapeError(f"padding must be one of ('valid', 'same'), got {attrs.get('padding')!r}")
    if attrs.get("data_format", "channels_last") not in DATA_FORMATS:
        raise ShapeError(
            f"data_format must be one of {DATA_FORMATS}, got {attrs.get('data_format')!r}"
        )


# ---- the op ----------------------------------------------------------------------------
class ConvTranspose(Op):
    """N-D transposed convolution, inputs ``(x, kernel[, bias])``, kernel
    ``(*kernel_size, filters, C_in)``. Attributes: ``strides``, ``dilation_rate``
    (tuples of the spatial rank), ``padding`` "valid"/"same", ``output_padding`` (``None``
    or a tuple), ``data_format``."""

    name = "conv_transpose"

    def infer(self, attrs, x, w, *bias):
        if len(w.shape) < 3:
            raise ShapeError(
                f"the kernel must be (*kernel_size, filters, in_channels), got "
                f"{format_shape(w.shape)}"
            )
        n = len(w.shape) - 2
        _check_attrs(attrs, n)
        if len(x.shape) != n + 2:
            raise ShapeError(
                f"a {n}-D transposed convolution expects an input of rank "
                f"{n + 2} (batch, *spatial, channels), got "
                f"{format_shape(x.shape)}"
            )
        if not (x.dtype == w.dtype and all(t.dtype == x.dtype for t in bias)):
            raise ShapeError(
                "input, kernel and bias must have the same dtype, got "
                + ", ".join(t.dtype for t in (x, w, *bias))
            )
        if not x.dtype.startswith("float"):
            raise ShapeError(f"expected floating-point tensors, got dtype {x.dtype}")
        if len(bias) > 1:
            raise ShapeError("takes at most one bias")
        if not all(known(k) and k > 0 for k in w.shape):
            raise ShapeError(
                f"the kernel shape {format_shape(w.shape)} must be known and have no empty dim"
            )
        first = attrs.get("data_format", "channels_last") == "channels_first"
        channels = x.shape[1] if first else x.shape[-1]
        spatial = x.shape[2:] if first else x.shape[1:-1]
        if not dims_compatible(channels, w.shape[-1]):
            raise ShapeError(
                f"the input has {channels} channels but the kernel "
                f"{format_shape(w.shape)} expects {w.shape[-1]}"
            )
        filters = w.shape[-2]
        if bias and (len(bias[0].shape) != 1 or not dims_compatible(bias[0].shape[0], filters)):
            raise ShapeError(f"the bias must be ({filters},), got {format_shape(bias[0].shape)}")
        out = []
        for size, k, (s, d, cl, cr) in zip(spatial, w.shape[:n], _geometry(attrs, w.shape[:n])):
            o = _out_len(size, k, s, d, cl, cr)
            if o is not None and o <= 0:
                raise ShapeError(
                    f"the transposed convolution would have output size {o} "
                    f"for spatial size {size}, kernel_size {tuple(w.shape[:n])}"
                    f", strides {tuple(attrs.get('strides'))} and "
                    f"output_padding {attrs.get('output_padding')}; expected a "
                    "positive size"
                )
            out.append(o)
        shape = (x.shape[0], filters, *out) if first else (x.shape[0], *out, filters)
        return TensorType(shape, x.dtype)

    # -- NumPy --
    @staticmethod
    def _layout(attrs, x_last, w):
        """Spatial sizes and, per axis, the buffer holding the full output plus the zeros
        a negative crop appends: (in, window, strides, dilation, buffer size, out slice)."""
        n = w.ndim - 2
        window = w.shape[:n]
        geo = _geometry(attrs, window)
        spatial = x_last.shape[1:-1]
        strides = tuple(g[0] for g in geo)
        dilation = tuple(g[1] for g in geo)
        buf, keep = [], []
        for size, k, (s, d, cl, cr) in zip(spatial, window, geo):
            full = (size - 1) * s + _eff(k, d)
            ext_l, ext_r = max(-cl, 0), max(-cr, 0)
            buf.append(full + ext_l + ext_r)
            start = max(cl, 0)
            keep.append(slice(start, start + full - cl - cr))
        # Where the full output begins in the buffer, per axis.
        origin = tuple(max(-g[2], 0) for g in geo)
        return spatial, window, strides, dilation, tuple(buf), tuple(keep), origin

    def kernel(self, attrs, x, w, *bias, ctx):
        fmt = attrs.get("data_format", "channels_last")
        x = _to_last(x, fmt)
        spatial, window, strides, dilation, buf, keep, origin = self._layout(attrs, x, w)
        f, c_in = w.shape[-2], w.shape[-1]
        # One matmul: every input pixel times every (offset, filter) column.
        cols = (x.reshape(-1, c_in) @ w.reshape(-1, c_in).T).reshape(x.shape[0], *spatial, -1, f)
        y = np.zeros((x.shape[0], *buf, f), dtype=cols.dtype)
        full = y[(slice(None),) + tuple(slice(o, None) for o in origin)]
        # col2im: each kernel offset adds its slab into a strided slice of the output.
        for j, (_offs, sl) in enumerate(_window_slices(window, strides, dilation, spatial)):
            full[sl] += cols[..., j, :]
        y = y[(slice(None),) + keep]
        if bias:
            y = y + bias[0]
        return _from_last(np.ascontiguousarray(y), fmt)

    def vjp(self, attrs, xs, ys, gys, needs, out):
        x, w = xs[0], xs[1]
        n_in = len(xs)
        fmt = attrs.get("data_format", "channels_last")
        x = _to_last(x, fmt)
        g = _to_last(gys[0], fmt)
        spatial, window, strides, dilation, buf, keep, origin = self._layout(attrs, x, w)
        f, c_in = w.shape[-2], w.shape[-1]
        gx = gw = gb = None
        if n_in > 2 and needs[2]:
            gb = g.reshape(-1, f).sum(axis=0)
        if needs[0] or needs[1]:
            # The output gradient on the full output's grid (zeros where Keras cropped),
            # then read back by the forward convolution's windows (im2col).
            gbuf = np.zeros((g.shape[0], *buf, f), dtype=g.dtype)
            gbuf[(slice(None),) + keep] = g
            gfull = gbuf[(slice(None),) + tuple(slice(o, None) for o in origin)]
            cols = _windows(gfull, spatial, window, strides, dilation).reshape(-1, w[..., 0].size)
            if needs[0]:
                gx = (cols @ w.reshape(-1, c_in)).reshape(x.shape)
                gx = _from_last(gx, fmt)
            if needs[1]:
                x2 = x.reshape(-1, c_in)
                b = out[1]
                if b is not None and b.flags.c_contiguous and b.dtype == cols.dtype:
                    np.matmul(cols.T, x2, out=b.reshape(cols.shape[1], c_in))
                    gw = b
                else:
                    gw = (cols.T @ x2).reshape(w.shape)
        return (gx, gw, gb)[:n_in]

    # -- ONNX --
    def lower(self, attrs, b, x, w, *bias):
        n = len(attrs["strides"])
        types = getattr(b, "in_types", None) or []
        if len(types) < 2:
            raise NotImplementedError("conv_transpose needs the kernel shape at export")
        window = tuple(int(k) for k in types[1].shape[:n])
        geo = _geometry(attrs, window)
        # ONNX: out = (in - 1) * s + K + output_padding - pad_begin - pad_end, pads >= 0;
        # a negative right crop is zeros appended, i.e. ONNX's output_padding.
        pads = [max(g[2], 0) for g in geo] + [max(g[3], 0) for g in geo]
        out_pad = [max(-g[3], 0) for g in geo]
        # (*k, F, C_in) -> (C_in, F, *k), ONNX's ConvTranspose weight layout; a Transpose
        # of an initializer, which the exporter folds.
        wt = b.op("Transpose", w, perm=[n + 1, n, *range(n)])

        def make(xt):
            return b.op(
                "ConvTranspose",
                xt,
                wt,
                *bias,
                strides=[g[0] for g in geo],
                dilations=[g[1] for g in geo],
                kernel_shape=list(window),
                group=1,
                pads=pads,
                output_padding=out_pad,
                auto_pad="NOTSET",
            )

        return lower_windowed(b, attrs, x, n, make)


# ---- the public function ---------------------------------------------------------------
def conv_transpose(
    inputs,
    kernel,
    strides=1,
    padding="valid",
    output_padding=None,
    data_format=None,
    dilation_rate=1,
    bias=None,
):
    """Transposed convolution as ``keras.ops.conv_transpose`` (plus an optional ``bias``
    in the same op, so that ONNX gets one ``ConvTranspose`` with its bias).

    ``kernel`` is ``(*kernel_size, filters, in_channels)``; ``padding`` "valid" or
    "same"; ``output_padding`` ``None`` (Keras's default size) or ints;
    ``data_format`` ``None`` means "channels_last".
    """
    n = len(kernel.shape) - 2
    attrs = {
        "strides": _as_tuple(strides, n, "strides"),
        "padding": str(padding).lower(),
        "output_padding": None
        if output_padding is None
        else _as_tuple(output_padding, n, "output_padding"),
        "dilation_rate": _as_tuple(dilation_rate, n, "dilation_rate"),
        "data_format": _standard_format(data_format),
    }
    return apply("conv_transpose", [inputs, kernel] + ([] if bias is None else [bias]), **attrs)
