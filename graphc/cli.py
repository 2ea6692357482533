"""The ``graphc`` command line (also ``python -m graphc``).

    graphc export model.py:build -o model.onnx [--opset N] [--no-optimize]
    graphc summary model.py:build
    graphc run model.onnx --input x.npz [-o out.npz] [--chunk-rows N] [--scheduler ADDR]
    graphc eval model.onnx --data test.npz --loss sparse_categorical_crossentropy \
        --metrics accuracy [--chunk-rows N] [--scheduler ADDR]
    graphc eval model.onnx --data test.npz --loss out_a=mse --loss out_b=binary_crossentropy \
        --metrics out_b=accuracy
    graphc check model.onnx [--reference model.graphc | model.keras | model.py:build]
    graphc plot model.graphc -o model.svg [--expand-nested] [--rankdir LR]
    graphc plot-history training.log -o curves.png
    graphc view model.onnx [--port N] [--no-browser]

A SPEC names a model: ``path/to/file.py:NAME`` where NAME is a Model or a function with no
required arguments returning one (``path/to/file.py`` alone works when the file defines
exactly one Model), a saved ``.graphc`` model, or a Keras 3 ``.keras`` file or legacy
Keras ``.h5`` file (read without Keras installed: ``graphc export model.keras -o
model.onnx`` is the Keras -> ONNX converter).

A bad file or model prints one line, ``graphc: error: ...``, on stderr and exits 1; a
usage error exits 2. ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import os
import sys
import traceback

import numpy as np

from graphc.layers.base import flatten_struct

__all__ = ["main", "load_spec", "CliError"]

PARITY_RTOL, PARITY_ATOL = 1e-4, 1e-5


class CliError(Exception):
    """A user-facing failure: printed as one line, exit status 1."""


class _UsageError(Exception):
    pass


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so ``main`` returns the status and prints
    one line in graphc's format."""

    def error(self, message):
        raise _UsageError(f"{message} (see '{self.prog} --help')")


# ---- loading models --------------------------------------------------------------------
def load_spec(spec: str):
    """The Model a SPEC names: ``file.py:NAME``, ``file.py``, ``model.graphc`` or
    ``model.keras`` (or a legacy ``model.h5``), or ``model.onnx`` (imported with
    ``graphc.onnx.load``)."""
    from graphc.models import Model

    if spec.endswith((".keras", ".h5", ".hdf5")):
        if not os.path.isfile(spec):
            raise CliError(f"No such Keras file: {spec}")
        from graphc.models import load_model

        try:
            # Exporting and summarising need no optimizer: the compile config is not read.
            return load_model(spec, compile=False)
        except (ValueError, TypeError, NotImplementedError, OSError, KeyError) as e:
            raise CliError(f"Cannot load {spec}: {_one_line(e)}") from e
    if spec.endswith(".onnx"):
        if not os.path.isfile(spec):
            raise CliError(f"No such ONNX model: {spec}")
        from graphc.onnx import load

        model = load(spec)
    elif spec.rstrip("/").endswith(".graphc"):
        if not os.path.exists(spec):
            raise CliError(f"No such saved model: {spec}")
        import graphc.models as models
        import graphc.saving  # noqa: F401  (registers the layers of imported ONNX models)

        load_model = getattr(models, "load_model", None)
        if load_model is None:
            raise CliError(
                f"Cannot load {spec}: this graphc cannot read .graphc models yet; "
                "use path/to/file.py:NAME"
            )
        try:
            takes_compile = "compile" in inspect.signature(load_model).parameters
        except (TypeError, ValueError):
            takes_compile = False
        # Exporting and summarising need no optimizer state.
        model = load_model(spec, compile=False) if takes_compile else load_model(spec)
    else:
        path, name = spec, None
        if not spec.endswith(".py"):
            path, sep, name = spec.rpartition(":")
            if not sep or not path.endswith(".py") or not name:
                raise CliError(
                    f"Cannot read model spec {spec!r}: expected "
                    "path/to/file.py:NAME, a saved model.graphc or a Keras "
                    "model.keras"
                )
        if not os.path.isfile(path):
            raise CliError(f"No such file: {path}")
        module = _import_file(path)
        if name is None:
            found = [
                k for k, v in vars(module).items() if isinstance(v, Model) and not k.startswith("_")
            ]
            if len(found) != 1:
                what = f"models {', '.join(found)}" if found else "no Model at top level"
                raise CliError(f"{path} defines {what}; name one: {path}:NAME")
            name = found[0]
        if not hasattr(module, name):
            models = [k for k, v in vars(module).items() if isinstance(v, Model)]
            hint = f" (models there: {', '.join(models)})" if models else ""
            raise CliError(f"{path} has no attribute {name!r}{hint}")
        model = getattr(module, name)
        if not isinstance(model, Model) and callable(model):
            try:
                sig = inspect.signature(model)
                required = [
                    p.name
                    for p in sig.parameters.values()
                    if p.default is p.empty
                    and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
                ]
            except (TypeError, ValueError):
                required = []
            if required:
                raise CliError(
                    f"{path}:{name} needs arguments ({', '.join(required)}); "
                    "the command line calls it with none"
                )
            try:
                model = model()
            except Exception as e:
                raise CliError(f"{path}:{name}() failed: {type(e).__name__}: {_one_line(e)}") from e
        if not isinstance(model, Model):
            raise CliError(f"{spec} is a {type(model).__name__}, not a graphc Model")
    return model


