"""Running an exported model in onnxruntime, with Keras's ``predict`` and ``evaluate``.

>>> rt = graphc.onnx.Runtime("model.onnx")
>>> probs = rt.predict(x_test)
>>> rt.evaluate(x_test, y_test, loss="sparse_categorical_crossentropy",
...             metrics=["accuracy"])
{'loss': 0.31, 'accuracy': 0.91}

Inputs are checked against the model before onnxruntime sees them: a wrong name, rank,
shape or dtype raises a ``ValueError`` naming the input, what it expects and what it got.
Numeric data is cast to the input's type (float64 or int arrays feed a float32 input, as
Keras accepts them); strings, objects and complex numbers are refused.
"""

from __future__ import annotations

import os

import numpy as np

from graphc.errors import GraphcError, InputDataError

__all__ = ["Runtime", "RuntimeLoadError", "RuntimeRunError"]

_ORT_DTYPES = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(float16)": np.float16,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(int16)": np.int16,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(bool)": np.bool_,
}


class RuntimeLoadError(GraphcError, ValueError):
    """onnxruntime cannot load the file or proto."""


class RuntimeRunError(GraphcError, RuntimeError):
    """onnxruntime loaded the model but failed running it (a damaged or inconsistent
    file: a weight whose shape does not fit its node, say)."""


def _fmt_shape(shape) -> str:
    dims = ["None" if d is None else str(d) for d in shape]
    return "(" + dims[0] + ",)" if len(dims) == 1 else "(" + ", ".join(dims) + ")"


class _Port:
    """One input or output of the session: name, shape (ints, symbols, None), dtype."""

    def __init__(self, arg):
        self.name = arg.name
        self.shape = tuple(arg.shape) if arg.shape is not None else None
        self.dtype = np.dtype(_ORT_DTYPES.get(arg.type, np.float32))
        self.type = arg.type

    def describe(self) -> str:
        shape = "(unknown)" if self.shape is None else _fmt_shape(self.shape)
        return f"{shape} {self.dtype}"


#: ONNX ops through which onnxruntime aborts on a batch of zero rows.
_ZERO_ROW_UNSAFE = frozenset({"LSTM", "GRU", "RNN", "Scan", "Loop"})


def _op_types_of(source) -> frozenset:
    """Every op type of a model (a path, serialised bytes or a ModelProto), subgraphs
    included; empty when it cannot be read."""
    import onnx

    try:
        if isinstance(source, (bytes, bytearray)):
            model = onnx.load_from_string(bytes(source))
        elif isinstance(source, str):
            model = onnx.load(source, load_external_data=False)
        else:
            model = source
    except Exception:  # noqa: BLE001 - onnxruntime loaded it; this is only a check
        return frozenset()
    found: set = set()
    stack = [model.graph]
    while stack:
        graph = stack.pop()
        for node in graph.node:
            found.add(node.op_type)
            for attr in node.attribute:
                if attr.HasField("g"):
                    stack.append(attr.g)
                stack.extend(attr.graphs)
    return frozenset(found)


def _output_keys(session, n: int) -> list | None:
    """The dict keys of a model exported with dict outputs (graphc's exporter writes them
    in the model's properties), or None."""
    import json

    from graphc.backends.onnx.export import OUTPUT_KEYS_METADATA

    try:
        text = session.get_modelmeta().custom_metadata_map.get(OUTPUT_KEYS_METADATA)
        keys = json.loads(text) if text else None
    except (ValueError, TypeError, AttributeError):  # a damaged property: plain outputs
        return None
    if not isinstance(keys, list) or len(keys) != n or not all(isinstance(k, str) for k in keys):
        return None
    return keys


