"""Model configs, JSON, and the ``.graphc`` / ``.weights.npz`` files; Keras 3's ``.keras``
and ``.weights.h5`` go to ``keras_format.py`` by their names.

A ``.graphc`` file is a zip holding ``config.json`` (the architecture and, when it can be
named, the compile configuration), ``model.weights.npz`` and, once the model has trained,
``optimizer.npz`` (the optimizer's iteration count and slots, such as Adam's moments, per
trainable weight), so that training resumes where it stopped, as with Keras's ``.keras``
files. Loading rebuilds layers from
class names found in graphc or registered explicitly; it never unpickles and never runs
code from the file. Every write goes to a temporary file first, then is renamed.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile

import warnings

import numpy as np

from graphc.errors import GraphcError
from graphc.files import atomic_write
from graphc.version import __version__
from graphc.layers import serialization
from graphc.layers.base import InputLayer, flatten_struct

__all__ = ["register_serializable", "serialize_layer", "deserialize_layer", "model_to_config",
           "model_from_config", "save_model", "load_model", "save_weights", "load_weights",
           "model_from_json", "atomic_write"]

FORMAT_VERSION = 1

# The class table and layer configs live with the layers (Bidirectional's config holds
# its inner layers'); the model files build on them.
serialize_layer = serialization.serialize
deserialize_layer = serialization.deserialize
register_serializable = serialization.register_serializable
_lookup = serialization.lookup
_class_name = serialization.class_name


# ---- functional and sequential configs ---------------------------------------------------
def model_to_config(model) -> dict:
    """Keras-like config: each layer with its calls ("inbound_nodes") inside this model,
    each call's inputs as ``[layer_name, call_index, tensor_index]``."""
    from graphc.models._topology import layer_calls
    from graphc.models.sequential import Sequential
    if isinstance(model, Sequential):
        stack = []
        if model._input_value is not None:
            stack.append(serialize_layer(model._input_value.layer))
        stack += [serialize_layer(l) for l in model.layers]
        return {"name": model.name, "trainable": model.trainable, "layers": stack}
    graph = model.graph
    calls, producer_call = layer_calls(graph)
    local_index: dict = {}   # (id(layer), global call index) -> index within this model
    counts: dict = {}
    entries: dict = {}
    order = []

    def ref(v):
        src = producer_call[v]
        outs = flatten_struct(src.layer._calls[src.index][1])
        k = next((j for j, o in enumerate(outs) if o is v), 0)
        return [src.layer.name, local_index[(id(src.layer), src.index)], k]

    for call in sorted(calls, key=lambda c: c.last):
        key = id(call.layer)
        if key not in entries:
            entries[key] = {**serialize_layer(call.layer), "name": call.layer.name,
                            "inbound_nodes": []}
            order.append(key)
        local_index[(key, call.index)] = counts.get(key, 0)
        counts[key] = local_index[(key, call.index)] + 1
        if not isinstance(call.layer, InputLayer):
            args = _map_refs(ref, call.layer._calls[call.index][0])
            extras = call.layer._call_extras.get(call.index)
            if extras:  # more tensor arguments (`decoder(x, encoder_outputs)`): by name
                args = {"__call__": {"args": args, "kwargs": {
                    k: _map_refs(ref, v) for k, v in extras.items()}}}
            entries[key]["inbound_nodes"].append(args)
    return {"name": model.name, "trainable": model.trainable,
            "layers": [entries[k] for k in order],
            "input_layers": _map_refs(ref, model._input_struct),
            "output_layers": _map_refs(ref, model._output_struct)}


def _map_refs(fn, struct):
    if isinstance(struct, dict):
        return {"__dict__": {k: _map_refs(fn, v) for k, v in struct.items()}}
    if isinstance(struct, (list, tuple)):
        return {"__list__": [_map_refs(fn, v) for v in struct]}
    return fn(struct)


def _unmap_refs(fn, struct):
    if isinstance(struct, dict) and "__dict__" in struct:
        return {k: _unmap_refs(fn, v) for k, v in struct["__dict__"].items()}
    if isinstance(struct, dict) and "__list__" in struct:
        return [_unmap_refs(fn, v) for v in struct["__list__"]]
    return fn(struct)