def _import_file(path: str):
    folder = os.path.dirname(os.path.abspath(path))
    mod_name = "_graphc_spec_" + os.path.splitext(os.path.basename(path))[0]
    spec = importlib.util.spec_from_file_location(mod_name, path)
    if spec is None or spec.loader is None:
        raise CliError(f"Cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, folder)  # so the file's own sibling imports work
    try:
        spec.loader.exec_module(module)
    except SystemExit:
        raise CliError(f"Importing {path} called sys.exit()") from None
    except BaseException as e:
        if isinstance(e, KeyboardInterrupt):
            raise
        raise CliError(f"Importing {path} failed: {type(e).__name__}: {_one_line(e)}") from e
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
    return module


def _load_arrays(path: str, what: str) -> dict | np.ndarray:
    if not os.path.isfile(path):
        raise CliError(f"No such {what} file: {path}")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as e:
        raise CliError(f"Cannot read {path}: {_one_line(e)} (object arrays are refused)") from e
    except Exception as e:  # noqa: BLE001 - numpy raises many kinds for a bad file
        raise CliError(f"Cannot read {path} as .npy/.npz: {_one_line(e)}") from e
    if isinstance(data, np.ndarray):
        return data
    with data:
        return {k: data[k] for k in data.files}


def _runtime(path: str):
    from graphc.onnx import Runtime

    if not os.path.isfile(path):
        raise CliError(f"No such ONNX file: {path}")
    return Runtime(path)


def _inputs_for(rt, data, path: str, keys=("x",)):
    """Map loaded arrays onto the runtime's inputs."""
    names = rt.input_names
    if isinstance(data, np.ndarray):
        if len(names) != 1:
            raise CliError(
                f"The model has {len(names)} inputs ({', '.join(names)}); pass an "
                f".npz keyed by those names instead of {path}"
            )
        return data
    if all(n in data for n in names):
        return {n: data[n] for n in names}
    if len(names) == 1:
        for k in keys:
            if k in data:
                return data[k]
        if len(data) == 1:
            return next(iter(data.values()))
    missing = [n for n in names if n not in data]
    raise CliError(
        f"{path} has arrays {sorted(data)}; the model needs "
        f"{', '.join(repr(n) for n in missing)}" + (" (or 'x')" if len(names) == 1 else "")
    )


def _save_npz(path: str, arrays: dict) -> str:
    from graphc.files import atomic_write

    if not path.endswith(".npz"):
        path += ".npz"
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


# ---- commands --------------------------------------------------------------------------
def _cmd_export(args, out) -> int:
    from graphc.onnx import export_with_report

    model = load_spec(args.spec)
    result = export_with_report(model, args.output, opset=args.opset, optimize=not args.no_optimize)
    for line in result.lines():
        out(line.replace("(optimize=False)", "(--no-optimize)"))
    return 0


def _cmd_import(args, out) -> int:
    from graphc.onnx import load

    if not os.path.isfile(args.model):
        raise CliError(f"No such ONNX model: {args.model}")
    model = load(args.model, trainable=not args.frozen)
    output = args.output if args.output.endswith(".graphc") else args.output + ".graphc"
    model.save(output)
    out(
        f"Imported {args.model}: {len(model.inputs)} input(s), {len(model.outputs)} "
        f"output(s), {model.count_params():,} parameters ({len(model.trainable_weights)} "
        f"trainable weights) -> {output}"
    )
    return 0


def _cmd_summary(args, out) -> int:
    model = load_spec(args.spec)
    model.summary(print_fn=out)
    return 0


def _chunked(args) -> bool:
    return args.chunk_rows is not None or args.scheduler is not None


def _stream_model(path: str) -> str:
    if not os.path.isfile(path):
        raise CliError(f"No such ONNX file: {path}")
    return path


def _cmd_run(args, out) -> int:
    if _chunked(args):
        return _cmd_run_chunked(args, out)
    rt = _runtime(args.model)
    data = _load_arrays(args.input, "input")
    preds = rt.predict_list(_inputs_for(rt, data, args.input), batch_size=args.batch_size)
    results = dict(zip(rt.output_names, preds))
    for name, arr in results.items():
        out(f"{name}: shape {tuple(arr.shape)} {arr.dtype}")
        if not args.output:
            with np.printoptions(threshold=60, edgeitems=3, precision=6):
                out(str(arr))
    if args.output:
        written = _save_npz(args.output, results)
        out(f"wrote {written} ({', '.join(results)})")
    return 0


def _per_output(items, outs, what, model_path):
    """``--loss``/``--metrics`` values: ``NAME`` for every output, or ``OUTPUT=NAME`` for
    one (several names comma separated for metrics). Returns (for all, {output: [...]})."""
    common, by_output = [], {}
    for item in items or []:
        for part in item.split(",") if "=" not in item else [item]:
            part = part.strip()
            if not part:
                continue
            if "=" in part:
                output, _, names = part.partition("=")
                output = output.strip()
                if output not in outs:
                    raise CliError(
                        f"--{what} {part}: {output!r} is not an output of "
                        f"{model_path}; its outputs are {', '.join(outs)}"
                    )
                names = [n.strip() for n in names.split(",") if n.strip()]
                if not names:
                    raise CliError(f"--{what} {part}: no {what} name after '='")
                by_output.setdefault(output, []).extend(names)
            else:
                common.append(part)
    return common, by_output


def _eval_losses(args, outs):
    common, by_output = _per_output(args.loss, outs, "loss", args.model)
    if common and by_output:
        raise CliError(
            f"--loss {common[0]} applies to every output; give either one loss "
            f"for all outputs or one per output (OUTPUT=LOSS), not both"
        )
    if len(common) > 1:
        raise CliError(
            f"--loss given {len(common)} times ({', '.join(common)}) without "
            f"output names; name the outputs: --loss {outs[0]}=LOSS ..."
        )
    for output, names in by_output.items():
        if len(names) > 1:
            raise CliError(
                f"--loss: output {output!r} given {len(names)} losses "
                f"({', '.join(names)}); one per output"
            )
    if common:
        return common[0]
    missing = [o for o in outs if o not in by_output]
    if missing:
        raise CliError(
            f"--loss: no loss for output{'s' if len(missing) > 1 else ''} "
            f"{', '.join(missing)}; give one per output (--loss OUTPUT=LOSS) or "
            "one for all (--loss LOSS)"
        )
    return {o: by_output[o][0] for o in outs}


def _eval_metrics(args, outs):
    common, by_output = _per_output(args.metrics, outs, "metrics", args.model)
    if not by_output:
        return common or None
    return {o: common + by_output.get(o, []) for o in outs}


def _explain_eval_failure(rt, x, y, loss, metrics, error) -> str:
    """Which output's loss or metric failed, with both shapes, instead of NumPy's message
    alone: the loss and each metric are tried again one at a time."""
    names = rt.output_names
    preds = rt.predict_list(x)
    losses = loss if isinstance(loss, dict) else {n: loss for n in names}
    metric_map = metrics if isinstance(metrics, dict) else {n: list(metrics or []) for n in names}
    targets = y if isinstance(y, dict) else {names[0]: y}
    none = {n: None for n in names}
    for name, pred in zip(names, preds, strict=True):
        if name not in targets:
            continue
        target = np.asarray(targets[name])
        trials = [("loss", losses.get(name), {**none, name: losses.get(name)}, None)]
        trials += [
            ("metric", m, {**none, name: losses.get(name)}, {name: [m]})
            for m in metric_map.get(name, [])
        ]
        for what, ident, loss_arg, metric_arg in trials:
            if ident is None:
                continue
            try:
                rt.evaluate(x, {name: target}, loss=loss_arg, metrics=metric_arg)
            except Exception as e:  # noqa: BLE001 - this is the one to explain
                # The loss is tried first, so a failing metric's trial had a working loss.
                text = _one_line(e)
                hint = ""
                if "shape" in text or "broadcast" in text:
                    ident_s = str(ident)
                    if "sparse" in ident_s and target.ndim == pred.ndim and target.shape[-1] > 1:
                        hint = "; the targets look one-hot: use categorical_crossentropy"
                    elif (
                        "categorical" in ident_s
                        and "sparse" not in ident_s
                        and target.ndim == pred.ndim - 1
                    ):
                        hint = (
                            "; the targets are class indices: use sparse_categorical_crossentropy"
                        )
                    elif "sparse" not in ident_s:
                        hint = "; this one needs targets of the predictions' shape"
                return (
                    f"output {name!r}: {what} {ident} on predictions of shape "
                    f"{tuple(pred.shape)} and targets of shape {tuple(target.shape)} "
                    f"failed: {text}{hint}"
                )
    return _one_line(error)


def _cmd_run_chunked(args, out) -> int:
    """--chunk-rows / --scheduler: the input is read a chunk of rows at a time (an .npy
    file, an .npz archive or a Zarr store) and the outputs are written as they come."""
    from graphc.distributed.stream import stream_predict

    if not os.path.exists(args.input):
        raise CliError(f"No such input file: {args.input}")
    summary = stream_predict(
        _stream_model(args.model),
        args.input,
        out=args.output,
        batch_size=args.batch_size,
        chunk_rows=args.chunk_rows,
        client=args.scheduler,
    )
    path = summary.pop("path", None)
    for name, (shape, dtype) in summary.items():
        out(f"{name}: shape {tuple(shape)} {dtype}")
    if path:
        out(f"wrote {path} ({', '.join(summary)})")
    else:
        out("(chunked run: the outputs are not printed; pass -o out.npz to keep them)")
    return 0


def _cmd_eval(args, out) -> int:
    metrics = [m for item in (args.metrics or []) for m in item.split(",") if m]
    if _chunked(args):
        from graphc.distributed.stream import stream_evaluate

        if not os.path.exists(args.data):
            raise CliError(f"No such data file: {args.data}")
        result = stream_evaluate(
            _stream_model(args.model),
            args.data,
            loss=args.loss,
            metrics=metrics or None,
            batch_size=args.batch_size,
            chunk_rows=args.chunk_rows,
            client=args.scheduler,
        )
        return _print_result(args, out, result)
    rt = _runtime(args.model)
    data = _load_arrays(args.data, "data")
    if isinstance(data, np.ndarray):
        raise CliError(
            f"{args.data} must be an .npz holding x and y (or the model's input and output names)"
        )
    x = _inputs_for(rt, data, args.data)
    outs = rt.output_names
    if all(n in data for n in outs) and not (len(outs) == 1 and "y" in data):
        y = {n: data[n] for n in outs}
    elif "y" in data and len(outs) == 1:
        y = data["y"]
    else:
        raise CliError(
            f"{args.data} has arrays {sorted(data)}; the targets must be 'y' or "
            f"named after the outputs ({', '.join(outs)})"
        )
    loss = _eval_losses(args, outs)
    metrics = _eval_metrics(args, outs)
    weights = None
    if args.loss_weights:
        common, by_output = _per_output(args.loss_weights, outs, "loss-weights", args.model)
        if common:
            raise CliError(f"--loss-weights {common[0]}: give OUTPUT=WEIGHT")
        try:
            weights = {o: float(by_output[o][0]) if o in by_output else 1.0 for o in outs}
        except ValueError as e:
            raise CliError(f"--loss-weights: {_one_line(e)}") from None
    from graphc.errors import GraphcError

    try:
        result = rt.evaluate(
            x,
            y,
            loss=loss,
            metrics=metrics,
            batch_size=args.batch_size,
            sample_weight=data.get("sample_weight"),
            loss_weights=weights,
        )
    except (CliError, GraphcError):
        raise
    except Exception as e:  # noqa: BLE001 - NumPy's errors name no output: say which
        raise CliError(_explain_eval_failure(rt, x, y, loss, metrics, e)) from e
    return _print_result(args, out, result)


def _cmd_eval_chunked(args, out) -> int:
    """--chunk-rows / --scheduler: losses and metrics summed chunk by chunk (exact, as one
    evaluate over the whole file)."""
    from graphc.distributed.stream import stream_evaluate

    if not os.path.exists(args.data):
        raise CliError(f"No such data file: {args.data}")
    losses = [item for item in (args.loss or []) if item.strip()]
    metrics = [m.strip() for item in (args.metrics or []) for m in item.split(",") if m.strip()]
    if len(losses) > 1 or any("=" in item for item in losses + metrics):
        raise CliError(
            "--chunk-rows/--scheduler take one --loss and --metrics for every "
            "output; per-output losses (OUTPUT=LOSS) need an evaluation without "
            "chunks"
        )
    result = stream_evaluate(
        _stream_model(args.model),
        args.data,
        loss=losses[0] if losses else None,
        metrics=metrics or None,
        batch_size=args.batch_size,
        chunk_rows=args.chunk_rows,
        client=args.scheduler,
    )
    return _print_result(args, out, result)


def _print_result(args, out, result) -> int:
    if args.json:
        import json

        out(json.dumps(result))
    else:
        for k, v in result.items():
            out(f"{k}: {v:.6g}")
    return 0


def _cmd_check(args, out) -> int:
    import onnx

    path = args.model
    if not os.path.isfile(path):
        raise CliError(f"No such ONNX file: {path}")
    try:
        proto = onnx.load(path)
    except Exception as e:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise CliError(f"{path} is not an ONNX model: {_one_line(e)}") from e
    failed = False
    opsets = ", ".join(f"{o.domain or 'ai.onnx'} {o.version}" for o in proto.opset_import)
    out(f"model: {path}")
    out(
        f"  opset: {opsets}; IR version {proto.ir_version}; producer "
        f"{proto.producer_name or '?'} {proto.producer_version}"
    )

    def shape(vi):
        t = vi.type.tensor_type
        dims = [
            d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value") else "?")
            for d in t.shape.dim
        ]
        elem = onnx.helper.tensor_dtype_to_np_dtype(t.elem_type) if t.elem_type else "?"
        return f"({', '.join(str(d) for d in dims)}) {elem}"

    inits = {i.name for i in proto.graph.initializer}
    for vi in proto.graph.input:
        if vi.name not in inits:
            out(f"  input  {vi.name}: {shape(vi)}")
    for vi in proto.graph.output:
        out(f"  output {vi.name}: {shape(vi)}")
    counts: dict = {}
    for n in proto.graph.node:
        counts[n.op_type] = counts.get(n.op_type, 0) + 1
    out(
        f"  nodes: {len(proto.graph.node)} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        + ")"
    )
    params = sum(
        int(np.prod(t.dims)) for t in proto.graph.initializer if t.data_type in (1, 10, 11, 16)
    )
    out(f"  parameters: {params:,} (float initializers)")
    try:
        onnx.checker.check_model(path, full_check=True)
        out("  onnx checker: ok")
    except Exception as e:  # noqa: BLE001
        out(f"  onnx checker: FAILED: {_one_line(e)}")
        failed = True
    try:
        rt = _runtime(path)
        out(f"  onnxruntime: loads ({', '.join(rt.providers)})")
    except Exception as e:  # noqa: BLE001
        out(f"  onnxruntime: FAILED: {_one_line(e)}")
        return 1
    if args.reference:
        reference = load_spec(args.reference)
        rebuilt = not args.reference.rstrip("/").endswith(".graphc")
        differ = rebuilt and not _same_weights(proto, reference)
        if differ:
            out(
                f"  reference: the weights differ from the ONNX model's: {args.reference} is "
                "rebuilt by running the file, with fresh random weights"
            )
        ok = _parity(rt, reference, out)
        failed |= not ok
        if not ok and rebuilt:
            out(
                "  hint: to compare a trained model, save it (model.save('model.graphc')) "
                "and pass --reference model.graphc"
            )
    return 1 if failed else 0