class Runtime:
    """An onnxruntime session over an exported model.

    ``path_or_proto``: a ``.onnx`` path (external data is found beside it), an
    ``onnx.ModelProto`` or its serialised bytes. ``providers`` defaults to the CPU.

    >>> rt = Runtime("model.onnx")
    >>> rt.input_names, rt.output_names
    (['features'], ['scores'])
    """

    def __init__(self, path_or_proto, providers=None, session_options=None):
        import onnxruntime as ort

        self.path = None
        self._op_types: frozenset | None = None  # read when first needed
        if isinstance(path_or_proto, (str, os.PathLike)):
            self.path = os.fspath(path_or_proto)
            if not os.path.isfile(self.path):
                raise FileNotFoundError(f"No such ONNX file: {self.path}")
            source, what = self.path, self.path
        elif isinstance(path_or_proto, (bytes, bytearray)):
            source, what = bytes(path_or_proto), "the given bytes"
            self._op_types = _op_types_of(source)
        elif hasattr(path_or_proto, "SerializeToString"):
            source, what = path_or_proto.SerializeToString(), "the given ModelProto"
            self._op_types = _op_types_of(path_or_proto)
        else:
            raise TypeError(
                f"Runtime needs a path to an .onnx file or an onnx.ModelProto, "
                f"received {type(path_or_proto).__name__}"
            )
        if session_options is None:
            session_options = ort.SessionOptions()
            session_options.log_severity_level = 3  # errors only: no warnings on stderr
        try:
            self.session = ort.InferenceSession(
                source,
                sess_options=session_options,
                providers=list(providers) if providers else ["CPUExecutionProvider"],
            )
        except Exception as e:  # onnxruntime's own exception types are not importable
            detail = " ".join(str(e).split())
            raise RuntimeLoadError(f"onnxruntime cannot load {what}: {detail}") from e
        try:
            self.inputs = [_Port(a) for a in self.session.get_inputs()]
            self.outputs = [_Port(a) for a in self.session.get_outputs()]
        except (UnicodeDecodeError, ValueError, TypeError) as e:  # a damaged file's names
            raise RuntimeLoadError(
                f"onnxruntime cannot load {what}: {type(e).__name__}: {e}"
            ) from e

        self.output_keys = _output_keys(self.session, len(self.outputs))

    @property
    def input_names(self) -> list[str]:
        return [p.name for p in self.inputs]

    @property
    def output_names(self) -> list[str]:
        return [p.name for p in self.outputs]

    @property
    def providers(self) -> list[str]:
        return self.session.get_providers()

    def __repr__(self):
        ins = ", ".join(f"{p.name}: {p.describe()}" for p in self.inputs)
        outs = ", ".join(f"{p.name}: {p.describe()}" for p in self.outputs)
        return f"<Runtime ({ins}) -> ({outs})>"

    # ---- inputs ------------------------------------------------------------------------
    def _feeds(self, x) -> tuple[dict, int]:
        """``x`` (array, list, dict) -> ``{input name: array}`` and the sample count."""
        names = self.input_names
        if isinstance(x, dict):
            unknown = [k for k in x if k not in names]
            if unknown:
                raise InputDataError(
                    f"Unknown input {unknown[0]!r}; the model's inputs are {names}"
                )
            missing = [p for p in self.inputs if p.name not in x]
            if missing:
                p = missing[0]
                raise InputDataError(
                    f"Missing input {p.name!r} (expected shape {p.describe()}); "
                    f"the model's inputs are {names}"
                )
            given = [x[n] for n in names]
        elif isinstance(x, (list, tuple)) and len(names) > 1:
            if len(x) != len(names):
                raise InputDataError(
                    f"The model has {len(names)} inputs {names}, received a list of {len(x)} arrays"
                )
            given = list(x)
        elif len(names) > 1:
            raise InputDataError(
                f"The model has {len(names)} inputs {names}; pass a list in that "
                f"order or a dict keyed by those names"
            )
        elif isinstance(x, (list, tuple)) and len(x) == 1 and isinstance(x[0], np.ndarray):
            given = [x[0]]
        else:
            given = [x]
        feeds, counts = {}, {}
        for port, a in zip(self.inputs, given):
            feeds[port.name] = self._check(port, a)
            if feeds[port.name].ndim:
                counts[port.name] = feeds[port.name].shape[0]
        if len(set(counts.values())) > 1:
            shown = ", ".join(f"{k} has {v}" for k, v in counts.items())
            raise InputDataError(f"All inputs must have the same number of samples: {shown}")
        return feeds, next(iter(counts.values()), 1)

    @staticmethod
    def _check(port: _Port, a) -> np.ndarray:
        try:
            arr = np.asarray(a)
        except (ValueError, TypeError) as e:
            raise InputDataError(
                f"Input {port.name!r}: cannot make an array of the data "
                f"({e}); expected shape {port.describe()}"
            ) from None
        got = f"received shape {_fmt_shape(arr.shape)} {arr.dtype}"
        if arr.dtype.kind not in "biuf":
            raise InputDataError(
                f"Input {port.name!r}: expected numeric data of shape {port.describe()}, {got}"
            )
        want = port.dtype
        if want.kind == "b" and arr.dtype.kind != "b":
            raise InputDataError(
                f"Input {port.name!r}: expected booleans of shape {port.describe()}, {got}"
            )
        if want.kind in "iu" and arr.dtype.kind not in "biu":
            raise InputDataError(
                f"Input {port.name!r}: expected integers of shape {port.describe()}, {got}"
            )
        if port.shape is not None:
            bad = arr.ndim != len(port.shape) or any(
                isinstance(d, int) and d != n for d, n in zip(port.shape, arr.shape)
            )
            if bad:
                raise InputDataError(
                    f"Input {port.name!r}: expected shape {port.describe()}, {got}"
                )
        if want.kind in "iu" and arr.dtype.kind in "iu" and not np.can_cast(arr.dtype, want):
            # A narrowing cast (int64 ids to an int32 input) would wrap silently.
            info = np.iinfo(want)
            if arr.size and (arr.min() < info.min or arr.max() > info.max):
                bad = arr.max() if arr.max() > info.max else arr.min()
                raise InputDataError(
                    f"Input {port.name!r}: expects {want} values, {got} holding {bad}, "
                    f"outside {want}'s range [{info.min}, {info.max}]: casting would wrap "
                    f"it. Pass values in that range (or export the model with {arr.dtype} "
                    "inputs)."
                )
        return np.ascontiguousarray(arr, dtype=want)

    def _refuse_zero_rows(self) -> None:
        """onnxruntime aborts the process on an empty batch through a recurrent op (LSTM,
        GRU, RNN, Scan, Loop): refuse it first, with the reason."""
        if self._op_types is None:
            self._op_types = _op_types_of(self.path) if self.path else frozenset()
        found = sorted(self._op_types & _ZERO_ROW_UNSAFE)
        if found:
            raise InputDataError(
                f"Runtime.predict received 0 rows, but the model runs {', '.join(found)}, "
                "which onnxruntime cannot run on an empty batch (it aborts the process). "
                "Pass at least one row, or skip the call when there is no data."
            )

    # ---- predict / evaluate ------------------------------------------------------------
    def run(self, feeds: dict) -> list[np.ndarray]:
        """One onnxruntime call on already checked feeds; outputs in output order."""
        try:
            return self.session.run(self.output_names, feeds)
        except Exception as e:  # onnxruntime's own exception types are not importable
            detail = " ".join(str(e).split())
            raise RuntimeRunError(
                f"onnxruntime failed running {self.path or 'the model'}: {detail}"
            ) from e

    def predict(self, x, batch_size=None):
        """Outputs for ``x``: an array (one input), a list in input order, or a dict keyed
        by input names. Returns an array for a one-output model, else a list of arrays in
        output order, or, for a model exported with dict outputs (``outputs={"a": ...}``),
        a dict keyed as the model's. ``batch_size`` splits the samples into runs of that
        many; ``None`` runs them all at once.

        >>> Runtime("model.onnx").predict(np.zeros((2, 4), "float32")).shape
        (2, 2)
        """
        outs = self.predict_list(x, batch_size)
        if self.output_keys is not None:
            return dict(zip(self.output_keys, outs))
        return outs[0] if len(outs) == 1 else outs

    def predict_list(self, x, batch_size=None) -> list:
        """``predict``'s outputs as a list in output order, whatever the model's output
        structure."""
        feeds, n = self._feeds(x)
        if batch_size is not None and (
            isinstance(batch_size, bool)
            or not isinstance(batch_size, (int, np.integer))
            or batch_size < 1
        ):
            raise ValueError(f"batch_size must be a positive integer, received {batch_size!r}")
        if n == 0:
            self._refuse_zero_rows()
        fixed = any(p.shape and isinstance(p.shape[0], int) for p in self.inputs)
        if batch_size is None or batch_size >= n or fixed or n == 0:
            outs = self.run(feeds)
        else:
            parts = [
                self.run({k: v[i : i + batch_size] for k, v in feeds.items()})
                for i in range(0, n, batch_size)
            ]
            outs = [np.concatenate([p[j] for p in parts], axis=0) for j in range(len(self.outputs))]
        return list(outs)

    def evaluate(
        self, x, y, loss=None, metrics=None, batch_size=None, sample_weight=None, loss_weights=None
    ):
        """Loss and metrics of the model on ``(x, y)``, with graphc's own losses and
        metrics and the same rules as ``Model.compile``/``evaluate``: per-output losses as
        a list or dict, ``loss_weights``, sample weights on the loss only (Keras 3).
        Returns ``{"loss": ..., metric: ...}``; a model with several outputs also reports
        ``<output>_loss`` and ``<output>_<metric>``.

        >>> rt.evaluate(x, y, loss="mse", metrics=["mae"])
        {'loss': 0.02, 'mae': 0.11}
        """
        losses, metrics_found = self.evaluate_parts(
            x,
            y,
            loss=loss,
            metrics=metrics,
            batch_size=batch_size,
            sample_weight=sample_weight,
            loss_weights=loss_weights,
        )
        return {**losses, **{k: float(m.result()) for k, m in metrics_found.items()}}

    def evaluate_parts(
        self, x, y, loss=None, metrics=None, batch_size=None, sample_weight=None, loss_weights=None
    ) -> tuple[dict, dict]:
        """What ``evaluate`` reports, before the metrics are read: ``(losses, metrics)``,
        the loss values by key (``"loss"``, and ``"<output>_loss"`` for several outputs)
        and the updated metric objects by key, whose states can be added up across
        chunks of data (graphc.distributed does)."""
        from graphc import losses as _losses
        from graphc import metrics as _metrics
        from graphc.models.training import per_output, per_output_metrics

        if loss is None:
            raise ValueError('evaluate needs a loss, e.g. loss="mse"')
        names = self.output_names
        preds = self.predict_list(x, batch_size=batch_size)
        truths = self._targets(y)
        if sample_weight is not None:
            sample_weight = np.asarray(sample_weight)
        loss_ids = per_output(loss, names, "loss")
        weights = (
            per_output(loss_weights, names, "loss_weights")
            if loss_weights is not None
            else [1.0] * len(names)
        )
        metric_lists = per_output_metrics(metrics, names)
        multi = len(names) > 1
        result = {"loss": 0.0}
        metric_results: dict = {}
        for name, yt, yp, ident, w, idents in zip(
            names, truths, preds, loss_ids, weights, metric_lists
        ):
            if yt is None:
                if ident is not None:
                    raise ValueError(
                        f"No target for output {name!r}, which has a loss; the "
                        f"model's outputs are {names}"
                    )
                continue
            if yt.shape[:1] != yp.shape[:1]:
                raise ValueError(
                    f"Target for output {name!r} has {yt.shape[0]} samples, "
                    f"the predictions {yp.shape[0]}"
                )
            fn = None
            if ident is not None:
                fn = _losses.get(ident, y_true_shape=yt.shape, y_pred_shape=yp.shape)
                value = float(fn(yt, yp, sample_weight=sample_weight))
                result["loss"] += (1.0 if w is None else float(w)) * value
                if multi:
                    result[f"{name}_loss"] = value
            for spec in idents:
                m = _metrics.get(spec, loss=fn, y_true_shape=yt.shape, y_pred_shape=yp.shape)
                m.update_state(yt, yp)
                metric_results[f"{name}_{m.name}" if multi else m.name] = m
        return result, metric_results

    def _targets(self, y) -> list[np.ndarray]:
        names = self.output_names
        if isinstance(y, dict):
            unknown = [k for k in y if k not in names]
            if unknown:
                raise ValueError(
                    f"Unknown output {unknown[0]!r} in the targets; the model's outputs are {names}"
                )
            return [np.asarray(y[n]) if n in y else None for n in names]
        if len(names) > 1:
            if not isinstance(y, (list, tuple)) or len(y) != len(names):
                raise ValueError(
                    f"The model has {len(names)} outputs {names}; pass the "
                    f"targets as a list in that order or a dict keyed by them"
                )
            return [np.asarray(t) for t in y]
        return [np.asarray(y)]