def model_from_config(spec: dict, custom_objects=None):
    from graphc.models.functional import Model
    from graphc.models.sequential import Sequential
    cls = _lookup(spec["class_name"], custom_objects)
    config = spec["config"]
    if issubclass(cls, Sequential):
        model = cls(name=config.get("name"), trainable=config.get("trainable", True))
        for layer_spec in config["layers"]:
            model.add(deserialize_layer(layer_spec, custom_objects))
        return model
    layers, produced = {}, {}
    for entry in config["layers"]:
        layer = deserialize_layer({"class_name": entry["class_name"],
                                   "config": entry["config"]}, custom_objects)
        layers[entry["name"]] = layer
        if isinstance(layer, InputLayer):
            produced[(layer.name, 0)] = [layer.output]
    for entry in config["layers"]:
        layer = layers[entry["name"]]
        for k, args in enumerate(entry.get("inbound_nodes", [])):
            find = lambda r: produced[(r[0], r[1])][r[2]]  # noqa: E731
            if isinstance(args, dict) and "__call__" in args:
                kwargs = {n: _unmap_refs(find, v)
                          for n, v in args["__call__"]["kwargs"].items()}
                out = layer(_unmap_refs(find, args["__call__"]["args"]), **kwargs)
            else:
                out = layer(_unmap_refs(find, args))
            produced[(layer.name, k)] = flatten_struct(out)
    inputs = _unmap_refs(lambda r: produced[(r[0], r[1])][r[2]], config["input_layers"])
    outputs = _unmap_refs(lambda r: produced[(r[0], r[1])][r[2]], config["output_layers"])
    model = Model(inputs, outputs, name=config.get("name"))
    model.trainable = config.get("trainable", True)
    return model


# ---- files ----------------------------------------------------------------------------
def _weights_bytes(model) -> bytes:
    buf = io.BytesIO()
    params = model.weights
    np.savez(buf, **{f"{i:05d}": p.numpy() for i, p in enumerate(params)})
    return buf.getvalue()


def _manifest(model) -> list:
    return [{"path": p.path, "shape": list(p.shape), "dtype": p.dtype} for p in model.weights]


def _set_from_npz(model, data, source: str):
    keys = sorted(k for k in data.files if k.isdigit())
    arrays = [data[k] for k in keys]
    try:
        model.set_weights(arrays)
    except ValueError as e:
        raise ValueError(f"The weights in {source} do not fit model {model.name!r}: {e}") \
            from None


def save_weights(model, filepath):
    filepath = os.fspath(filepath)
    if filepath.endswith(".weights.h5"):
        from graphc.models import keras_format
        keras_format.save_weights_h5(model, filepath)
        return
    if not filepath.endswith(".weights.npz"):
        raise ValueError(f"The filename must end in `.weights.h5` (Keras's) or "
                         f"`.weights.npz`. Received: filepath={filepath}")
    data = _weights_bytes(model)
    atomic_write(filepath, lambda f: f.write(data))


def load_weights(model, filepath):
    filepath = os.fspath(filepath)
    from graphc.models import keras_format
    if filepath.endswith((".h5", ".hdf5")):
        # Keras 3's .weights.h5; a legacy Keras 2 file is named as such by the reader.
        keras_format.load_weights_h5(model, filepath)
        return
    if filepath.endswith(".keras"):
        with zipfile.ZipFile(filepath) as z:
            data = keras_format._read_member(z, "model.weights.h5",
                                             keras_format.MAX_WEIGHTS_BYTES, filepath)
        keras_format._read_h5(model, io.BytesIO(data), filepath)
        return
    if zipfile.is_zipfile(filepath) and filepath.endswith(".graphc"):
        with zipfile.ZipFile(filepath) as z:
            data = np.load(io.BytesIO(z.read("model.weights.npz")), allow_pickle=False)
            _set_from_npz(model, data, filepath)
        return
    with np.load(filepath, allow_pickle=False) as data:
        _set_from_npz(model, data, filepath)


def _compile_config(model):
    c = model._compiled
    if c is None:
        return None
    from graphc import losses, optimizers
    try:
        return {"optimizer": optimizers.serialize(c.optimizer),
                "loss": [losses.serialize(l) if l is not None else None for l in c.losses],
                "loss_weights": c.loss_weights,
                "metrics": _metric_names(c._metric_specs),
                "weighted_metrics": _metric_names(c._weighted_specs),
                # A subclassed model's logs name the losses, not its outputs: its
                # reloaded (functional) copy keeps those log keys.
                "named_outputs": c.named_outputs}
    except Exception:  # noqa: BLE001 - custom objects: save the architecture only
        return None


def _metric_names(specs):
    # Metrics given by name are saved (objects are not: compile again after loading).
    return [[m if isinstance(m, str) else None for m in row] for row in specs]


def save_model(model, filepath):
    filepath = os.fspath(filepath)
    if filepath.endswith(".keras"):
        from graphc.models import keras_format
        keras_format.save_keras(model, filepath)
        return
    if not filepath.endswith(".graphc"):
        raise ValueError(f"The filename must end in `.keras` (Keras 3's format) or "
                         f"`.graphc`. Received: filepath={filepath}")
    config = {"format": "graphc", "format_version": FORMAT_VERSION,
              "graphc_version": __version__, "model": serialize_layer(model),
              "weights": _manifest(model), "compile_config": _compile_config(model)}
    weights = _weights_bytes(model)
    optimizer = _optimizer_bytes(model) if config["compile_config"] else None

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("config.json", json.dumps(config, indent=1))
            z.writestr("model.weights.npz", weights)
            if optimizer is not None:
                z.writestr("optimizer.npz", optimizer)
    atomic_write(filepath, write)