def _same_weights(proto, model) -> bool:
    """Whether the ONNX initializers hold the model's weights. Export may transpose or
    reshape a weight (Gemm, convolutions), so each is compared by an order-free
    fingerprint: its size, sum and sum of squares."""
    from onnx import numpy_helper

    def fingerprint(a):
        a = np.asarray(a, dtype=np.float64)
        return (a.size, round(float(a.sum()), 3), round(float((a * a).sum()), 3))

    inits = {
        fingerprint(numpy_helper.to_array(t))
        for t in proto.graph.initializer
        if t.data_type in (1, 10, 11, 16)
    }
    # Constant initial values (zero biases, ones of a normalization) say nothing.
    weights = [
        w
        for w in model.get_weights()
        if np.asarray(w).size > 1 and np.ptp(np.asarray(w, dtype=np.float64)) > 0
    ]
    if not weights:
        return True
    found = sum(fingerprint(w) in inits for w in weights)
    return found * 2 >= len(weights)


def _parity(rt, model, out) -> bool:
    """Compare onnxruntime with the NumPy backend on random inputs at two batch sizes."""
    in_names = [v.name for v in model.inputs]
    if in_names != rt.input_names or len(model.outputs) != len(rt.output_names):
        out(
            f"  reference: inputs {in_names} / outputs {list(model.output_names)} do not "
            f"match the ONNX model's {rt.input_names} / {rt.output_names}"
        )
        return False
    rng = np.random.default_rng(0)
    ok = True
    for batch in (1, 5):
        xs = []
        for v in model.inputs:
            dims = [
                batch if i == 0 and not isinstance(d, int) else (d if isinstance(d, int) else 3)
                for i, d in enumerate(v.shape)
            ]
            dt = np.dtype(v.dtype)
            xs.append(rng.uniform(-1, 1, dims).astype(dt) if dt.kind == "f" else np.zeros(dims, dt))
        ref = model(xs[0] if len(xs) == 1 else xs)
        ref = [np.asarray(r) for r in flatten_struct(ref)]
        got = rt.predict_list(xs[0] if len(xs) == 1 else xs)
        for name, a, b in zip(rt.output_names, got, ref):
            if a.shape != b.shape:
                out(f"  parity (batch {batch}) {name}: shape {a.shape} vs NumPy {b.shape}: FAILED")
                ok = False
                continue
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            worst = float(diff.max()) if diff.size else 0.0
            rel = float((diff / np.maximum(np.abs(b), 1e-12)).max()) if diff.size else 0.0
            good = bool(np.allclose(a, b, rtol=PARITY_RTOL, atol=PARITY_ATOL))
            ok &= good
            out(
                f"  parity (batch {batch}) {name}: max |diff| {worst:.3g}, max rel "
                f"{rel:.3g}: {'ok' if good else 'FAILED'} (rtol {PARITY_RTOL:g}, atol "
                f"{PARITY_ATOL:g})"
            )
    return ok


