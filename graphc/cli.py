"""The ``graphc`` command line (also ``python -m graphc``).

    graphc export model.py:build -o model.onnx [--opset N] [--no-optimize]
    graphc summary model.py:build
    graphc run model.onnx --input x.npz [-o out.npz]
    graphc eval model.onnx --data test.npz --loss sparse_categorical_crossentropy \
        --metrics accuracy
    graphc check model.onnx [--reference model.py:build]

A SPEC names a model: ``path/to/file.py:NAME`` where NAME is a Model or a function with no
required arguments returning one (``path/to/file.py`` alone works when the file defines
exactly one Model), or a saved ``.graphc`` model.

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
    ``model.onnx`` (imported with ``graphc.onnx.load``)."""
    from graphc.models import Model

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
            raise CliError(f"Cannot load {spec}: this graphc cannot read .graphc models yet; "
                           "use path/to/file.py:NAME")
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
                raise CliError(f"Cannot read model spec {spec!r}: expected "
                               "path/to/file.py:NAME or a saved model.graphc")
        if not os.path.isfile(path):
            raise CliError(f"No such file: {path}")
        module = _import_file(path)
        if name is None:
            found = [k for k, v in vars(module).items()
                     if isinstance(v, Model) and not k.startswith("_")]
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
                required = [p.name for p in sig.parameters.values()
                            if p.default is p.empty and p.kind in
                            (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
            except (TypeError, ValueError):
                required = []
            if required:
                raise CliError(f"{path}:{name} needs arguments ({', '.join(required)}); "
                               "the command line calls it with none")
            try:
                model = model()
            except Exception as e:
                raise CliError(f"{path}:{name}() failed: {type(e).__name__}: "
                               f"{_one_line(e)}") from e
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
        raise CliError(f"Cannot read {path}: {_one_line(e)} (object arrays are refused)") \
            from e
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
            raise CliError(f"The model has {len(names)} inputs ({', '.join(names)}); pass an "
                           f".npz keyed by those names instead of {path}")
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
    raise CliError(f"{path} has arrays {sorted(data)}; the model needs "
                   f"{', '.join(repr(n) for n in missing)}"
                   + (" (or 'x')" if len(names) == 1 else ""))


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
    result = export_with_report(model, args.output, opset=args.opset,
                                optimize=not args.no_optimize)
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
    out(f"Imported {args.model}: {len(model.inputs)} input(s), {len(model.outputs)} "
        f"output(s), {model.count_params():,} parameters ({len(model.trainable_weights)} "
        f"trainable weights) -> {output}")
    return 0


def _cmd_summary(args, out) -> int:
    model = load_spec(args.spec)
    model.summary(print_fn=out)
    return 0


def _cmd_run(args, out) -> int:
    rt = _runtime(args.model)
    data = _load_arrays(args.input, "input")
    preds = rt.predict(_inputs_for(rt, data, args.input), batch_size=args.batch_size)
    preds = [preds] if len(rt.outputs) == 1 else preds
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


def _cmd_eval(args, out) -> int:
    rt = _runtime(args.model)
    data = _load_arrays(args.data, "data")
    if isinstance(data, np.ndarray):
        raise CliError(f"{args.data} must be an .npz holding x and y (or the model's input "
                       "and output names)")
    x = _inputs_for(rt, data, args.data)
    outs = rt.output_names
    if all(n in data for n in outs) and not (len(outs) == 1 and "y" in data):
        y = {n: data[n] for n in outs}
    elif "y" in data and len(outs) == 1:
        y = data["y"]
    else:
        raise CliError(f"{args.data} has arrays {sorted(data)}; the targets must be 'y' or "
                       f"named after the outputs ({', '.join(outs)})")
    metrics = [m for item in (args.metrics or []) for m in item.split(",") if m]
    result = rt.evaluate(x, y, loss=args.loss, metrics=metrics or None,
                         batch_size=args.batch_size, sample_weight=data.get("sample_weight"))
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
    out(f"  opset: {opsets}; IR version {proto.ir_version}; producer "
        f"{proto.producer_name or '?'} {proto.producer_version}")

    def shape(vi):
        t = vi.type.tensor_type
        dims = [d.dim_param if d.dim_param else (d.dim_value if d.HasField("dim_value")
                                                 else "?") for d in t.shape.dim]
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
    out(f"  nodes: {len(proto.graph.node)} ("
        + ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))
        + ")")
    params = sum(int(np.prod(t.dims)) for t in proto.graph.initializer
                 if t.data_type in (1, 10, 11, 16))
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
        failed |= not _parity(rt, load_spec(args.reference), out)
    return 1 if failed else 0