def _weight_keys(model) -> dict:
    """Each weight's key in ``optimizer.npz``: its position in ``model.weights``, as in
    ``model.weights.npz`` (paths would not do: a reloaded custom layer may name its
    sub-layers differently)."""
    return {id(p): f"{i:05d}" for i, p in enumerate(model.weights)}


def _optimizer_bytes(model):
    """The optimizer's state, one array per slot and trainable weight (so the file does
    not depend on how the flat buffer is laid out); None before the first training
    step."""
    store = getattr(model, "_store", None)
    opt = model._compiled.optimizer
    if store is None or not opt.built:
        return None
    state = opt.get_state()
    arrays = {"iteration": state.pop("iteration")}
    state.pop("learning_rate", None)  # in the optimizer's config already
    keys = _weight_keys(model)
    for slot, flat in state.items():
        for p, seg in zip(store.params, store.segments):
            arrays[f"{slot}/{keys[id(p)]}"] = flat[seg].reshape(p.shape)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _restore_optimizer(model, data, source):
    """Put ``optimizer.npz``'s state into the freshly compiled model's optimizer. A file
    that does not fit (edited by hand, say) leaves the optimizer fresh, with a warning,
    as Keras does: the weights are loaded all the same."""
    store = model._param_store()
    opt = model._compiled.optimizer
    fresh = opt.get_state()
    state = {"iteration": data["iteration"]}
    keys = _weight_keys(model)
    try:
        for slot, flat in fresh.items():
            if slot in ("iteration", "learning_rate"):
                continue
            flat = flat.copy()
            for p, seg in zip(store.params, store.segments):
                flat[seg] = data[f"{slot}/{keys[id(p)]}"].reshape(-1)
            state[slot] = flat
        opt.set_state(state)
    except (KeyError, ValueError) as e:
        warnings.warn(f"The optimizer state in {source} does not fit the model's optimizer "
                      f"({type(e).__name__}: {e}); training will start with a fresh "
                      "optimizer state.", stacklevel=3)


def load_model(filepath, custom_objects=None, compile=True):
    """Rebuild a model saved with ``model.save`` (``.graphc``) or by Keras 3 (``.keras``):
    weights, and compile settings and the optimizer's state when they were plain names.
    Reads JSON, ``.npz`` and HDF5 data only (no pickle, no code)."""
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No such file: {filepath}")
    from graphc.models import keras_format
    if filepath.endswith((".h5", ".hdf5")):
        return keras_format.load_legacy_h5(filepath, custom_objects=custom_objects)
    if keras_format.is_keras_file(filepath):
        return keras_format.load_keras(filepath, custom_objects=custom_objects,
                                       compile=compile)
    if not zipfile.is_zipfile(filepath):
        raise ValueError(f"{filepath} is not a .graphc model file (not a zip archive).")
    with zipfile.ZipFile(filepath) as z:
        names = set(z.namelist())
        if not {"config.json", "model.weights.npz"} <= names:
            raise ValueError(f"{filepath} is not a .graphc model file: it lacks "
                             f"{sorted({'config.json', 'model.weights.npz'} - names)}.")
        config = json.loads(z.read("config.json"))
        if config.get("format") != "graphc":
            raise ValueError(f"{filepath} is not a .graphc model file.")
        if config.get("format_version", 0) > FORMAT_VERSION:
            raise GraphcError(f"{filepath} was written by a newer graphc "
                              f"({config.get('graphc_version')}); upgrade graphc to load it.")
        model = model_from_config(config["model"], custom_objects)
        data = np.load(io.BytesIO(z.read("model.weights.npz")), allow_pickle=False)
        _set_from_npz(model, data, filepath)
        optimizer = (np.load(io.BytesIO(z.read("optimizer.npz")), allow_pickle=False)
                     if "optimizer.npz" in names else None)
    cc = config.get("compile_config")
    if compile and cc:
        from graphc import losses, optimizers
        names = model.output_names
        model._named_outputs = cc.get("named_outputs", True)
        def loss(spec):
            return losses.deserialize(spec, custom_objects) if spec else None
        model.compile(optimizer=optimizers.deserialize(cc["optimizer"], custom_objects),
                      loss=[loss(l) for l in cc["loss"]] if len(cc["loss"]) > 1
                      else loss(cc["loss"][0]),
                      loss_weights=cc.get("loss_weights"),
                      metrics=_metrics_arg(cc.get("metrics"), names),
                      weighted_metrics=_metrics_arg(cc.get("weighted_metrics"), names))
        if optimizer is not None:
            _restore_optimizer(model, optimizer, filepath)
    return model


def _metrics_arg(metrics, names):
    """The ``metrics=``/``weighted_metrics=`` of ``compile`` from a saved list per output."""
    if metrics and len(names) > 1:
        return {n: [m for m in ms if m] for n, ms in zip(names, metrics)}
    return [m for m in (metrics or [[]])[0] if m]


def model_from_json(json_string, custom_objects=None):
    spec = json.loads(json_string)
    return deserialize_layer(spec, custom_objects)