def _cmd_plot(args, out) -> int:
    from graphc.utils import plot_model

    if args.spec.endswith(".onnx"):
        raise CliError(
            f"graphc plot draws a graphc model's layers (file.py:NAME or a .graphc); "
            f"to look at {args.spec}, use: graphc view {args.spec}"
        )
    model = load_spec(args.spec)
    try:
        written = plot_model(
            model,
            args.output,
            show_shapes=not args.no_shapes,
            show_dtype=args.show_dtype,
            rankdir=args.rankdir,
            expand_nested=args.expand_nested,
            dpi=args.dpi,
            show_layer_activations=args.show_activations,
            show_trainable=args.show_trainable,
            engine=args.engine,
        )
    except ImportError as e:
        raise CliError(_one_line(e)) from e
    out(f"wrote {written}")
    return 0


def _cmd_plot_history(args, out) -> int:
    from graphc.utils import plot_history

    if not os.path.isfile(args.log):
        raise CliError(f"No such training log: {args.log}")
    try:
        plot_history(args.log, args.output, metrics=args.metrics, title=args.title, dpi=args.dpi)
    except ImportError as e:
        raise CliError(_one_line(e)) from e
    out(f"wrote {args.output}")
    return 0


def _cmd_view(args, out) -> int:
    import logging
    import shutil
    import signal
    import tempfile
    import time
    import webbrowser

    try:
        import netron
    except ImportError:
        raise CliError(
            "graphc view opens the model in Netron, which is not installed: "
            "pip install 'graphc[view]'"
        ) from None
    spec = args.model
    tmp = None
    if spec.endswith((".graphc", ".py")) or ".py:" in spec:
        from graphc.onnx import export

        model = load_spec(spec)
        tmp = tempfile.mkdtemp(prefix="graphc-view-")
        path = os.path.join(tmp, f"{model.name}.onnx")
        export(model, path)
    else:
        # .onnx, and the files Netron reads itself (.keras, .h5, .tflite, ...).
        if not os.path.isfile(spec):
            raise CliError(f"No such model file: {spec}")
        path = spec
    logging.getLogger("netron").setLevel(logging.WARNING)  # graphc prints the address
    try:
        address = netron.serve(path, None, address=(args.host, args.port), browse=False)
    except OSError as e:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
        raise CliError(f"Cannot serve on {args.host}:{args.port}: {_one_line(e)}") from e
    url = f"http://{address[0]}:{address[1]}"
    out(f"Netron is showing {spec} at {url}")
    out("press Ctrl-C to stop")

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        if not args.no_browser:
            webbrowser.open(url)
        while netron.status(address):
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        netron.stop(address)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


