"""Random models, valid by construction, for the differential model fuzzer (issue 13).

A seed gives a *program*: the Python source of ``def build(lib): ...`` written against
Keras's API, so the same text builds the model with ``graphc`` or with ``keras``, and is
the reproducer a failing seed prints. The generator tracks every tensor's shape (without
the batch), dtype and whether it carries a Keras mask, and only applies a layer where
Keras accepts it:

- inputs: feature vectors ``(d,)``, sequences ``(T, C)``, images ``(H, W, C)`` and token
  ids ``(T,)`` (int32, for ``Embedding``); one to three of them;
- Dense, Conv1D/Conv2D (padding valid/same/causal, strides, dilation, both
  data_formats), Max/AveragePooling1D/2D (both data_formats), global pooling,
  BatchNormalization, LayerNormalization, Dropout, Activation, Embedding (mask_zero),
  LSTM/GRU/SimpleRNN (return_sequences, go_backwards; masked sequences), the merging
  layers, Reshape/Flatten/Permute;
- shared layers (a layer called again on a tensor of the same shape), nested models
  (functional or Sequential, sometimes called twice);
- every tensor no layer reads is pooled or flattened and concatenated into the first
  output, so every input reaches an output; sometimes a second output head.

Excluded constructs, each with the reason (no graphc bug is excluded):

- a masked sequence goes only to layers that use or pass masks (RNNs, Dense, Dropout,
  GlobalAveragePooling1D): Keras 3 drops a mask at a layer without mask support with a
  warning, and merges of masked with unmasked tensors combine masks in ways tested
  elsewhere (tests/oracle/test_keras_masking_parity.py).
- against Keras only (``for_keras=True``): an average pooling with "same" padding that
  pads unevenly becomes a max pooling; Keras 3 on torch counts the padding it adds by
  hand in the average (tests/oracle/test_keras_conv_parity.py), TensorFlow, ONNX and
  graphc do not.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np

#: Every program builds its model in ``build(lib)``; ``lib`` is graphc or keras.
HEADER = "def build(lib):\n    L = lib.layers\n"


@dataclass
class T:
    """A tensor of the program: variable name, shape (no batch), dtype, masked."""

    name: str
    shape: tuple
    dtype: str = "float32"
    masked: bool = False

    @property
    def kind(self):
        if self.dtype != "float32":
            return "tokens"
        return {1: "vec", 2: "seq", 3: "image"}.get(len(self.shape), "other")


def conv_out(n, k, s, d, padding):
    """Keras's output length of a convolution or pooling window, or None if too short."""
    span = d * (k - 1) + 1
    if padding == "valid":
        return (n - span) // s + 1 if n >= span else None
    return -(-n // s)  # same, causal


class Program:
    """One random model program; ``source`` is the reproducer's ``build``."""

    def __init__(self, seed: int, *, for_keras: bool = False, max_layers: int = 8):
        self.seed = seed
        self.for_keras = for_keras
        self.rng = random.Random(seed)
        self.body: list[str] = []
        self.tensors: list[T] = []
        self.read: set[str] = set()
        self.inputs: list[T] = []
        self.outputs: list[T] = []
        self.applied: list[tuple] = []  # (layer var, in shape, out T template) for sharing
        self.features: set[str] = set()  # which constructs the program uses
        self.n = 0
        self.dropout = False
        self._generate(max_layers)

    # ---- emitting ------------------------------------------------------------------------
    def _var(self, prefix="t"):
        self.n += 1
        return f"{prefix}{self.n}"

    def _line(self, text):
        self.body.append("    " + text)

    def _apply(self, layer_expr, srcs, shape, *, masked=False, feature, share=True):
        """``layer_expr`` called on ``srcs`` (one T or a list): a new tensor of ``shape``."""
        self.features.add(feature)
        lvar = self._var("l")
        self._line(f"{lvar} = {layer_expr}")
        out = self._call(lvar, srcs, shape, masked)
        if share and not isinstance(srcs, list) and not srcs.masked:
            self.applied.append((lvar, srcs.shape, srcs.dtype, shape, feature, masked))
        return out

    def _call(self, lvar, srcs, shape, masked=False, dtype="float32"):
        name = self._var()
        arg = f"[{', '.join(s.name for s in srcs)}]" if isinstance(srcs, list) else srcs.name
        for s in srcs if isinstance(srcs, list) else [srcs]:
            self.read.add(s.name)
        self._line(f"{name} = {lvar}({arg})")
        t = T(name, tuple(shape), dtype, masked)
        self.tensors.append(t)
        return t

    # ---- inputs --------------------------------------------------------------------------
    def _input(self, i):
        r = self.rng
        kind = r.choice(["vec", "vec", "seq", "seq", "image", "tokens"])
        if kind == "vec":
            shape = (r.randint(2, 6),)
        elif kind == "seq":
            shape = (r.randint(3, 7), r.randint(1, 4))
        elif kind == "image":
            shape = (r.randint(3, 6), r.randint(3, 6), r.randint(1, 3))
        else:
            shape = (r.randint(3, 6),)
        dtype = "int32" if kind == "tokens" else "float32"
        name = f"in{i}"
        extra = ', dtype="int32"' if kind == "tokens" else ""
        self._line(f'{name} = lib.Input(shape={shape!r}{extra}, name="{name}")')
        t = T(name, shape, dtype)
        self.inputs.append(t)
        self.tensors.append(t)
        return t

    # ---- layers by kind ------------------------------------------------------------------
    def _activation(self):
        return self.rng.choice(["None", '"relu"', '"tanh"', '"sigmoid"', '"linear"'])

    def _dense(self, t, units=None):
        units = units or self.rng.randint(1, 6)
        return self._apply(
            f"L.Dense({units}, activation={self._activation()})",
            t,
            (*t.shape[:-1], units),
            masked=t.masked,
            feature="Dense",
        )

    def _conv(self, t):
        r = self.rng
        rank = len(t.shape) - 1
        fmt = r.choice(["channels_last", "channels_last", "channels_first"])
        spatial = t.shape[:-1] if fmt == "channels_last" else t.shape[1:]
        k = r.randint(1, 3)
        s, d = 1, 1
        roll = r.random()
        if roll < 0.3:
            s = r.randint(2, 3)
        elif roll < 0.55:
            d = r.randint(2, 3)
        paddings = ["valid", "same"] + (["causal"] if rank == 1 else [])
        padding = r.choice(paddings)
        out = [conv_out(n, k, s, d, padding) for n in spatial]
        if any(o is None or o < 1 for o in out):
            return None
        filters = r.randint(1, 4)
        shape = (*out, filters) if fmt == "channels_last" else (filters, *out)
        cls = "Conv1D" if rank == 1 else "Conv2D"
        return self._apply(
            f'L.{cls}({filters}, {k}, strides={s}, padding="{padding}", dilation_rate={d}, '
            f'data_format="{fmt}", activation={self._activation()})',
            t,
            shape,
            feature=f"{cls}:{padding}:{fmt}"
            + (":strided" if s > 1 else "")
            + (":dilated" if d > 1 else ""),
        )

    def _pool(self, t):
        r = self.rng
        rank = len(t.shape) - 1
        fmt = r.choice(["channels_last", "channels_first"])
        spatial = t.shape[:-1] if fmt == "channels_last" else t.shape[1:]
        p = r.randint(1, 3)
        s = r.choice([None, 1, 2])
        padding = r.choice(["valid", "same"])
        out = [conv_out(n, p, s or p, 1, padding) for n in spatial]
        if any(o is None or o < 1 for o in out):
            return None
        ch = t.shape[-1] if fmt == "channels_last" else t.shape[0]
        shape = (*out, ch) if fmt == "channels_last" else (ch, *out)
        cls = r.choice(["MaxPooling", "AveragePooling"]) + f"{rank}D"
        uneven = any(max((o - 1) * (s or p) + p - n, 0) % 2 for o, n in zip(out, spatial))
        if self.for_keras and cls.startswith("Average") and padding == "same" and uneven:
            # Keras 3 on torch pads an uneven "same" average pooling by hand and counts
            # the padding (tests/oracle/test_keras_conv_parity.py says how); TensorFlow,
            # ONNX and graphc average the input elements only. Not a graphc bug.
            cls = "MaxPooling" + f"{rank}D"
        return self._apply(
            f'L.{cls}({p}, strides={s}, padding="{padding}", data_format="{fmt}")',
            t,
            shape,
            feature=f"{cls}:{padding}:{fmt}",
            share=False,
        )

    def _rnn(self, t):
        r = self.rng
        cls = r.choice(["LSTM", "GRU", "SimpleRNN"])
        units = r.randint(1, 4)
        seqs = r.random() < 0.5
        back = r.random() < 0.25
        shape = (t.shape[0], units) if seqs else (units,)
        return self._apply(
            f"L.{cls}({units}, return_sequences={seqs}, go_backwards={back})",
            t,
            shape,
            masked=t.masked and seqs,
            feature=cls + (":masked" if t.masked else "") + (":seq" if seqs else ""),
        )

    def _norm(self, t):
        if self.rng.random() < 0.5:
            m = self.rng.choice([0.5, 0.9, 0.99])
            return self._apply(
                f"L.BatchNormalization(momentum={m})", t, t.shape, feature="BatchNormalization"
            )
        return self._apply("L.LayerNormalization()", t, t.shape, feature="LayerNormalization")

    def _dropout(self, t):
        self.dropout = True
        rate = self.rng.choice([0.1, 0.25, 0.5])
        return self._apply(
            f"L.Dropout({rate})", t, t.shape, masked=t.masked, feature="Dropout", share=False
        )

    def _reshape(self, t):
        r = self.rng
        size = int(np.prod(t.shape))
        if t.kind == "vec":
            divs = [a for a in range(2, size) if size % a == 0]
            if not divs:
                return None
            a = r.choice(divs)
            return self._apply(
                f"L.Reshape(({a}, {size // a}))", t, (a, size // a), feature="Reshape"
            )
        if r.random() < 0.5:
            return self._apply("L.Flatten()", t, (size,), feature="Flatten", share=False)
        perm = list(range(1, len(t.shape) + 1))
        while perm == sorted(perm):
            r.shuffle(perm)
        shape = tuple(t.shape[p - 1] for p in perm)
        return self._apply(f"L.Permute({tuple(perm)!r})", t, shape, feature="Permute")

    def _embedding(self, t):
        vocab = 8
        dim = self.rng.randint(1, 4)
        mask = self.rng.random() < 0.6
        return self._apply(
            f"L.Embedding({vocab}, {dim}, mask_zero={mask})",
            t,
            (t.shape[0], dim),
            masked=mask,
            feature="Embedding" + (":mask_zero" if mask else ""),
        )

    def _merge(self):
        r = self.rng
        pool = [t for t in self.tensors if t.kind != "tokens" and not t.masked]
        by_shape: dict = {}
        for t in pool:
            by_shape.setdefault(t.shape, []).append(t)
        same = [ts for ts in by_shape.values() if len(ts) >= 2]
        if same and r.random() < 0.6:
            ts = r.choice(same)
            cls = r.choice(["Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum"])
            k = 2 if cls == "Subtract" else r.randint(2, min(3, len(ts)))
            srcs = r.sample(ts, k)
            return self._apply(f"L.{cls}()", srcs, srcs[0].shape, feature=cls, share=False)
        # Concatenate on the last axis: same rank, same leading dims
        by_lead: dict = {}
        for t in pool:
            by_lead.setdefault(t.shape[:-1], []).append(t)
        groups = [ts for ts in by_lead.values() if len(ts) >= 2]
        if not groups:
            return None
        ts = r.choice(groups)
        srcs = r.sample(ts, r.randint(2, min(3, len(ts))))
        shape = (*srcs[0].shape[:-1], sum(s.shape[-1] for s in srcs))
        return self._apply("L.Concatenate()", srcs, shape, feature="Concatenate", share=False)

    def _share(self):
        """Call a layer already used on another tensor of the same shape."""
        r = self.rng
        options = [
            (a, t)
            for a in self.applied
            for t in self.tensors
            if not t.masked and t.shape == a[1] and t.dtype == a[2]
        ]
        if not options:
            return None
        (lvar, _, dtype, shape, feature, masked), t = r.choice(options)
        self.features.add("shared:" + feature.split(":")[0])
        return self._call(lvar, t, shape, masked)

    def _nested(self, t):
        """A small functional or Sequential model, called once or twice."""
        r = self.rng
        mvar = self._var("m")
        units = r.randint(1, 5)
        inner = f"lib.Input(shape={t.shape!r})"
        if r.random() < 0.5:
            iv = self._var("i")
            self._line(f"{iv} = {inner}")
            self._line(f"{iv}h = L.Dense({units}, activation={self._activation()})({iv})")
            if r.random() < 0.5:
                self._line(f"{iv}h = L.LayerNormalization()({iv}h)")
            self._line(f"{mvar} = lib.Model({iv}, L.Dense({units})({iv}h))")
            self.features.add("nested:functional")
        else:
            mid = r.randint(1, 5)
            self._line(
                f"{mvar} = lib.Sequential([{inner}, L.Dense({mid}, activation="
                f"{self._activation()}), L.Dense({units})])"
            )
            self.features.add("nested:sequential")
        shape = (*t.shape[:-1], units)
        out = self._call(mvar, t, shape)
        self.applied.append((mvar, t.shape, t.dtype, shape, "nested", False))
        return out

    # ---- the program ---------------------------------------------------------------------
    def _step(self):
        r = self.rng
        live = [t for t in self.tensors if t.name not in self.read] or self.tensors
        # prefer tensors no layer reads yet, so graphs branch and merge
        t = r.choice(live if r.random() < 0.7 else self.tensors)
        roll = r.random()
        if roll < 0.12:
            return self._merge()
        if roll < 0.2:
            return self._share()
        if roll < 0.25 and t.kind != "tokens" and not t.masked:
            return self._nested(t)
        if t.kind == "tokens":
            return self._embedding(t)
        if t.masked:  # only layers that use or pass the mask
            choice = r.choice(["rnn", "rnn", "dense", "dropout", "gap"])
            if choice == "gap":
                return self._apply(
                    "L.GlobalAveragePooling1D()", t, (t.shape[-1],), feature="GAP1D:masked"
                )
            return {"rnn": self._rnn, "dense": self._dense, "dropout": self._dropout}[choice](t)
        options = {
            "vec": ["dense", "dense", "norm", "dropout", "reshape", "act"],
            "seq": ["dense", "conv", "conv", "pool", "rnn", "rnn", "norm", "reshape", "gpool"],
            "image": ["dense", "conv", "conv", "pool", "norm", "reshape", "gpool"],
        }[t.kind]
        choice = r.choice(options)
        if choice == "dense":
            return self._dense(t)
        if choice == "conv":
            return self._conv(t)
        if choice == "pool":
            return self._pool(t)
        if choice == "rnn":
            return self._rnn(t)
        if choice == "norm":
            return self._norm(t)
        if choice == "dropout":
            return self._dropout(t)
        if choice == "reshape":
            return self._reshape(t)
        if choice == "act":
            return self._apply(
                f'L.Activation("{r.choice(["relu", "tanh", "softplus", "elu"])}")',
                t,
                t.shape,
                feature="Activation",
                share=False,
            )
        cls = r.choice(["GlobalAveragePooling", "GlobalMaxPooling"])
        cls += "1D" if t.kind == "seq" else "2D"
        return self._apply(f"L.{cls}()", t, (t.shape[-1],), feature=cls, share=False)

    def _to_vec(self, t):
        if t.kind == "tokens":
            t = self._embedding(t)
        if t.kind == "vec":
            return t
        if t.masked:
            return self._apply("L.GlobalAveragePooling1D()", t, (t.shape[-1],), feature="GAP1D")
        if self.rng.random() < 0.5:
            return self._apply("L.Flatten()", t, (int(np.prod(t.shape)),), feature="Flatten")
        cls = "GlobalAveragePooling1D" if t.kind == "seq" else "GlobalAveragePooling2D"
        return self._apply(f"L.{cls}()", t, (t.shape[-1],), feature=cls, share=False)

    def _generate(self, max_layers):
        r = self.rng
        for i in range(r.randint(1, 3)):
            self._input(i)
        for _ in range(r.randint(1, max_layers)):
            self._step()
        leaves = [self._to_vec(t) for t in list(self.tensors) if t.name not in self.read]
        head = (
            leaves[0]
            if len(leaves) == 1
            else self._apply(
                "L.Concatenate()",
                leaves,
                (sum(t.shape[0] for t in leaves),),
                feature="Concatenate",
                share=False,
            )
        )
        self.outputs.append(self._dense(head, r.randint(1, 3)))
        if r.random() < 0.35:
            other = r.choice([t for t in self.tensors if t.kind == "vec" and not t.masked])
            self.outputs.append(self._dense(other, 1))
        ins = ", ".join(t.name for t in self.inputs)
        outs = ", ".join(t.name for t in self.outputs)
        self._line(f"return lib.Model([{ins}], [{outs}])")

    # ---- data and the reproducer -----------------------------------------------------------
    @property
    def source(self) -> str:
        return HEADER + "\n".join(self.body) + "\n"

    def data(self, n: int, seed: int = 0):
        """``n`` random samples for each input (token ids with trailing padding), and
        targets for each output."""
        rng = np.random.default_rng(seed)
        xs = []
        for t in self.inputs:
            if t.dtype == "int32":
                ids = rng.integers(1, 8, size=(n, *t.shape)).astype("int32")
                lengths = rng.integers(1, t.shape[0] + 1, size=n)
                ids[np.arange(t.shape[0])[None, :] >= lengths[:, None]] = 0
                xs.append(ids)
            else:
                xs.append(rng.standard_normal((n, *t.shape)).astype("float32"))
        ys = [rng.standard_normal((n, *t.shape)).astype("float32") for t in self.outputs]
        return xs, ys

    def build(self, lib):
        scope: dict = {}
        exec(compile(self.source, f"<fuzz seed {self.seed}>", "exec"), scope)  # noqa: S102
        return scope["build"](lib)

    def reproducer(self, what: str, keras: bool = False) -> str:
        tail = (
            "\nimport keras  # KERAS_BACKEND=torch\n"
            "k = build(keras)\n"
            "print([la.name for la in k.layers])\n"
            "print([la.name for la in model.layers])\n"
            "model.set_weights(k.get_weights())\n"
            "print(k.predict(xs, verbose=0))\n"
            if keras
            else ""
        )
        return (
            f"# model fuzzer, seed {self.seed}: {what}\n"
            "# python this_file.py  (from the repository root)\n"
            "import numpy as np\n\nimport graphc\n"
            "import graphc.onnx\n\n"
            f"{self.source}\n\n"
            "model = build(graphc)\n"
            "model.summary()\n"
            f"import sys; sys.path.insert(0, 'tests/fuzz')\n"
            "from model_fuzz import Program\n"
            f"xs, ys = Program({self.seed}, for_keras={self.for_keras}).data(8)\n"
            "print(model.predict(xs, verbose=0))\n"
            "print(graphc.onnx.Runtime(graphc.onnx.export(model)).predict(xs))\n" + tail
        )


def program(seed: int) -> Program:
    return Program(seed)
