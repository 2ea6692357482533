"""Keras 3's own files: ``.keras`` (a zip of ``metadata.json``, ``config.json`` and
``model.weights.h5``) and ``.weights.h5``, read and written so that Keras 3 and graphc
open each other's files.

The architecture is Keras's config (``Functional``: each layer with its calls as
``inbound_nodes`` of ``__keras_tensor__`` references; ``Sequential``: the list of layers);
graphc's layer configs already follow Keras's ``get_config``, so each layer config only
needs Keras's decorations removed (the ``DTypePolicy`` dicts, ``module`` keys, options
left at their default that graphc does not have) or added. The weights are an HDF5 tree
addressed as Keras's ``saving_lib`` walks a model: ``layers/<snake_case class name>``
(made unique per container: ``dense``, ``dense_1``), the layer's own variables in
``vars/0``, ``vars/1`` ... and its sub-layers under their attribute names (``cell`` of a
recurrent layer, ``forward_layer``/``backward_layer`` of ``Bidirectional``). The
optimizer's variables (SGD, Adam, AdamW, RMSprop, Adagrad) sit under ``optimizer/vars``.
Legacy Keras 2 ``.h5`` files (``model_config`` and ``model_weights``) are read too, their
weights matched by layer order as Keras's legacy loader does.

Safety, stricter than Keras's safe mode: the file only ever names classes, which are
looked up in graphc's table (nothing is imported from a ``module`` key, nothing is
unpickled or unmarshalled); a ``Lambda`` holding serialized Python code is refused; the
sizes in the zip are checked before reading; every HDF5 dataset's shape and dtype are
checked against the weight it fills before it is read (so a file cannot make graphc
allocate more than the model it describes), links out of the file are refused, and the
weights a config declares are capped (``MAX_WEIGHT_ELEMENTS``) before they are made.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import io
import json
import os
import struct
import zipfile
import zlib

import numpy as np

from graphc.errors import FileFormatError, GraphcError
from graphc.files import atomic_write
from graphc.layers import serialization
from graphc.layers.base import (
    InputLayer,
    _call_takes_mask,
    flatten_struct,
    to_snake_case,
)
from graphc.recording import get_keras_mask


def _weight_limit(filepath):
    """graphc's size limits on the weights a Keras file's config may ask for."""
    from graphc.models.saving import weight_budget

    return weight_budget(
        MAX_WEIGHT_ELEMENTS,
        MAX_TOTAL_ELEMENTS,
        filepath,
        f"graphc's limits for a loaded file ({MAX_WEIGHT_ELEMENTS:,} values "
        f"in one weight, {MAX_TOTAL_ELEMENTS:,} in all)",
    )


__all__ = [
    "save_keras",
    "load_keras",
    "save_weights_h5",
    "load_weights_h5",
    "is_keras_file",
    "MAX_WEIGHT_ELEMENTS",
    "MAX_TOTAL_ELEMENTS",
    "MAX_CONFIG_BYTES",
    "MAX_WEIGHTS_BYTES",
    "UnsafeFileError",
    "load_legacy_h5",
    "load_legacy_weights",
]

#: The Keras version graphc's files say they were written with (the format it follows).
KERAS_VERSION = "3.15.1"
#: Limits checked before anything is read or allocated.
MAX_CONFIG_BYTES = 64 * 2**20
# HDF5 keeps attributes in the object header, which holds at most this many bytes.
_HDF5_HEADER_LIMIT = 64512
MAX_WEIGHTS_BYTES = 16 * 2**30
MAX_WEIGHT_ELEMENTS = 2**31  # one weight's elements (8 GiB of float32)
MAX_TOTAL_ELEMENTS = 2**32  # all the weights' elements (16 GiB of float32)

_CONFIG = "config.json"
_METADATA = "metadata.json"
_WEIGHTS = "model.weights.h5"


class UnsafeFileError(GraphcError, ValueError):
    """A Keras file holds something graphc refuses to load (code, links out of the file,
    sizes beyond the limits)."""


def _h5py():
    try:
        import h5py
    except ImportError as e:  # pragma: no cover - h5py is a dependency
        raise ImportError(
            "Reading and writing Keras's .keras and .weights.h5 files needs h5py: pip install h5py"
        ) from e
    return h5py


#: What h5py, zipfile, zlib and the readers raise on a damaged file.
_DAMAGE = (
    OSError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    EOFError,
    RuntimeError,
    OverflowError,
    zipfile.BadZipFile,
    zlib.error,
    struct.error,
)


@contextlib.contextmanager
def reading(filepath):
    """Every failure while reading ``filepath`` as a Keras file is a ``FileFormatError``
    (graphc's typed error; a ``ValueError`` too, as before): the readers' own messages
    as they are, and what h5py, zipfile or zlib raise on a damaged file with the file's
    name and what to do. A missing or unreadable path stays the ``OSError`` it is."""
    try:
        yield
    except (GraphcError, FileNotFoundError, PermissionError, IsADirectoryError):
        raise
    except RecursionError:
        raise UnsafeFileError(f"{filepath}: the file is nested too deeply.") from None
    except ValueError as e:
        raise FileFormatError(str(e)) from e
    except _DAMAGE as e:
        raise FileFormatError(
            f"{filepath} is damaged or is not a Keras file ({type(e).__name__}: "
            f"{str(e)[:300]}). Save it again from the model, or use an undamaged copy."
        ) from e


def _reader(filepath_arg):
    """Decorate a public reader: its ``filepath_arg``-th argument is the file."""

    def wrap(fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            with reading(os.fspath(args[filepath_arg])):
                return fn(*args, **kwargs)

        return run

    return wrap


def is_keras_file(filepath) -> bool:
    """A ``.keras`` archive (by name, or by its members when the name says nothing)."""
    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):
        return True
    if filepath.endswith(".graphc") or not zipfile.is_zipfile(filepath):
        return False
    try:
        with zipfile.ZipFile(filepath) as z:
            return {_CONFIG, _METADATA, _WEIGHTS} <= set(z.namelist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return False  # a damaged archive: the .graphc reader says what is wrong


# ---- Keras config -> graphc ---------------------------------------------------------------
# Keras options graphc does not have, dropped when they hold Keras's default (any other
# value stays, so graphc's constructor names it in its error).
_KERAS_DEFAULTS = {
    "optional": False,
    "ragged": False,
    "sparse": False,
    "quantization_config": None,
    "input_axes": None,
    "output_axes": None,
    "renorm": False,
    "renorm_clipping": None,
    "renorm_momentum": 0.99,
    "lora_rank": None,
    "lora_alpha": None,
    "lora_enabled": False,
}
_DTYPE_POLICIES = ("DTypePolicy", "FloatDTypePolicy")
_MODEL_CLASSES = ("Functional", "Sequential", "Model")


def _lambda_error(where: str) -> UnsafeFileError:
    return UnsafeFileError(
        f"{where} holds serialized Python code (a Lambda layer or a lambda function); "
        "graphc never runs code from a file. Define the function in your program, "
        "register it (`@graphc.saving.register_serializable()` on a custom layer that "
        "calls it, or pass `custom_objects={'name': fn}`) and save the model with a "
        "named function instead of a lambda."
    )


def _clean(obj, where: str):
    """Keras's config decorations to graphc's plain config, refusing code."""
    if isinstance(obj, list):
        return [_clean(v, where) for v in obj]
    if not isinstance(obj, dict):
        return obj
    name = obj.get("class_name")
    if name == "__lambda__" or name == "Lambda":
        raise _lambda_error(where)
    if name in _DTYPE_POLICIES:
        return (obj.get("config") or {}).get("name", "float32")
    if name == "__tuple__":
        return [_clean(v, where) for v in (obj.get("config") or {}).get("value", [])]
    if name in ("__bytes__", "__typespec__", "__tensor__"):
        raise UnsafeFileError(
            f"{where} holds a serialized {name[2:-2]}, which graphc does not load."
        )
    if name == "__numpy__":
        cfg = obj.get("config") or {}
        return np.asarray(cfg.get("value"), dtype=np.dtype(str(cfg.get("dtype")))).tolist()
    out = {}
    for k, v in obj.items():
        if k in ("module", "registered_name", "shared_object_id", "build_config", "compile_config"):
            continue
        if k in _KERAS_DEFAULTS and v == _KERAS_DEFAULTS[k]:
            continue
        out[k] = _clean(v, where)
    if name is not None and obj.get("registered_name") and ">" in str(obj["registered_name"]):
        out["class_name"] = obj["registered_name"]  # a custom class: "package>Name"
    return out


def _layer_from_keras(spec: dict, custom_objects, where: str):
    name = spec.get("class_name")
    if name in _MODEL_CLASSES:
        return _model_from_keras(spec, custom_objects, where)
    if name == "Lambda" or name == "__lambda__":
        raise _lambda_error(f"Layer {spec.get('config', {}).get('name')!r} at {where}")
    layer_name = (spec.get("config") or {}).get("name")
    clean = _clean(spec, f"layer {layer_name!r} ({name}) at {where}")
    try:
        return serialization.deserialize(
            {"class_name": clean["class_name"], "config": clean.get("config", {})}, custom_objects
        )
    except (TypeError, ValueError) as e:
        raise ValueError(f"Cannot load layer {layer_name!r} ({name}) at {where}: {e}") from None


def _keras_op(spec: dict, where: str):
    """An operation Keras recorded outside layers (``NotEqual`` for an Embedding's mask):
    the graphc.ops function of the same name."""
    from graphc import ops

    fn_name = to_snake_case(spec["class_name"])
    fn = getattr(ops, fn_name, None)
    if fn is None or not callable(fn):
        raise ValueError(f"Operation {spec['class_name']!r} ({where}) has no graphc equivalent.")
    # The operation's own arguments (``Any``'s axis and keepdims) are in its config.
    attrs = {k: v for k, v in _clean(spec.get("config") or {}, where).items() if k != "name"}

    def call(*args, **kwargs):
        return fn(*args, **attrs, **kwargs)

    return call


def _model_from_keras(spec: dict, custom_objects, where: str = "the model"):
    from graphc.models.functional import Model
    from graphc.models.sequential import Sequential

    cls_name = spec.get("class_name")
    config = spec.get("config") or {}
    name = config.get("name")
    here = f"{where}/{name}" if where != "the model" else name
    if cls_name == "Sequential":
        model = Sequential(name=name, trainable=config.get("trainable", True))
        for layer_spec in config.get("layers", []):
            model.add(_layer_from_keras(layer_spec, custom_objects, here))
        build_shape = config.get("build_input_shape")
        if model._input_value is None and build_shape is not None:
            model.build(tuple(build_shape))
        return model
    if cls_name not in ("Functional", "Model"):
        raise ValueError(f"Unknown model class {cls_name!r} at {where}.")
    created, ops_fns, pending = {}, {}, []
    for entry in config.get("layers", []):
        lname = entry.get("name") or (entry.get("config") or {}).get("name")
        module = str(entry.get("module") or "")
        if module.startswith("keras.src.ops") or module.startswith("keras.ops"):
            ops_fns[lname] = _keras_op(entry, f"{here}/{lname}")
        else:
            created[lname] = _layer_from_keras(entry, custom_objects, here)
        pending.append((lname, list(entry.get("inbound_nodes") or [])))
    produced: dict = {}  # (layer name, node index) -> flat outputs
    counts: dict = {}
    for lname, layer in created.items():
        if isinstance(layer, InputLayer):
            produced[(lname, 0)] = [layer.output]
            counts[lname] = 1

    def tensor(history, model_io=False):
        lname, node, k = history[0], int(history[1]), int(history[2])
        if (
            model_io
            and isinstance(created.get(lname), Model)
            and not isinstance(created.get(lname), Sequential)
        ):
            # In input_layers/output_layers (not in the calls' arguments) Keras counts a
            # functional model's own construction as its node 0.
            node -= 1
        if (lname, node) not in produced:
            raise IndexError(lname)
        return produced[(lname, node)][k]

    def resolve(obj):
        if isinstance(obj, dict):
            if obj.get("class_name") == "__keras_tensor__":
                return tensor(obj["config"]["keras_history"])
            if obj.get("class_name") in ("__tuple__",):
                return tuple(resolve(v) for v in obj["config"]["value"])
            if "class_name" in obj and "config" in obj:
                return _clean(obj, here)
            return {k: resolve(v) for k, v in obj.items()}
        if isinstance(obj, list):
            if (
                len(obj) == 3
                and isinstance(obj[0], str)
                and isinstance(obj[1], int)
                and isinstance(obj[2], int)
                and (obj[0] in created or obj[0] in ops_fns)
            ):
                return tensor(obj)  # Keras 2-style [layer, node, tensor] reference
            return [resolve(v) for v in obj]
        return obj

    queue = [(n, nodes) for n, nodes in pending if nodes]
    while queue:
        progressed, rest = False, []
        for lname, nodes in queue:
            done = 0
            for node in nodes:
                try:
                    if isinstance(node, dict) and "args" in node:
                        args = resolve(node.get("args", []))
                        kwargs = resolve(node.get("kwargs", {}) or {})
                    else:
                        args, kwargs = [resolve(node)], {}
                except IndexError:
                    break
                kwargs.pop("training", None)
                mask = kwargs.pop("mask", None)
                # Keras writes the masks it passed; graphc's layers pass masks on by
                # themselves, so an explicit one is given only where none travels.
                first = flatten_struct(args[0])[0] if args and flatten_struct(args[0]) else None
                if (
                    mask is not None
                    and lname in created
                    and _call_takes_mask(type(created[lname]))
                    and (first is None or get_keras_mask(first) is None)
                ):
                    kwargs["mask"] = mask
                if lname in ops_fns:
                    out = ops_fns[lname](*args, **kwargs)
                else:
                    out = created[lname](*args, **kwargs)
                idx = counts.get(lname, 0)
                produced[(lname, idx)] = flatten_struct(out)
                counts[lname] = idx + 1
                done += 1
            if done:
                progressed = True
            if done < len(nodes):
                rest.append((lname, nodes[done:]))
        if not progressed:
            raise ValueError(
                f"Invalid functional config in {here}: the calls of "
                f"{[n for n, _ in rest]} cannot be resolved (a loop or a "
                "reference to a missing layer)."
            )
        queue = rest

    def refs(struct):
        if isinstance(struct, list) and len(struct) == 3 and isinstance(struct[0], str):
            return tensor(struct, model_io=True)
        if isinstance(struct, dict):
            return {k: refs(v) for k, v in struct.items()}
        return [refs(v) for v in struct]

    inputs = refs(config["input_layers"])
    outputs = refs(config["output_layers"])
    # Keras 3 calls a model built on one-element lists with one tensor and returns one
    # (``unpack_singleton``); Keras 2 files list even a single input and output.
    inputs = inputs[0] if isinstance(inputs, list) and len(inputs) == 1 else inputs
    outputs = outputs[0] if isinstance(outputs, list) and len(outputs) == 1 else outputs
    model = Model(inputs, outputs, name=name)
    model.trainable = config.get("trainable", True)
    return model


# ---- graphc -> Keras config ---------------------------------------------------------------
_MODULES = {
    "initializer": "keras.initializers",
    "regularizer": "keras.regularizers",
    "constraint": "keras.constraints",
}


def _decorate(obj, key=""):
    """graphc's config to Keras's: nested objects get Keras's ``module`` key."""
    if isinstance(obj, list):
        return [_decorate(v, key) for v in obj]
    if not isinstance(obj, dict):
        return obj
    out = {k: _decorate(v, k) for k, v in obj.items()}
    if "class_name" in obj and "config" in obj and "module" not in obj:
        module = next((m for suffix, m in _MODULES.items() if key.endswith(suffix)), None)
        if module is None:
            module = "keras.layers"
        out = {"module": module, **out}
        out.setdefault("registered_name", None)
    return out


def _layer_to_keras(layer) -> dict:
    from graphc.models.functional import Model

    if isinstance(layer, Model):
        return _model_to_keras(layer)
    from graphc.layers.op_layer import OpLayer

    if isinstance(layer, OpLayer):
        return _op_to_keras(layer)
    cls = serialization.class_name(layer)
    registered = cls if ">" in cls else None
    spec = {
        "module": "keras.layers",
        "class_name": cls.split(">")[-1],
        "config": _decorate(layer.get_config()),
        "registered_name": registered,
    }
    if registered:
        spec["module"] = None
    keras_module = getattr(type(layer), "_keras_module", None)
    if keras_module:  # a Keras class outside keras.layers (ConvNeXt's LayerScale)
        spec["module"], spec["registered_name"] = keras_module, spec["class_name"]
    return spec


_NN_OPS = {
    "relu",
    "relu6",
    "sigmoid",
    "softplus",
    "softsign",
    "silu",
    "gelu",
    "elu",
    "selu",
    "leaky_relu",
    "hard_sigmoid",
    "log_softmax",
    "softmax",
}


def _op_to_keras(layer) -> dict:
    """An op applied outside layers (``a + b``, ``ops.relu(x)``): Keras's operation entry
    of the same name, for the ops without attributes; scalar constants go inline."""
    bad = [v for v in layer.constants.values() if np.ndim(v) != 0]
    if layer.attrs or bad:
        raise NotImplementedError(
            f"Cannot write {layer.name!r} (op {layer.op!r} applied outside a layer, with "
            f"{'attributes' if layer.attrs else 'array constants'}) to a .keras file; "
            "wrap it in a layer (e.g. layers.Add for `a + b`), or save as .graphc."
        )
    name = "".join(part.capitalize() for part in layer.op.split("_"))
    module = "keras.src.ops.nn" if layer.op in _NN_OPS else "keras.src.ops.numpy"
    return {
        "module": module,
        "class_name": name,
        "config": {"name": layer.name},
        "registered_name": name,
    }


def _op_args(layer, inputs, tensors) -> list:
    symbolic = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    it = iter(symbolic)
    n = len(symbolic) + len(layer.constants)
    return [
        np.asarray(layer.constants[i]).item() if i in layer.constants else tensors(next(it))
        for i in range(n)
    ]


def _tensor_ref(v, ref) -> dict:
    return {
        "class_name": "__keras_tensor__",
        "config": {"shape": list(v.shape), "dtype": str(v.dtype), "keras_history": ref(v)},
    }


def _model_to_keras(model) -> dict:
    from graphc.models._topology import layer_calls
    from graphc.models.functional import Model
    from graphc.models.sequential import Sequential

    if isinstance(model, Sequential):
        stack = []
        if model._input_value is not None:
            stack.append(_layer_to_keras(model._input_value.layer))
        stack += [_layer_to_keras(layer) for layer in model.layers]
        config = {
            "name": model.name,
            "trainable": model.trainable,
            "dtype": "float32",
            "layers": stack,
        }
        if model._input_value is not None:
            config["build_input_shape"] = list(model._input_value.shape)
        return {
            "module": "keras",
            "class_name": "Sequential",
            "config": config,
            "registered_name": None,
            "build_config": {"input_shape": config.get("build_input_shape")},
        }
    graph = model.graph
    calls, producer_call = layer_calls(graph)
    local_index: dict = {}
    counts: dict = {}
    entries: dict = {}
    order = []

    def ref(v, model_io=False):
        src = producer_call[v]
        outs = flatten_struct(src.layer._calls[src.index][1])
        k = next((j for j, o in enumerate(outs) if o is v), 0)
        node = local_index[(id(src.layer), src.index)]
        if model_io and isinstance(src.layer, Model) and not isinstance(src.layer, Sequential):
            node += 1  # in input/output_layers, a functional model's node 0 is its own
        return [src.layer.name, node, k]

    def tensors(struct):
        if isinstance(struct, dict):
            return {k: tensors(v) for k, v in struct.items()}
        if isinstance(struct, (list, tuple)):
            return [tensors(v) for v in struct]
        return _tensor_ref(struct, ref)

    from graphc.layers.attention import MultiHeadAttention
    from graphc.layers.op_layer import OpLayer

    for call in sorted(calls, key=lambda c: c.last):
        key = id(call.layer)
        if key not in entries:
            entries[key] = {
                **_layer_to_keras(call.layer),
                "name": call.layer.name,
                "inbound_nodes": [],
            }
            order.append(key)
        local_index[(key, call.index)] = counts.get(key, 0)
        counts[key] = local_index[(key, call.index)] + 1
        if isinstance(call.layer, InputLayer):
            continue
        inputs = call.layer._calls[call.index][0]
        if isinstance(call.layer, OpLayer):
            args = _op_args(call.layer, inputs, tensors)
        elif isinstance(call.layer, MultiHeadAttention) and isinstance(inputs, (list, tuple)):
            args = [tensors(x) for x in inputs]  # Keras: query, value[, key] positionally
        else:
            args = [tensors(inputs)]
        extras = call.layer._call_extras.get(call.index) or {}
        options = call.layer.__dict__.get("_call_options", {}).get(call.index) or {}
        entries[key]["inbound_nodes"].append(
            {"args": args, "kwargs": {**{k: tensors(v) for k, v in extras.items()}, **options}}
        )

    def refs(struct):
        if isinstance(struct, dict):
            return {k: refs(v) for k, v in struct.items()}
        if isinstance(struct, (list, tuple)):
            return [refs(v) for v in struct]
        return ref(struct, model_io=True)

    config = {
        "name": model.name,
        "trainable": model.trainable,
        "layers": [entries[k] for k in order],
        "input_layers": refs(model._input_struct),
        "output_layers": refs(model._output_struct),
    }
    return {
        "module": "keras.src.models.functional",
        "class_name": "Functional",
        "config": config,
        "registered_name": "Functional",
        "build_config": {"input_shape": None},
    }


# ---- the weight tree ----------------------------------------------------------------------
def _keras_class(layer) -> str:
    from graphc.models.functional import Model
    from graphc.models.sequential import Sequential

    if isinstance(layer, Sequential):
        return "Sequential"
    if isinstance(layer, Model):
        return "Functional"
    # A registered class stands for the Keras class of its registered name ("pkg>Name"):
    # Keras names its weight group after that class.
    registered = getattr(type(layer), "_registered_name", None)
    return registered.split(">")[-1] if registered else type(layer).__name__


def _own(layer) -> list:
    return [p for p in layer._params if p._trainable] + [
        p for p in layer._params if not p._trainable
    ]


def _name_key(name: str) -> str:
    return f"~{name}" if name.startswith("_") else name


_MHA_PUBLIC = ("key_dense", "output_dense", "query_dense", "value_dense")


def _children(layer) -> list:
    """``(attribute name, sub-layer)`` as Keras's saving walk names them."""
    from graphc.layers.attention import GroupedQueryAttention, MultiHeadAttention
    from graphc.layers.recurrent import Bidirectional

    if isinstance(layer, Bidirectional):
        return [("backward_layer", layer.backward_layer), ("forward_layer", layer.forward_layer)]
    own = getattr(layer, "_keras_children", None)
    if own is not None:  # a layer holding a list of layers (StackedRNNCells's cells)
        return own()
    if isinstance(layer, MultiHeadAttention):
        # Keras's MultiHeadAttention has public properties for all but the gate (the
        # walk saves a sub-layer under the first name it meets, public names first);
        # GroupedQueryAttention has none.
        public = () if isinstance(layer, GroupedQueryAttention) else _MHA_PUBLIC
        out = [
            (attr.lstrip("_") if attr.lstrip("_") in public else attr, getattr(layer, attr, None))
            for attr in (
                "_gate_dense",
                "_key_dense",
                "_output_dense",
                "_query_dense",
                "_value_dense",
            )
        ]
        out = [(a, sub) for a, sub in out if sub is not None]
        return sorted(out, key=lambda kv: _name_key(kv[0]))
    found = [(k, v) for k, v in vars(layer).items() if v in layer._sublayers]
    return sorted(found, key=lambda kv: _name_key(kv[0]))


def weight_groups(model) -> list:
    """``(h5 group path, layer name, [weights])`` for every layer Keras's walk visits,
    in its order (the model's own ``vars`` first)."""
    return [(path, name, params) for path, name, params, _ in _walk_layers(model)]


def asset_layers(model) -> list:
    """``(assets directory, layer)`` for every layer of Keras's walk that keeps assets
    (``save_assets_dict``/``load_assets_dict``: a lookup layer's vocabulary), the
    directory as Keras's ``assets/<inner path>``."""
    out = []
    for path, _, _, layer in _walk_layers(model):
        if path.endswith("/vars") and hasattr(layer, "save_assets_dict"):
            out.append(("assets/" + path[: -len("/vars")], layer))
    return out


def _named_variables(layer) -> dict:
    """The variables a layer keeps outside its weights, by Keras's names (a tf_idf
    lookup layer's ``idf_weights``): ``save_own_variables_dict()``."""
    get = getattr(layer, "save_own_variables_dict", None)
    return get() if get is not None else {}


#: The most bytes one asset file (a vocabulary) may hold.
MAX_ASSET_BYTES = 256 * 2**20


def collect_assets(model) -> dict:
    """``{zip member name: bytes}`` of the assets of ``model``'s layers (Keras's
    ``save_assets``: ``assets/<inner path>/vocabulary.txt``)."""
    out = {}
    for directory, layer in asset_layers(model):
        for name, data in layer.save_assets_dict().items():
            out[f"{directory}/{name}"] = data
    return out


def restore_assets(model, z, names, source) -> list:
    """Give each layer that keeps assets its files from the zip ``z`` (Keras's
    ``load_assets``); returns the asset names no layer took."""
    unread = set(names)
    for directory, layer in asset_layers(model):
        prefix = directory + "/"
        mine = [n for n in names if n.startswith(prefix) and "/" not in n[len(prefix) :]]
        if not mine:
            continue
        files = {n[len(prefix) :]: _read_member(z, n, MAX_ASSET_BYTES, source) for n in mine}
        layer.load_assets_dict(files)
        unread -= set(mine)
    return sorted(unread)


def _walk_layers(model) -> list:
    from graphc.layers.recurrent import _RNN
    from graphc.models.functional import Model

    out, seen = [], set()

    def walk(layer, path):
        if id(layer) in seen:
            return
        seen.add(id(layer))

        def join(*parts):
            return "/".join(x for x in (path,) + parts if x)

        if isinstance(layer, Model):
            out.append((join("vars"), layer.name, [], layer))
            used: dict = {}
            for sub in layer.layers:
                base = to_snake_case(_keras_class(sub))
                if base in used:
                    used[base] += 1
                    name = f"{base}_{used[base]}"
                else:
                    used[base] = 0
                    name = base
                walk(sub, join("layers", name))
            return
        if isinstance(layer, _RNN):  # Keras keeps a recurrent layer's weights in its cell
            out.append((join("vars"), layer.name, [], layer))
            cell = f"{to_snake_case(type(layer).__name__)}_cell"
            out.append((join("cell", "vars"), cell, _own(layer), None))
            return
        out.append((join("vars"), layer.name, _own(layer), layer))
        for attr, sub in _children(layer):
            walk(sub, join(attr))

    walk(model, "")
    return out


# Keras's optimizer variables after ``iterations`` (and ``learning_rate`` unless it is a
# schedule): one group per ``add_optimizer_variables`` call, each interleaved over the
# trainable variables ([m_w0, v_w0, m_w1, v_w1, ...] for Adam). graphc's slots have the
# same names.
_SLOT_GROUPS = {
    "SGD": [["momentum"]],
    "Adam": [["momentum", "velocity"], ["velocity_hat"]],
    "AdamW": [["momentum", "velocity"], ["velocity_hat"]],
    "RMSprop": [["velocity"], ["momentum"], ["average_gradient"]],
    "Adagrad": [["accumulator"]],
}


def _plain_lr(opt) -> bool:
    from graphc.schedules import LearningRateSchedule

    lr = opt._learning_rate
    return not isinstance(lr, LearningRateSchedule) and not callable(lr)


def _single_layout(opt, params):
    """One optimizer's variables in Keras's order, ``(name, param or None, opt)``, or
    None when graphc does not map its state."""
    groups = _SLOT_GROUPS.get(type(opt).__name__)
    if groups is None or opt.use_ema or opt.gradient_accumulation_steps:
        return None
    layout = [("iterations", None, opt)]
    if _plain_lr(opt):
        layout.append(("learning_rate", None, opt))
    for group in groups:
        group = [g for g in group if g in opt._slots]
        for p in params:
            layout.extend((slot, p, opt) for slot in group)
    return layout


def _multi_layouts(opt, store):
    """A MultiOptimizer's variables as Keras 3.15 orders them (``MultiOptimizer.
    variables``: its own iteration and learning rate (0.0), then each inner optimizer's
    variables over its own weights, in ``optimizers`` order): ``[(inner or None,
    layout)]``, the first for the MultiOptimizer's own two; None when an inner
    optimizer's state is not mapped."""
    owner = np.full(len(store.values), -1)
    for k, (_, index, _) in enumerate(opt._groups):
        owner[index] = k
    out = [(None, [("iterations", None, opt), ("learning_rate", None, opt)])]
    inner_of = {id(g[0]): k for k, g in enumerate(opt._groups)}
    for inner in opt._inner_optimizers:
        k = inner_of.get(id(inner))
        mine = [
            p
            for p, seg in zip(store.params, store.segments)
            if k is not None and owner[_segment_start(seg)] == k
        ]
        layout = _single_layout(inner, mine)
        if layout is None:
            return None
        out.append((inner, layout))
    return out


def _segment_start(seg) -> int:
    return int(seg.start if isinstance(seg, slice) else seg[0])


def _optimizer_layout(model):
    """``(optimizer, store, [(name, param or None, owner)])`` in Keras's variable order
    (``owner``: the optimizer whose iteration or learning rate it is), or None when
    graphc does not map this optimizer's state."""
    from graphc.optimizers import MultiOptimizer

    c = getattr(model, "_compiled", None)
    store = getattr(model, "_store", None)
    if c is None or store is None or not c.optimizer.built:
        return None
    opt = c.optimizer
    if isinstance(opt, MultiOptimizer):
        parts = _multi_layouts(opt, store)
        if parts is None:
            return None
        return opt, store, [entry for _, layout in parts for entry in layout]
    layout = _single_layout(opt, store.params)
    return None if layout is None else (opt, store, layout)


def _optimizer_value(opt, state, slot, p, owner, seg):
    if slot == "iterations":
        n = state["iteration"] if owner is opt else owner._iterations
        return np.asarray(n, dtype=np.int64)
    if slot == "learning_rate":
        if owner is opt:
            return np.asarray(state.get("learning_rate", 0.0), dtype=np.float32)
        return np.asarray(owner._learning_rate, dtype=np.float32)
    return state[slot][seg[id(p)]].reshape(p.shape).astype(np.float32)


def _write_optimizer(model, h) -> None:
    from graphc.optimizers import MultiOptimizer

    found = _optimizer_layout(model)
    if found is None:
        return
    opt, store, layout = found
    state = opt.get_state()
    seg = dict(zip(map(id, store.params), store.segments))
    g = h.require_group("optimizer/vars")
    g.attrs["name"] = getattr(opt, "name", type(opt).__name__.lower())
    for i, (slot, p, owner) in enumerate(layout):
        g.create_dataset(str(i), data=_optimizer_value(opt, state, slot, p, owner, seg))
    if isinstance(opt, MultiOptimizer):
        # Keras's saving walk visits the inner optimizers too (its `optimizers` list):
        # each one's variables again at optimizer/optimizers/<class in snake case>/vars
        used: dict = {}
        for inner, part in _multi_layouts(opt, store)[1:]:
            base = to_snake_case(type(inner).__name__)
            used[base] = used.get(base, -1) + 1
            name = base if used[base] == 0 else f"{base}_{used[base]}"
            sub = h.require_group(f"optimizer/optimizers/{name}/vars")
            sub.attrs["name"] = getattr(inner, "name", base)
            for i, (slot, p, owner) in enumerate(part):
                sub.create_dataset(str(i), data=_optimizer_value(opt, state, slot, p, owner, seg))


def _read_optimizer(model, f, source) -> None:
    """Keras's optimizer variables (``optimizer/vars/0``, ``1``, ...) into the compiled
    model's optimizer."""
    h5py = _h5py()
    with h5py.File(f, "r") as h:
        if "optimizer" not in h or "vars" not in h["optimizer"]:
            return
        _check_no_links(h, "/")
        _check_no_links(h["optimizer"], "optimizer")
        g = h["optimizer/vars"]
        _check_no_links(g, "optimizer/vars")
        _set_optimizer_vars(
            model, [g[str(i)] if str(i) in g else None for i in range(len(g))], source
        )


def _set_optimizer_vars(model, datasets, source) -> None:
    """``datasets`` (Keras's optimizer variables in Keras's order) into the compiled
    model's optimizer, each checked against its slot's shape before it is read; a file
    that does not fit leaves the optimizer fresh, with a warning (as Keras does)."""
    import warnings

    h5py = _h5py()
    model._param_store()
    found = _optimizer_layout(model)
    if all(isinstance(ds, h5py.Dataset) and ds.shape == () for ds in datasets):
        return  # an optimizer that never took a step: nothing but its counters
    if found is None or len(datasets) != len(found[2]):
        warnings.warn(
            f"{source}: the optimizer state ({len(datasets)} variables) does not fit "
            "graphc's optimizer; training starts with a fresh optimizer "
            "state.",
            stacklevel=5,
        )
        return
    opt, store, layout = found
    state = opt.get_state()
    seg = dict(zip(map(id, store.params), store.segments))
    inner_iterations = []
    for i, ((slot, p, owner), ds) in enumerate(zip(layout, datasets)):
        want = () if p is None else tuple(p.shape)
        if (
            not isinstance(ds, h5py.Dataset)
            or tuple(ds.shape) != want
            or ds.dtype.kind not in "fiu"
            or ds.is_virtual
            or ds.external
        ):
            warnings.warn(
                f"{source}: optimizer variable {i} ({slot}) does not fit; "
                "training starts with a fresh optimizer state.",
                stacklevel=5,
            )
            return
        value = np.asarray(ds[()])
        if slot == "iterations" and owner is not opt:  # a MultiOptimizer's inner one
            inner_iterations.append((owner, int(value)))
        elif slot == "iterations":
            state["iteration"] = value.astype(np.int64)
        elif slot == "learning_rate":
            continue  # the compile config's learning rate is the same
        else:
            state[slot][seg[id(p)]] = value.reshape(-1)
    opt.set_state(state)
    for inner, n in inner_iterations:
        inner._iterations = n


def _write_h5(model, f, optimizer=False) -> None:
    h5py = _h5py()
    with h5py.File(f, "w") as h:
        for path, name, params, layer in _walk_layers(model):
            g = h.require_group(path)
            g.attrs["name"] = name
            for i, p in enumerate(params):
                g.create_dataset(str(i), data=p.numpy())
            # variables Keras stores by name (a tf_idf lookup's "idf_weights")
            for key, value in _named_variables(layer).items():
                g.create_dataset(key, data=value)
        if optimizer:
            _write_optimizer(model, h)


def _check_no_links(group, where: str) -> None:
    h5py = _h5py()
    for key in group:
        link = group.get(key, getlink=True)
        if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
            raise UnsafeFileError(
                f"{where}/{key} is a link ({type(link).__name__}); "
                "graphc reads only data stored in the file itself."
            )


def _read_h5(model, f, source: str) -> None:
    """Fill ``model``'s weights from an open HDF5 weight tree, every dataset checked
    against the weight it fills before it is read; nothing is assigned until all fit."""
    h5py = _h5py()
    arrays, loads = [], []
    with h5py.File(f, "r") as h:
        if "_layer_checkpoint_dependencies" in h:
            raise ValueError(
                f"{source} is a TensorFlow-checkpoint-style HDF5 file, which "
                "graphc does not read; re-save it with Keras 3 as .keras."
            )
        checked: set = set()  # groups already scanned for links (each once, not per layer)
        for path, name, params, layer in _walk_layers(model):
            group_path = path.rsplit("/", 1)[0] if "/" in path else ""
            g = h
            for part in path.split("/"):
                if g.name not in checked:
                    _check_no_links(g, group_path or "/")
                    checked.add(g.name)
                if part not in g:
                    g = None
                    break
                g = g[part]
            named = tuple(getattr(layer, "own_variable_names", tuple)())
            n = 0 if g is None else len([k for k in g if k not in named])
            if n != len(params):
                raise ValueError(
                    f"{source}: layer {name!r} expects {len(params)} variables at "
                    f"{path!r}, the file has {n}. The file does not fit this model "
                    f"({model.name!r})."
                )
            if g is not None:
                _check_no_links(g, path)
            for i, p in enumerate(params):
                ds = g[str(i)]
                if not isinstance(ds, h5py.Dataset):
                    raise ValueError(f"{source}: {path}/{i} is not a dataset")
                if ds.is_virtual or ds.external:
                    raise UnsafeFileError(
                        f"{source}: {path}/{i} stores its data outside the file; graphc refuses it."
                    )
                if tuple(ds.shape) != tuple(p.shape):
                    raise ValueError(
                        f"{source}: weight {p.path} of layer {name!r} has shape "
                        f"{tuple(p.shape)}, the file's {path}/{i} has "
                        f"{tuple(ds.shape)}."
                    )
                if ds.dtype.kind not in "fiub":
                    raise UnsafeFileError(
                        f"{source}: {path}/{i} has dtype {ds.dtype}; only numeric weights are read."
                    )
                arrays.append((p, np.asarray(ds[()]).astype(p.dtype, copy=False)))
            found = {}
            for key in named:
                ds = g.get(key) if g is not None else None
                if isinstance(ds, h5py.Dataset) and not (ds.is_virtual or ds.external):
                    if ds.dtype.kind in "fiub":
                        found[key] = np.asarray(ds[()])
            if found:
                loads.append((layer, found))
    for p, a in arrays:
        p.assign(a)
    for layer, found in loads:
        layer.load_own_variables_dict(found)


# ---- files --------------------------------------------------------------------------------
def save_weights_h5(model, filepath) -> None:
    """Keras's ``.weights.h5``: the weight tree and, as Keras writes it for a compiled
    model, the optimizer's variables."""
    buf = io.BytesIO()
    _write_h5(model, buf, optimizer=getattr(model, "_compiled", None) is not None)
    data = buf.getvalue()
    atomic_write(os.fspath(filepath), lambda f: f.write(data))


@_reader(1)
def load_weights_h5(model, filepath) -> None:
    filepath = os.fspath(filepath)
    if os.path.getsize(filepath) > MAX_WEIGHTS_BYTES:
        raise UnsafeFileError(
            f"{filepath} is larger than graphc's limit ({MAX_WEIGHTS_BYTES} bytes)."
        )
    if is_legacy_h5(filepath):
        load_legacy_weights(model, filepath)
        return
    with open(filepath, "rb") as f:
        _read_h5(model, f, filepath)
        if getattr(model, "_compiled", None) is not None:
            f.seek(0)
            _read_optimizer(model, f, filepath)


def _compile_config(model):
    c = getattr(model, "_compiled", None)
    if c is None:
        return None
    from graphc import losses, optimizers

    try:
        loss = [losses.serialize(each) if each is not None else None for each in c.losses]
        metrics = [[m for m in row if isinstance(m, str)] for row in c._metric_specs]
        return {
            "optimizer": _decorate(
                {"module": "keras.optimizers", **optimizers.serialize(c.optimizer)}
            ),
            "loss": loss[0] if len(loss) == 1 else loss,
            "loss_weights": c.loss_weights,
            "metrics": (metrics[0] or None) if len(metrics) == 1 else metrics,
            "weighted_metrics": None,
            "run_eagerly": False,
            "steps_per_execution": 1,
            "jit_compile": False,
        }
    except Exception:  # noqa: BLE001 - custom objects: the architecture and weights only
        return None


def save_keras(model, filepath) -> None:
    """Write ``model`` as a Keras 3 ``.keras`` file: the architecture, the weights, the
    compile settings and, for the optimizers whose state graphc maps (SGD, Adam, AdamW,
    RMSprop, Adagrad), the optimizer's variables."""
    spec = _model_to_keras(model)
    cc = _compile_config(model)
    if cc is not None:
        spec["compile_config"] = cc
    config = json.dumps(spec)
    metadata = json.dumps(
        {
            "keras_version": KERAS_VERSION,
            "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
        }
    )
    buf = io.BytesIO()
    _write_h5(model, buf, optimizer=cc is not None)
    weights = buf.getvalue()
    assets = collect_assets(model)

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_STORED) as z:
            z.writestr(_METADATA, metadata)
            z.writestr(_CONFIG, config)
            z.writestr(_WEIGHTS, weights)
            for name, data in assets.items():
                z.writestr(name, data)

    atomic_write(os.fspath(filepath), write)


def _read_member(z: zipfile.ZipFile, name: str, limit: int, source: str) -> bytes:
    try:
        info = z.getinfo(name)
    except KeyError:
        raise ValueError(f"{source} is not a Keras 3 .keras file: it lacks {name}.") from None
    if info.file_size > limit:
        raise UnsafeFileError(
            f"{source}: {name} declares {info.file_size} bytes, over graphc's limit of {limit}."
        )
    # In pieces: memory follows the bytes the entry really holds, not a damaged size
    # field (one read of `limit` bytes let zlib reserve the whole limit).
    chunks, total = [], 0
    with z.open(info) as f:
        while total <= limit:
            chunk = f.read(min(1 << 20, limit + 1 - total))
            if not chunk:
                break
            chunks.append(chunk)
            total += len(chunk)
    if total > limit:
        raise UnsafeFileError(f"{source}: {name} is larger than graphc's limit of {limit}.")
    return b"".join(chunks)


@_reader(0)
def read_keras_config(filepath) -> dict:
    filepath = os.fspath(filepath)
    with zipfile.ZipFile(filepath) as z:
        return json.loads(_read_member(z, _CONFIG, MAX_CONFIG_BYTES, filepath))


@_reader(0)
def load_keras(filepath, custom_objects=None, compile=True):
    """A model from a Keras 3 ``.keras`` file: architecture and weights, and the compile
    settings and optimizer state when they name things graphc has. The weight file is
    read only after the model is built, up to a size its weights justify."""
    filepath = os.fspath(filepath)
    if not zipfile.is_zipfile(filepath):
        raise ValueError(f"{filepath} is not a .keras file (not a zip archive).")
    try:
        return _load_keras(filepath, custom_objects, compile)
    except RecursionError:
        raise UnsafeFileError(f"{filepath}: the config is nested too deeply.") from None


def _weights_budget(model) -> int:
    """The most bytes a Keras weight file for ``model`` can need: the weights, three
    optimizer slots each, and HDF5's overhead per dataset and group."""
    params = model.weights
    data = sum(int(np.prod(p.shape)) * np.dtype(p.dtype).itemsize for p in params)
    return 4 * data + 64 * 1024 * (len(params) + len(weight_groups(model))) + 2**20


def _load_keras(filepath, custom_objects, compile):
    with zipfile.ZipFile(filepath) as z:
        names = set(z.namelist())
        if "model.weights.npz" in names and _WEIGHTS not in names:
            raise ValueError(
                f"{filepath} holds NumPy weights (Keras's npz variant), which "
                "graphc does not read; save with model.weights.h5."
            )
        assets = sorted(n for n in names if n.startswith("assets/") and not n.endswith("/"))
        spec = json.loads(_read_member(z, _CONFIG, MAX_CONFIG_BYTES, filepath))
        if not isinstance(spec, dict) or "class_name" not in spec:
            raise ValueError(f"{filepath}: config.json does not describe a model.")
        with _weight_limit(filepath):
            if spec["class_name"] in _MODEL_CLASSES:
                model = _model_from_keras(spec, custom_objects)
            else:
                model = _layer_from_keras(spec, custom_objects, "the model")
        unread = restore_assets(model, z, assets, filepath)
        if unread:
            raise ValueError(
                f"{filepath} holds assets ({', '.join(unread[:3])}...), such as "
                "the vocabulary of an adapted TextVectorization layer, which graphc "
                "does not read yet; pass the vocabulary in the layer's config instead."
            )
        weights = _read_member(
            z, _WEIGHTS, min(MAX_WEIGHTS_BYTES, _weights_budget(model)), filepath
        )
    _read_h5(model, io.BytesIO(weights), filepath)
    cc = spec.get("compile_config")
    if compile and cc and _compile_from_keras(model, cc, custom_objects, filepath):
        _read_optimizer(model, io.BytesIO(weights), filepath)
    return model


def _compile_from_keras(model, cc, custom_objects, source):
    import warnings

    from graphc import losses, optimizers

    try:
        opt = cc.get("optimizer")
        opt = (
            optimizers.deserialize(_clean(opt, source), custom_objects)
            if isinstance(opt, dict)
            else opt
        )
        loss = cc.get("loss")
        if isinstance(loss, dict):
            loss = losses.deserialize(_clean(loss, source), custom_objects)
        metrics = cc.get("metrics")
        model.compile(
            optimizer=opt,
            loss=loss,
            loss_weights=cc.get("loss_weights"),
            metrics=metrics
            if metrics and all(isinstance(m, str) for m in flatten_struct(metrics))
            else None,
        )
        return True
    except Exception as e:  # noqa: BLE001 - compile what can be named; warn about the rest
        warnings.warn(
            f"{source}: could not compile the model from its compile config "
            f"({type(e).__name__}: {e}); call model.compile() yourself.",
            stacklevel=3,
        )
        return False


# ---- legacy Keras 2 / tf.keras HDF5 files -----------------------------------------------
@contextlib.contextmanager
def _address_space_cap(extra: int):
    """Let the process map at most ``extra`` more bytes inside the block (Linux).

    libhdf5 allocates a variable-length string at the length its descriptor declares before
    it checks that length against the heap, so one damaged length byte made it allocate and
    fill 1.7 GB (found by the file fuzzer). Under the cap that allocation fails, libhdf5
    reports it and h5py raises OSError, which the reader turns into a FileFormatError. The
    block only decodes one attribute: other threads are unlikely to allocate meanwhile.
    """
    try:
        import resource

        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * resource.getpagesize()
        old = resource.getrlimit(resource.RLIMIT_AS)
    except (ImportError, OSError, ValueError):  # not Linux: no cap
        yield
        return
    cap = mapped + extra
    if old[0] != resource.RLIM_INFINITY:
        cap = min(cap, old[0])
    if old[1] != resource.RLIM_INFINITY:
        cap = min(cap, old[1])
    resource.setrlimit(resource.RLIMIT_AS, (cap, old[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, old)


def _h5_attr(group, name):
    """``group.attrs[name]``, its declared size checked against the file first: a damaged
    dataspace can declare billions of strings, which h5py would allocate before reading;
    a damaged length of one variable-length string is caught by the address-space cap
    (no string in the file is longer than the file)."""
    h5py = _h5py()
    attr = h5py.h5a.open(group.id, name.encode("utf8"))
    count = int(np.prod(attr.shape, dtype=np.float64)) if attr.shape else 1
    need = count * max(attr.dtype.itemsize, 8)
    have = group.file.id.get_filesize()
    if need > have:
        raise FileFormatError(
            f"{group.file.filename}: attribute {name!r} of {group.name!r} declares {count} "
            f"values, more than the file's {have} bytes can hold. The file is damaged; "
            "save it again, or use an undamaged copy."
        )
    with _address_space_cap(64 * 2**20 + 4 * have):
        return group.attrs[name]


def _h5_attr_list(group, name) -> list:
    """A list attribute as Keras's legacy writer stores it (chunked when long)."""
    if name in group.attrs:
        raw = list(_h5_attr(group, name))
    else:
        raw, k = [], 0
        while f"{name}{k}" in group.attrs:
            raw.extend(_h5_attr(group, f"{name}{k}"))
            k += 1
    return [n.decode("utf8") if hasattr(n, "decode") else str(n) for n in raw]


def _legacy_node(node):
    """A Keras 2 call, ``[[layer, node, tensor, kwargs], ...]``, as Keras 3's
    ``{"args", "kwargs"}`` with ``[layer, node, tensor]`` references."""
    if (
        isinstance(node, dict)
        or not isinstance(node, list)
        or not node
        or not all(isinstance(r, list) and len(r) in (3, 4) and isinstance(r[0], str) for r in node)
    ):
        return node
    refs = [list(r[:3]) for r in node]
    kwargs = dict(node[0][3]) if len(node[0]) == 4 and isinstance(node[0][3], dict) else {}
    return {"args": [refs[0] if len(refs) == 1 else refs], "kwargs": kwargs}


def _legacy_config(spec):
    """Keras 2 model configs to the shape the Keras 3 reader takes: calls as above,
    ``batch_input_shape`` as ``batch_shape``, and the options that only tuned speed."""
    if isinstance(spec, list):
        return [_legacy_config(v) for v in spec]
    if not isinstance(spec, dict):
        return spec
    out = {}
    for k, v in spec.items():
        if k == "inbound_nodes" and isinstance(v, list):
            out[k] = [_legacy_node(n) for n in v]
        elif k in ("implementation", "time_major") and not isinstance(v, (dict, list)):
            continue
        else:
            out[k] = _legacy_config(v)
    if spec.get("class_name") == "InputLayer" and isinstance(out.get("config"), dict):
        cfg = out["config"]
        if "batch_input_shape" in cfg and "batch_shape" not in cfg:
            cfg["batch_shape"] = cfg.pop("batch_input_shape")
    return out


def _read_legacy_weights(model, group, source) -> None:
    """Weights by layer order, as Keras's legacy loader: the file's layers that have
    weights, in order, fill the model's layers that have weights, each with its
    trainable weights then the others; shapes checked before reading."""
    h5py = _h5py()
    _check_no_links(group, "/")
    names = [
        n
        for n in _h5_attr_list(group, "layer_names")
        if n in group and _h5_attr_list(group[n], "weight_names")
    ]
    layers = [layer for layer in model.layers if layer.weights]
    if len(names) != len(layers):
        raise ValueError(
            f"{source} holds weights for {len(names)} layers, model "
            f"{model.name!r} has {len(layers)} layers with weights."
        )
    arrays = []
    for name, layer in zip(names, layers):
        g = group[name]
        _check_no_links(g, name)
        wanted = layer.trainable_weights + layer.non_trainable_weights
        wnames = _h5_attr_list(g, "weight_names")
        if len(wnames) != len(wanted):
            raise ValueError(
                f"{source}: layer {name!r} has {len(wnames)} weights in the "
                f"file, layer {layer.name!r} ({type(layer).__name__}) expects "
                f"{len(wanted)}."
            )
        for wname, p in zip(wnames, wanted):
            link = g.get(wname, getlink=True)
            if isinstance(link, (h5py.ExternalLink, h5py.SoftLink)):
                raise UnsafeFileError(
                    f"{source}: {name}/{wname} is a link; graphc reads "
                    "only data stored in the file itself."
                )
            ds = g.get(wname)
            if not isinstance(ds, h5py.Dataset) or ds.is_virtual or ds.external:
                raise UnsafeFileError(
                    f"{source}: {name}/{wname} is not a dataset stored in the file."
                )
            if tuple(ds.shape) != tuple(p.shape) or ds.dtype.kind not in "fiub":
                raise ValueError(
                    f"{source}: {name}/{wname} has shape {tuple(ds.shape)} "
                    f"({ds.dtype}); weight {p.path} expects {tuple(p.shape)}."
                )
            arrays.append((p, np.asarray(ds[()]).astype(p.dtype, copy=False)))
    for p, a in arrays:
        p.assign(a)


def _h5_set_list(group, name, values) -> None:
    """A list attribute as Keras's legacy writer stores it: chunked (``name0``,
    ``name1``, ...) when one attribute would pass HDF5's 64 kB object-header limit."""
    data = np.asarray([v.encode("utf8") for v in values])  # as Keras: bytes, or [] float
    chunks = max(1, -(-sum(len(v) + 1 for v in values) // _HDF5_HEADER_LIMIT))
    if chunks == 1:
        group.attrs[name] = data
        return
    for k, part in enumerate(np.array_split(data, chunks)):
        group.attrs[f"{name}{k}"] = part


def _write_weight_list(group, params) -> None:
    names = []
    for p in params:
        name = p.path
        while name in names:  # two variables of one layer with one path
            name += "_"
        names.append(name)
        group.create_dataset(name, data=p.numpy())
    _h5_set_list(group, "weight_names", names)


def _legacy_training_config(model):
    """Keras's ``training_config``: the compile config with the optimizer as
    ``optimizer_config`` (``class_name`` and ``config`` only)."""
    cc = _compile_config(model)
    if cc is None:
        return None
    opt = cc.pop("optimizer")
    cc["optimizer_config"] = {"class_name": opt["class_name"], "config": opt["config"]}
    return cc


def save_legacy_h5(model, filepath) -> None:
    """Keras 3's ``model.save("m.h5")``: the legacy HDF5 layout that Keras 3 and tf.keras
    read: ``model_config`` (the same Keras config as a ``.keras`` file's), ``training_config``,
    ``model_weights/<layer>/<weight path>`` with ``layer_names``/``weight_names``
    attributes, and ``optimizer_weights`` for the optimizers whose state graphc maps."""
    h5py = _h5py()
    spec = _model_to_keras(model)
    config = {"class_name": spec["class_name"], "config": spec["config"]}
    training = _legacy_training_config(model)
    buf = io.BytesIO()
    with h5py.File(buf, "w") as h:
        h.attrs["keras_version"] = KERAS_VERSION
        h.attrs["backend"] = "numpy"
        h.attrs["model_config"] = json.dumps(config).encode("utf8")
        if training is not None:
            h.attrs["training_config"] = json.dumps(training).encode("utf8")
        g = h.create_group("model_weights")
        _h5_set_list(g, "layer_names", [layer.name for layer in model.layers])
        g.attrs["backend"] = b"numpy"
        g.attrs["keras_version"] = KERAS_VERSION.encode("utf8")
        # Keras writes the groups in name order (so that no name is a prefix of a later
        # one's path); readers match them to layers through ``layer_names``.
        for layer in sorted(model.layers, key=lambda layer: layer.name):
            _write_weight_list(
                g.create_group(layer.name),
                layer.trainable_weights + layer.non_trainable_weights,
            )
        _write_weight_list(g.create_group("top_level_model_weights"), [])
        from graphc.optimizers import MultiOptimizer

        found = _optimizer_layout(model) if training is not None else None
        if found is not None and isinstance(found[0], MultiOptimizer):
            found = None  # (tf.keras 2, the legacy format's, has no MultiOptimizer)
        if found is not None:
            opt, store, layout = found
            state = opt.get_state()
            seg = dict(zip(map(id, store.params), store.segments))
            og = h.create_group("optimizer_weights")
            prefix = getattr(opt, "name", type(opt).__name__.lower())
            names = []
            for slot, p, _ in layout:
                if slot == "iterations":
                    name, data = "iteration", np.asarray(state["iteration"], np.int64)
                elif slot == "learning_rate":
                    name, data = slot, np.asarray(state["learning_rate"], np.float32)
                else:
                    name = f"{p.path.replace('/', '_')}_{slot}"
                    data = state[slot][seg[id(p)]].reshape(p.shape).astype(np.float32)
                names.append(f"{prefix}/{name}")
                og.create_dataset(names[-1], data=data)
            _h5_set_list(og, "weight_names", names)
    data = buf.getvalue()
    atomic_write(os.fspath(filepath), lambda f: f.write(data))


@_reader(0)
def load_legacy_h5(filepath, custom_objects=None, compile=True):
    """A model from a legacy Keras 2 / tf.keras ``.h5`` file (``model_config`` and
    ``model_weights``); with ``compile``, compiled from its ``training_config`` when that
    names things graphc has, with the optimizer's state from ``optimizer_weights``."""
    h5py = _h5py()
    filepath = os.fspath(filepath)
    if os.path.getsize(filepath) > MAX_WEIGHTS_BYTES:
        raise UnsafeFileError(
            f"{filepath} is larger than graphc's limit ({MAX_WEIGHTS_BYTES} bytes)."
        )
    with h5py.File(filepath, "r") as h:
        raw = _h5_attr(h, "model_config") if "model_config" in h.attrs else None
        if raw is None:
            raise ValueError(
                f"{filepath} holds no model config (a weights-only file?); "
                "build the model and call model.load_weights on it."
            )
        if hasattr(raw, "decode"):
            raw = raw.decode("utf8")
        if len(raw) > MAX_CONFIG_BYTES:
            raise UnsafeFileError(f"{filepath}: the model config is over graphc's limit.")
        try:
            spec = _legacy_config(json.loads(raw))
            with _weight_limit(filepath):
                if spec.get("class_name") in _MODEL_CLASSES:
                    model = _model_from_keras(spec, custom_objects)
                else:
                    raise ValueError(
                        f"{filepath}: model class {spec.get('class_name')!r} "
                        "is not a Functional or Sequential model."
                    )
        except RecursionError:
            raise UnsafeFileError(f"{filepath}: the config is nested too deeply.") from None
        _read_legacy_weights(model, h["model_weights"] if "model_weights" in h else h, filepath)
        raw = _h5_attr(h, "training_config") if "training_config" in h.attrs else None
        if compile and raw is not None and len(raw) <= MAX_CONFIG_BYTES:
            cc = json.loads(raw.decode("utf8") if hasattr(raw, "decode") else raw)
            if isinstance(cc, dict) and isinstance(cc.get("optimizer_config"), dict):
                cc["optimizer"] = cc.pop("optimizer_config")
                if _compile_from_keras(model, cc, custom_objects, filepath):
                    _read_legacy_optimizer(model, h, filepath)
    return model


def _read_legacy_optimizer(model, h, source) -> None:
    og = h.get("optimizer_weights")
    if og is None:
        return
    _check_no_links(og, "optimizer_weights")
    names = _h5_attr_list(og, "weight_names")
    for name in names:
        if isinstance(og.get(name, getlink=True), (_h5py().ExternalLink, _h5py().SoftLink)):
            raise UnsafeFileError(f"{source}: optimizer_weights/{name} is a link.")
    _set_optimizer_vars(model, [og.get(name) for name in names], source)


@_reader(1)
def load_legacy_weights(model, filepath) -> None:
    """Weights from a legacy Keras 2 ``.h5`` file (a whole model or weights only)."""
    h5py = _h5py()
    with h5py.File(filepath, "r") as h:
        _read_legacy_weights(
            model, h["model_weights"] if "model_weights" in h else h, os.fspath(filepath)
        )


def is_legacy_h5(f) -> bool:
    h5py = _h5py()
    with h5py.File(f, "r") as h:
        return "layer_names" in h.attrs or "model_config" in h.attrs or "model_weights" in h