# ---- the parser ------------------------------------------------------------------------
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _scale_out_args(p):
    p.add_argument(
        "--chunk-rows",
        type=_positive_int,
        default=None,
        metavar="N",
        help="read the input N rows at a time (an .npy file, an .npz archive "
        "or a Zarr store) with memory bounded by a chunk, instead of "
        "loading it whole; rounded down to a multiple of --batch-size",
    )
    p.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        default=None,
        help="run the chunks on a dask.distributed cluster, e.g. "
        "tcp://10.0.0.5:8786 (needs graphc[distributed]; the input path "
        "must be readable by the workers)",
    )


def build_parser() -> argparse.ArgumentParser:
    import graphc

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser = _Parser(
        prog="graphc",
        parents=[common],
        description="Keras code, compiled: export models to ONNX and run them in onnxruntime.",
    )
    parser.add_argument("--version", action="version", version=f"graphc {graphc.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    spec_help = (
        "the model: path/to/file.py:NAME (a Model, or a function with no required "
        "arguments returning one), a saved model.graphc, a Keras 3 model.keras, a "
        "legacy Keras model.h5 or a model.onnx to import"
    )
    p = sub.add_parser(
        "export",
        parents=[common],
        help="export a model to ONNX",
        description="Export a model to ONNX, checked by onnx.checker and "
        "shape inference, written atomically.",
    )
    p.add_argument("spec", metavar="SPEC", help=spec_help)
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT.onnx", help="where to write the model"
    )
    p.add_argument(
        "--opset",
        type=int,
        default=None,
        metavar="N",
        help="ONNX opset (default 18; 13 to the newest onnxruntime supports)",
    )
    p.add_argument(
        "--no-optimize",
        action="store_true",
        help="skip the export passes (dead code, inference mode, Gemm fusion, "
        "identity removal, transpose cancelling, BatchNormalization folding, constant "
        "folding and merging)",
    )
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser(
        "import",
        parents=[common],
        help="import an ONNX model as .graphc",
        description="Import an ONNX model with graphc.onnx.load and save it "
        "as a graphc model (to summarise, fine-tune, re-export).",
    )
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT.graphc", help="where to save the graphc model"
    )
    p.add_argument("--frozen", action="store_true", help="import the weights as non-trainable")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser(
        "summary",
        parents=[common],
        help="print a model's summary",
        description="Print the model summary (layers, output shapes, parameter counts).",
    )
    p.add_argument("spec", metavar="SPEC", help=spec_help)
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser(
        "run",
        parents=[common],
        help="predict with an ONNX model",
        description="Run an ONNX model in onnxruntime on arrays from a .npy "
        "file (one input) or an .npz keyed by input names.",
    )
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument(
        "--input",
        "-i",
        required=True,
        metavar="x.npy|x.npz",
        help="the inputs (.npz keys: input names, or 'x' for a one-input model)",
    )
    p.add_argument(
        "-o", "--output", metavar="out.npz", help="write the outputs here, keyed by output names"
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="samples per onnxruntime run (default: all at once)",
    )
    _scale_out_args(p)
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser(
        "eval",
        parents=[common],
        help="loss and metrics of an ONNX model",
        description="Evaluate an ONNX model in onnxruntime with graphc's losses and metrics.",
    )
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument(
        "--data",
        required=True,
        metavar="data.npz",
        help="x and y (or arrays named after the inputs and outputs; optional sample_weight)",
    )
    p.add_argument(
        "--loss",
        required=True,
        metavar="[OUTPUT=]L",
        action="append",
        help="a loss name as compile() accepts, e.g. mse, "
        "sparse_categorical_crossentropy; for a model with several outputs "
        "one per output by name, repeated: --loss out_a=mse --loss "
        "out_b=binary_crossentropy",
    )
    p.add_argument(
        "--metrics",
        nargs="+",
        metavar="[OUTPUT=]M",
        action="extend",
        help="metric names (space or comma separated), e.g. accuracy, for every "
        "output; OUTPUT=M1,M2 for one output",
    )
    p.add_argument(
        "--loss-weights",
        nargs="+",
        metavar="OUTPUT=W",
        action="extend",
        help="weights of the outputs' losses in the total (default 1 each)",
    )
    p.add_argument(
        "--batch-size",
        type=_positive_int,
        default=None,
        help="samples per onnxruntime run (default: all at once)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    _scale_out_args(p)
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser(
        "check",
        parents=[common],
        help="inspect and validate an ONNX model",
        description="Opset, inputs and outputs, node counts by op type, "
        "parameter count, onnx.checker and whether onnxruntime "
        "loads it; with --reference, parity with the NumPy "
        "backend. Exits 1 when a check fails.",
    )
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument(
        "--reference",
        metavar="SPEC",
        help="compare outputs with this model run in NumPy; it needs the same "
        "weights, so give the saved model.graphc (a file.py:NAME is rebuilt "
        "with fresh random weights unless the file loads them)",
    )
    p.set_defaults(func=_cmd_check)

    p = sub.add_parser(
        "plot",
        parents=[common],
        help="draw a model's layer graph",
        description="Draw the model's layers and the tensors between them "
        "(as graphc.utils.plot_model): .png, .svg, .pdf, or .dot "
        "for the Graphviz description. Uses Graphviz's dot when "
        "installed, else the `plots` extra (grandalf and "
        "matplotlib).",
    )
    p.add_argument("spec", metavar="SPEC", help=spec_help)
    p.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="OUT.svg",
        help="the picture (.png, .svg, .pdf, .dot)",
    )
    p.add_argument("--no-shapes", action="store_true", help="leave the shapes out")
    p.add_argument("--show-dtype", action="store_true", help="show the dtypes")
    p.add_argument("--show-activations", action="store_true", help="show each layer's activation")
    p.add_argument(
        "--show-trainable", action="store_true", help="show whether each layer is trainable"
    )
    p.add_argument(
        "--expand-nested",
        action="store_true",
        help="draw nested models as boxes around their layers",
    )
    p.add_argument(
        "--rankdir",
        choices=("TB", "LR"),
        default="TB",
        help="top to bottom (default) or left to right",
    )
    p.add_argument("--dpi", type=_positive_int, default=96, help="resolution of a .png")
    p.add_argument(
        "--engine",
        choices=("auto", "graphviz", "matplotlib"),
        default="auto",
        help="auto (default): Graphviz when `dot` is installed, else matplotlib",
    )
    p.set_defaults(func=_cmd_plot)

    p = sub.add_parser(
        "plot-history",
        parents=[common],
        help="draw training curves",
        description="Draw the training curves of a CSVLogger file: loss and "
        "each metric per epoch, training and validation (needs "
        "the `plots` extra).",
    )
    p.add_argument("log", metavar="LOG.csv", help="a file written by callbacks.CSVLogger")
    p.add_argument(
        "-o", "--output", required=True, metavar="OUT.png", help="the picture (.png, .svg, .pdf)"
    )
    p.add_argument("--metrics", nargs="+", metavar="M", help="the curves to draw (default: all)")
    p.add_argument("--title", help="a title above the panels")
    p.add_argument("--dpi", type=_positive_int, default=100, help="resolution of a .png")
    p.set_defaults(func=_cmd_plot_history)

    p = sub.add_parser(
        "view",
        parents=[common],
        help="open a model in Netron",
        description="Serve the model to the Netron viewer on this machine, "
        "print the address and open it in the browser. .onnx "
        "(and the formats Netron reads, e.g. .keras) as they are; "
        "a .graphc or file.py:NAME through a temporary ONNX "
        "export. Needs the `view` extra (netron).",
    )
    p.add_argument("model", metavar="MODEL", help="model.onnx, model.graphc, file.py:NAME")
    p.add_argument("--host", default="localhost", help="address to serve on (localhost)")
    p.add_argument(
        "--port",
        type=int,
        default=None,
        help="port (default: 8080 or the next free one; 0 for any free port)",
    )
    p.add_argument("--no-browser", action="store_true", help="only serve and print the address")
    p.set_defaults(func=_cmd_view)
    return parser


def _one_line(e) -> str:
    text = " ".join(str(e).split())
    return text or type(e).__name__


def main(argv=None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 failure, 2 usage)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except _UsageError as e:
        print(f"graphc: error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # --help / --version
        return int(e.code or 0) if not isinstance(e.code, str) else 2
    if not getattr(args, "command", None):
        print(
            "graphc: error: a command is required: export, import, summary, run, eval, "
            "check, plot, plot-history or view (see 'graphc --help')",
            file=sys.stderr,
        )
        return 2

    def out(line=""):
        print(line, flush=True)

    try:
        return int(args.func(args, out) or 0)
    except KeyboardInterrupt:
        print("graphc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    except Exception as e:  # noqa: BLE001 - every failure becomes one line
        if debug:
            traceback.print_exc()
        # graphc's own errors, bad data and bad files say what went wrong themselves;
        # anything else is a bug somewhere and says so.
        from graphc.errors import GraphcError

        known = isinstance(e, (CliError, GraphcError, ValueError, OSError))
        prefix = "" if known else f"internal error: {type(e).__name__}: "
        hint = "" if known or debug else " (run with --debug for the traceback)"
        print(f"graphc: error: {prefix}{_one_line(e)}{hint}", file=sys.stderr)
        return 1