def _parity(rt, model, out) -> bool:
    """Compare onnxruntime with the NumPy backend on random inputs at two batch sizes."""
    in_names = [v.name for v in model.inputs]
    if in_names != rt.input_names or len(model.outputs) != len(rt.output_names):
        out(f"  reference: inputs {in_names} / outputs {list(model.output_names)} do not "
            f"match the ONNX model's {rt.input_names} / {rt.output_names}")
        return False
    rng = np.random.default_rng(0)
    ok = True
    for batch in (1, 5):
        xs = []
        for v in model.inputs:
            dims = [batch if i == 0 and not isinstance(d, int) else
                    (d if isinstance(d, int) else 3) for i, d in enumerate(v.shape)]
            dt = np.dtype(v.dtype)
            xs.append(rng.uniform(-1, 1, dims).astype(dt) if dt.kind == "f"
                      else np.zeros(dims, dt))
        ref = model(xs[0] if len(xs) == 1 else xs)
        ref = [np.asarray(r) for r in flatten_struct(ref)]
        got = rt.predict(xs[0] if len(xs) == 1 else xs)
        got = [got] if len(rt.outputs) == 1 else got
        for name, a, b in zip(rt.output_names, got, ref):
            if a.shape != b.shape:
                out(f"  parity (batch {batch}) {name}: shape {a.shape} vs NumPy {b.shape}: "
                    "FAILED")
                ok = False
                continue
            diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
            worst = float(diff.max()) if diff.size else 0.0
            rel = float((diff / np.maximum(np.abs(b), 1e-12)).max()) if diff.size else 0.0
            good = bool(np.allclose(a, b, rtol=PARITY_RTOL, atol=PARITY_ATOL))
            ok &= good
            out(f"  parity (batch {batch}) {name}: max |diff| {worst:.3g}, max rel "
                f"{rel:.3g}: {'ok' if good else 'FAILED'} (rtol {PARITY_RTOL:g}, atol "
                f"{PARITY_ATOL:g})")
    return ok


# ---- the parser ------------------------------------------------------------------------
def _positive_int(text):
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") \
            from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    import graphc

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    parser = _Parser(prog="graphc", parents=[common],
                     description="Keras code, compiled: export models to ONNX and run them "
                                 "in onnxruntime.")
    parser.add_argument("--version", action="version", version=f"graphc {graphc.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    spec_help = ("the model: path/to/file.py:NAME (a Model, or a function with no required "
                 "arguments returning one), a saved model.graphc or a model.onnx to import")
    p = sub.add_parser("export", parents=[common], help="export a model to ONNX",
                       description="Export a model to ONNX, checked by onnx.checker and "
                                   "shape inference, written atomically.")
    p.add_argument("spec", metavar="SPEC", help=spec_help)
    p.add_argument("-o", "--output", required=True, metavar="OUT.onnx",
                   help="where to write the model")
    p.add_argument("--opset", type=int, default=None, metavar="N",
                   help="ONNX opset (default 18; 13 to the newest onnxruntime supports)")
    p.add_argument("--no-optimize", action="store_true",
                   help="skip the export passes (dead code, inference mode, Gemm fusion, "
                        "identity removal, transpose cancelling)")
    p.set_defaults(func=_cmd_export)

    p = sub.add_parser("import", parents=[common], help="import an ONNX model as .graphc",
                       description="Import an ONNX model with graphc.onnx.load and save it "
                                   "as a graphc model (to summarise, fine-tune, re-export).")
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("-o", "--output", required=True, metavar="OUT.graphc",
                   help="where to save the graphc model")
    p.add_argument("--frozen", action="store_true",
                   help="import the weights as non-trainable")
    p.set_defaults(func=_cmd_import)

    p = sub.add_parser("summary", parents=[common], help="print a model's summary",
                       description="Print the model summary (layers, output shapes, "
                                   "parameter counts).")
    p.add_argument("spec", metavar="SPEC", help=spec_help)
    p.set_defaults(func=_cmd_summary)

    p = sub.add_parser("run", parents=[common], help="predict with an ONNX model",
                       description="Run an ONNX model in onnxruntime on arrays from a .npy "
                                   "file (one input) or an .npz keyed by input names.")
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("--input", "-i", required=True, metavar="x.npy|x.npz",
                   help="the inputs (.npz keys: input names, or 'x' for a one-input model)")
    p.add_argument("-o", "--output", metavar="out.npz",
                   help="write the outputs here, keyed by output names")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="samples per onnxruntime run (default: all at once)")
    p.set_defaults(func=_cmd_run)

    p = sub.add_parser("eval", parents=[common], help="loss and metrics of an ONNX model",
                       description="Evaluate an ONNX model in onnxruntime with graphc's "
                                   "losses and metrics.")
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("--data", required=True, metavar="data.npz",
                   help="x and y (or arrays named after the inputs and outputs; optional "
                        "sample_weight)")
    p.add_argument("--loss", required=True, metavar="L",
                   help="a loss name as compile() accepts, e.g. mse, "
                        "sparse_categorical_crossentropy")
    p.add_argument("--metrics", nargs="+", metavar="M",
                   help="metric names (space or comma separated), e.g. accuracy")
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="samples per onnxruntime run (default: all at once)")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=_cmd_eval)

    p = sub.add_parser("check", parents=[common], help="inspect and validate an ONNX model",
                       description="Opset, inputs and outputs, node counts by op type, "
                                   "parameter count, onnx.checker and whether onnxruntime "
                                   "loads it; with --reference, parity with the NumPy "
                                   "backend. Exits 1 when a check fails.")
    p.add_argument("model", metavar="MODEL.onnx")
    p.add_argument("--reference", metavar="SPEC",
                   help="compare outputs with this model (same weights) run in NumPy")
    p.set_defaults(func=_cmd_check)
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
        print("graphc: error: a command is required: export, import, summary, run, eval or check "
              "(see 'graphc --help')", file=sys.stderr)
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
