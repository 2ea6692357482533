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

import contextlib
import errno
import io
import json
import math
import os
import struct
import warnings
import zipfile
import zlib

import numpy as np

from graphc.errors import FileFormatError, GraphcError
from graphc.files import atomic_write
from graphc.layers import serialization
from graphc.layers.base import InputLayer, flatten_struct
from graphc.recording import weight_check
from graphc.version import __version__

__all__ = [
    "register_serializable",
    "serialize_layer",
    "deserialize_layer",
    "model_to_config",
    "model_from_config",
    "save_model",
    "load_model",
    "save_weights",
    "load_weights",
    "model_from_json",
    "atomic_write",
]

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
        stack += [serialize_layer(layer) for layer in model.layers]
        return {"name": model.name, "trainable": model.trainable, "layers": stack}
    graph = model.graph
    calls, producer_call = layer_calls(graph)
    local_index: dict = {}  # (id(layer), global call index) -> index within this model
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
            entries[key] = {
                **serialize_layer(call.layer),
                "name": call.layer.name,
                "inbound_nodes": [],
            }
            order.append(key)
        local_index[(key, call.index)] = counts.get(key, 0)
        counts[key] = local_index[(key, call.index)] + 1
        if not isinstance(call.layer, InputLayer):
            args = _map_refs(ref, call.layer._calls[call.index][0])
            extras = call.layer._call_extras.get(call.index) or {}
            options = call.layer.__dict__.get("_call_options", {}).get(call.index) or {}
            if extras or options:  # more tensor arguments (`decoder(x, encoder_outputs)`)
                # by name, and the plain keyword arguments (`reverse=True`) as they are
                args = {
                    "__call__": {
                        "args": args,
                        "kwargs": {
                            **{k: _map_refs(ref, v) for k, v in extras.items()},
                            **options,
                        },
                    }
                }
            entries[key]["inbound_nodes"].append(args)
    return {
        "name": model.name,
        "trainable": model.trainable,
        "layers": [entries[k] for k in order],
        "input_layers": _map_refs(ref, model._input_struct),
        "output_layers": _map_refs(ref, model._output_struct),
    }


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
        layer = deserialize_layer(
            {"class_name": entry["class_name"], "config": entry["config"]}, custom_objects
        )
        # Keyed by the config's name: a custom layer whose get_config() leaves its name
        # out comes back under a new one (Keras's rule too).
        layers[entry["name"]] = layer
        if isinstance(layer, InputLayer):
            produced[(entry["name"], 0)] = [layer.output]
    # Each layer's calls in its order; a call whose inputs a later layer makes (a shared
    # embedding called again, `reverse=True`, on the last hidden state) waits for them,
    # as Keras's loader does.
    pending = [
        (entry["name"], list(enumerate(entry.get("inbound_nodes", []))))
        for entry in config["layers"]
    ]
    find = lambda r: produced[(r[0], r[1])][r[2]]  # noqa: E731
    while pending:
        waiting, missing, progressed = [], None, False
        for name, nodes in pending:
            layer = layers[name]
            while nodes:
                k, args = nodes[0]
                try:
                    if isinstance(args, dict) and "__call__" in args:
                        call_args = _unmap_refs(find, args["__call__"]["args"])
                        kwargs = {
                            n: v if type(v) in (bool, int, float, str) else _unmap_refs(find, v)
                            for n, v in args["__call__"]["kwargs"].items()
                        }
                    else:
                        call_args, kwargs = _unmap_refs(find, args), {}
                except KeyError as e:
                    missing = e
                    break
                produced[(name, k)] = flatten_struct(layer(call_args, **kwargs))
                nodes.pop(0)
                progressed = True
            if nodes:
                waiting.append((name, nodes))
        if not progressed:  # an input no call makes: the config is damaged
            raise missing
        pending = waiting
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


def _set_from_npz(model, arrays, source: str):
    try:
        model.set_weights(arrays)
    except ValueError as e:
        raise FileFormatError(
            f"The weights in {source} do not fit model {model.name!r}: {e}"
        ) from None


def save_weights(model, filepath):
    filepath = os.fspath(filepath)
    if filepath.endswith(".weights.h5"):
        from graphc.models import keras_format

        keras_format.save_weights_h5(model, filepath)
        return
    if not filepath.endswith(".weights.npz"):
        raise ValueError(
            f"The filename must end in `.weights.h5` (Keras's) or "
            f"`.weights.npz`. Received: filepath={filepath}"
        )
    data = _weights_bytes(model)
    atomic_write(filepath, lambda f: f.write(data))


def load_weights(model, filepath):
    """Load weights from a ``.weights.npz`` or ``.weights.h5`` file, or a ``.graphc`` or
    ``.keras`` model file. The arrays' declared shapes are checked against the model
    before any is read."""
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No such file: {filepath}")
    from graphc.models import keras_format

    if filepath.endswith((".h5", ".hdf5")):
        # Keras 3's .weights.h5; a legacy Keras 2 file is named as such by the reader.
        keras_format.load_weights_h5(model, filepath)
        return
    if filepath.endswith(".keras"):
        with keras_format.reading(filepath):
            with _open_zip(filepath, "a .keras model file") as z:
                data = keras_format._read_member(
                    z, "model.weights.h5", keras_format.MAX_WEIGHTS_BYTES, filepath
                )
            keras_format._read_h5(model, io.BytesIO(data), filepath)
        return
    if filepath.endswith(".graphc") and zipfile.is_zipfile(filepath):
        with _open_zip(filepath, "a .graphc model file") as z:
            if "model.weights.npz" not in z.namelist():
                raise FileFormatError(
                    f"{filepath} is not a .graphc model file: it lacks model.weights.npz."
                )
            source = io.BytesIO(_entry(z, "model.weights.npz", filepath))
    else:
        source = filepath
    headers = _npz_headers(source, filepath)
    _check_fits(model, headers, filepath)
    _set_from_npz(model, _npz_arrays(source, headers, filepath), filepath)


# ---- reading files that may be damaged or hostile ----------------------------------------
#: The largest ``config.json`` graphc reads, in bytes.
MAX_CONFIG_BYTES = 64 * 2**20
#: A zip entry bigger than ``_RATIO_FROM`` bytes may expand to at most this many times its
#: compressed size (real weights compress less than 2:1; a zip bomb, about 1000:1).
MAX_EXPANSION_RATIO = 100
_RATIO_FROM = 16 * 2**20
#: Values a rebuilt model may allocate beyond what the file's weights hold (layers with
#: state that is not saved).
_WEIGHT_SLACK = 2**16
_ZIP_ERRORS = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    NotImplementedError,
    RuntimeError,
    ValueError,
    struct.error,
    OverflowError,
    UnicodeDecodeError,
    KeyError,
    IndexError,
    TypeError,
)


def _open_zip(filepath, what):
    try:
        return zipfile.ZipFile(filepath)
    except (*_ZIP_ERRORS, OSError) as e:
        if isinstance(e, OSError) and e.errno != errno.EINVAL:  # EINVAL: a bad offset
            raise
        raise FileFormatError(
            f"{filepath} is not {what} (a damaged zip archive: {type(e).__name__}: {e})"
        ) from None


def _entry(z, name, source, limit=None) -> bytes:
    """The bytes of entry ``name``, after checking its declared size and expansion ratio
    and, while reading, that it holds what it declares."""
    try:
        info = z.getinfo(name)
    except KeyError:
        raise FileFormatError(f"{source} lacks the entry {name}.") from None
    if limit is not None and info.file_size > limit:
        raise FileFormatError(
            f"{source}: entry {name} declares {info.file_size:,} bytes, "
            f"more than the {limit:,} graphc reads for it."
        )
    ratio = info.file_size / max(info.compress_size, 1)
    if info.file_size > _RATIO_FROM and ratio > MAX_EXPANSION_RATIO:
        raise FileFormatError(
            f"{source}: entry {name} would expand from {info.compress_size:,} to "
            f"{info.file_size:,} bytes ({ratio:,.0f}:1, more than graphc's limit of "
            f"{MAX_EXPANSION_RATIO}:1): a zip bomb or a damaged file. (A trusted file can "
            "be loaded after raising graphc.models.saving.MAX_EXPANSION_RATIO.)"
        )
    try:
        with z.open(info) as f:
            data = f.read(info.file_size + 1)
    except (*_ZIP_ERRORS, OSError) as e:  # OSError: seeking to a damaged offset
        raise FileFormatError(
            f"{source}: entry {name} is damaged ({type(e).__name__}: {e})."
        ) from None
    if len(data) != info.file_size:
        raise FileFormatError(
            f"{source}: entry {name} holds {len(data):,} bytes, not the "
            f"{info.file_size:,} it declares."
        )
    return data


def _npz_headers(source, name) -> dict:
    """``{key: (shape, dtype)}`` of the numbered arrays of an ``.npz`` (a path or a
    BytesIO), read from the ``.npy`` headers without loading any array; each header's
    size is checked against its entry's."""
    from numpy.lib import format as npy

    if isinstance(source, io.BytesIO):
        source.seek(0)
    elif not zipfile.is_zipfile(source):
        raise FileFormatError(f"{name} is not a .weights.npz file (not a zip archive).")
    headers = {}
    with _open_zip(source, "an .npz weights file") as z:
        for info in z.infolist():
            key = info.filename[:-4] if info.filename.endswith(".npy") else None
            if key is None or not key.isdigit():
                continue
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > _RATIO_FROM and ratio > MAX_EXPANSION_RATIO:
                raise FileFormatError(
                    f"{name}: array {key} would expand {ratio:,.0f}:1 (more than graphc's "
                    f"limit of {MAX_EXPANSION_RATIO}:1): a zip bomb or a damaged file."
                )
            try:
                with z.open(info) as f:
                    version = npy.read_magic(f)
                    if version == (1, 0):
                        shape, _, dtype = npy.read_array_header_1_0(f)
                    elif version == (2, 0):
                        shape, _, dtype = npy.read_array_header_2_0(f)
                    else:
                        raise ValueError(f"unsupported .npy format version {version}")
                    header_size = f.tell()
            except Exception as e:  # noqa: BLE001 - numpy's header parser raises many kinds
                raise FileFormatError(
                    f"{name}: array {key} has a damaged header ({type(e).__name__}: {e})."
                ) from None
            if dtype.hasobject:
                raise FileFormatError(
                    f"{name}: array {key} holds Python objects (pickled data); graphc "
                    "never unpickles (allow_pickle=False), so the file is refused."
                )
            if dtype.kind not in "biufc":
                raise FileFormatError(f"{name}: array {key} has dtype {dtype}, not a numeric one.")
            count = math.prod(shape)
            if count * dtype.itemsize != info.file_size - header_size:
                raise FileFormatError(
                    f"{name}: array {key} declares shape {tuple(shape)} {dtype} "
                    f"({count * dtype.itemsize:,} bytes) but its entry holds "
                    f"{info.file_size - header_size:,} bytes."
                )
            headers[key] = (tuple(shape), dtype)
    return dict(sorted(headers.items()))


def _npz_arrays(source, headers, name) -> list:
    if isinstance(source, io.BytesIO):
        source.seek(0)
    try:
        with np.load(source, allow_pickle=False) as data:
            arrays = [data[k] for k in headers]
    except _ZIP_ERRORS + (OSError,) as e:
        raise FileFormatError(
            f"{name}: the weights cannot be read ({type(e).__name__}: {e})."
        ) from None
    for k, a in zip(headers, arrays):
        if (a.shape, a.dtype) != headers[k]:
            raise FileFormatError(f"{name}: array {k} is not what its header declares.")
    return arrays


def _check_fits(model, headers, source):
    """The file's arrays (from their headers) against the model's weights, before any
    is read."""
    params = model.weights
    shapes = [s for s, _ in headers.values()]
    if len(shapes) != len(params):
        raise FileFormatError(
            f"The weights in {source} do not fit model {model.name!r}: "
            f"the file holds {len(shapes)} arrays, the model has "
            f"{len(params)} weights."
        )
    for i, (p, shape) in enumerate(zip(params, shapes)):
        if tuple(p.shape) != shape:
            raise FileFormatError(
                f"The weights in {source} do not fit model {model.name!r}: array {i} has "
                f"shape {shape}, the model's weight {p.path} has {tuple(p.shape)}."
            )


@contextlib.contextmanager
def weight_budget(largest: int, total: int, source, why: str):
    """While a file's config is rebuilt: any weight a layer asks for that has more than
    ``largest`` values, or brings all of them over ``total``, raises ``FileFormatError``
    before it is allocated (``why`` says where the limits come from)."""
    left = [total]

    def check(layer, shape, dtype):
        n = math.prod(shape)
        if any(d < 0 for d in shape) or n > largest or n > left[0]:
            raise FileFormatError(
                f"{source}: the config's layer {layer.name!r} asks for a weight of shape "
                f"{tuple(shape)} ({n:,} values), more than {why}."
            )
        left[0] -= n

    token = weight_check.set(check)
    try:
        yield
    finally:
        weight_check.reset(token)


def _budget_of(headers, source):
    """The weight budget of a file whose arrays have these headers."""
    counts = [math.prod(s) for s, _ in headers.values()]
    largest = max(counts, default=0)
    return weight_budget(
        largest + _WEIGHT_SLACK,
        sum(counts) + _WEIGHT_SLACK,
        source,
        f"the file's weights hold (its largest array has {largest:,} "
        "values): the config does not match the weights",
    )


def _check_manifest(manifest, headers, source):
    """``config.json``'s weights manifest against the arrays' headers."""
    if manifest is None:
        return
    if not isinstance(manifest, list) or len(manifest) != len(headers):
        raise FileFormatError(
            f"{source}: config.json lists "
            f"{len(manifest) if isinstance(manifest, list) else '?'} "
            f"weights, model.weights.npz holds {len(headers)} arrays."
        )
    for i, (entry, (shape, _)) in enumerate(zip(manifest, headers.values())):
        declared = entry.get("shape") if isinstance(entry, dict) else None
        if not isinstance(declared, list) or tuple(declared) != shape:
            raise FileFormatError(
                f"{source}: config.json declares weight {i} with shape "
                f"{declared}, model.weights.npz holds {shape}."
            )


def _parse_config(raw, source) -> dict:
    try:
        config = json.loads(raw)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, UnicodeDecodeError
        raise FileFormatError(
            f"{source}: config.json is not valid JSON ({type(e).__name__}: {e})."
        ) from None
    if not isinstance(config, dict) or config.get("format") != "graphc":
        raise FileFormatError(f"{source} is not a .graphc model file.")
    version = config.get("format_version", 0)
    if not isinstance(version, int):
        raise FileFormatError(f"{source}: config.json's format_version is {version!r}.")
    if version > FORMAT_VERSION:
        raise GraphcError(
            f"{source} was written by a newer graphc "
            f"({config.get('graphc_version')}); upgrade graphc to load it."
        )
    if not isinstance(config.get("model"), dict):
        raise FileFormatError(f"{source}: config.json holds no model config.")
    return config


def _compile_config(model):
    c = model._compiled
    if c is None:
        return None
    from graphc import losses, optimizers

    try:
        return {
            "optimizer": optimizers.serialize(c.optimizer),
            "loss": [losses.serialize(each) if each is not None else None for each in c.losses],
            "loss_weights": c.loss_weights,
            "metrics": _metric_names(c._metric_specs),
            "weighted_metrics": _metric_names(c._weighted_specs),
            # A subclassed model's logs name the losses, not its outputs: its
            # reloaded (functional) copy keeps those log keys.
            "named_outputs": c.named_outputs,
        }
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
    if filepath.endswith((".h5", ".hdf5")):
        from graphc.models import keras_format

        keras_format.save_legacy_h5(model, filepath)
        return
    if not filepath.endswith(".graphc"):
        raise ValueError(
            f"The filename must end in `.keras` (Keras 3's format), `.h5` (Keras's "
            f"legacy format) or `.graphc`. Received: filepath={filepath}"
        )
    config = {
        "format": "graphc",
        "format_version": FORMAT_VERSION,
        "graphc_version": __version__,
        "model": serialize_layer(model),
        "weights": _manifest(model),
        "compile_config": _compile_config(model),
    }
    weights = _weights_bytes(model)
    optimizer = _optimizer_bytes(model) if config["compile_config"] else None
    from graphc.models.keras_format import collect_assets

    assets = collect_assets(model)  # a lookup layer's adapted vocabulary, as in .keras

    def write(f):
        with zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED) as z:
            z.writestr("config.json", json.dumps(config, indent=1))
            z.writestr("model.weights.npz", weights)
            if optimizer is not None:
                z.writestr("optimizer.npz", optimizer)
            for name, data in assets.items():
                z.writestr(name, data)

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
    keys = _weight_keys(model)
    try:
        state = {"iteration": np.asarray(data["iteration"])}
        for slot, flat in fresh.items():
            if slot in ("iteration", "learning_rate"):
                continue
            flat = flat.copy()
            for p, seg in zip(store.params, store.segments):
                flat[seg] = data[f"{slot}/{keys[id(p)]}"].reshape(-1)
            state[slot] = flat
        opt.set_state(state)
    except (KeyError, ValueError, TypeError, IndexError, AttributeError, OverflowError) as e:
        opt.set_state(fresh)
        warnings.warn(
            f"The optimizer state in {source} does not fit the model's optimizer "
            f"({type(e).__name__}: {e}); training will start with a fresh "
            "optimizer state.",
            stacklevel=3,
        )


def load_model(filepath, custom_objects=None, compile=True):
    """Rebuild a model saved with ``model.save`` (``.graphc``) or by Keras (``.keras``,
    legacy ``.h5``): weights, and compile settings and the optimizer's state when they were
    plain names. Reads JSON, ``.npz`` and HDF5 data only (no pickle, no code). Sizes are
    checked before anything is allocated; a damaged or hostile file raises
    ``graphc.errors.FileFormatError`` saying what is wrong. An optimizer state that cannot
    be read or does not fit gives a warning and a fresh optimizer."""
    filepath = os.fspath(filepath)
    if not os.path.exists(filepath):
        raise FileNotFoundError(f"No such file: {filepath}")
    from graphc.layers.serialization import custom_object_scope

    # Functions named in the configs (a custom activation) are found in the scope.
    with custom_object_scope(custom_objects):
        return _load_model(filepath, custom_objects, compile)


def _load_model(filepath, custom_objects, compile):
    from graphc.models import keras_format

    if filepath.endswith((".h5", ".hdf5")):
        return keras_format.load_legacy_h5(filepath, custom_objects=custom_objects, compile=compile)
    if keras_format.is_keras_file(filepath):
        return keras_format.load_keras(filepath, custom_objects=custom_objects, compile=compile)
    if not zipfile.is_zipfile(filepath):
        raise FileFormatError(f"{filepath} is not a .graphc model file (not a zip archive).")
    with _open_zip(filepath, "a .graphc model file") as z:
        names = set(z.namelist())
        if not {"config.json", "model.weights.npz"} <= names:
            raise FileFormatError(
                f"{filepath} is not a .graphc model file: it lacks "
                f"{sorted({'config.json', 'model.weights.npz'} - names)}."
            )
        config = _parse_config(_entry(z, "config.json", filepath, MAX_CONFIG_BYTES), filepath)
        weights = io.BytesIO(_entry(z, "model.weights.npz", filepath))
        source = f"{filepath} (model.weights.npz)"
        headers = _npz_headers(weights, source)
        _check_manifest(config.get("weights"), headers, filepath)
        try:
            with _budget_of(headers, filepath):
                model = model_from_config(config["model"], custom_objects)
        except GraphcError:
            raise
        except (Exception, RecursionError) as e:  # noqa: BLE001 - any malformed config
            raise FileFormatError(
                f"Cannot rebuild the model in {filepath} from its config: {type(e).__name__}: {e}"
            ) from e
        _check_fits(model, headers, filepath)
        _set_from_npz(model, _npz_arrays(weights, headers, source), filepath)
        from graphc.models.keras_format import restore_assets

        restore_assets(model, z, sorted(n for n in names if n.startswith("assets/")), filepath)
        optimizer = None
        if "optimizer.npz" in names and compile:
            try:
                optimizer = _read_optimizer(z, filepath)
            except FileFormatError as e:
                warnings.warn(
                    f"The optimizer state in {filepath} cannot be read ({e}); "
                    "training will start with a fresh optimizer state.",
                    stacklevel=2,
                )
    cc = config.get("compile_config")
    if compile and cc:
        try:
            _compile_from_config(model, cc, custom_objects)
        except GraphcError:
            raise
        except (Exception, RecursionError) as e:  # noqa: BLE001 - a malformed config
            raise FileFormatError(
                f"Cannot compile the model in {filepath} from its "
                f"compile config: {type(e).__name__}: {e}"
            ) from e
        if optimizer is not None:
            _restore_optimizer(model, optimizer, filepath)
    return model


def _read_optimizer(z, filepath) -> dict:
    raw = io.BytesIO(_entry(z, "optimizer.npz", filepath))
    source = f"{filepath} (optimizer.npz)"
    try:
        with np.load(raw, allow_pickle=False) as data:
            names = list(data.files)
    except _ZIP_ERRORS + (OSError,) as e:
        raise FileFormatError(f"{source} is damaged ({type(e).__name__}: {e})") from None
    from numpy.lib import format as npy

    out = {}
    with _open_zip(raw, "an .npz file") as z2:
        for name in names:
            try:
                info = z2.getinfo(name + ".npy")
            except KeyError:  # a damaged entry name: numpy lists it without ".npy"
                raise FileFormatError(
                    f"{source}: entry {name!r} is not an .npy array; the file is damaged."
                ) from None
            if info.file_size > _RATIO_FROM and info.file_size > MAX_EXPANSION_RATIO * max(
                info.compress_size, 1
            ):
                raise FileFormatError(f"{source}: array {name} would expand too much.")
            try:
                with z2.open(info) as f:
                    out[name] = npy.read_array(f, allow_pickle=False)
                if out[name].dtype.kind not in "biuf":
                    raise ValueError(f"dtype {out[name].dtype} is not a real number type")
            except Exception as e:  # noqa: BLE001 - numpy's parser raises many kinds
                raise FileFormatError(
                    f"{source}: array {name} is damaged ({type(e).__name__}: {e})"
                ) from None
    return out


def _compile_from_config(model, cc, custom_objects):
    from graphc import losses, optimizers

    names = model.output_names
    model._named_outputs = cc.get("named_outputs", True)

    def loss(spec):
        return losses.deserialize(spec, custom_objects) if spec else None

    model.compile(
        optimizer=optimizers.deserialize(cc["optimizer"], custom_objects),
        loss=[loss(each) for each in cc["loss"]] if len(cc["loss"]) > 1 else loss(cc["loss"][0]),
        loss_weights=cc.get("loss_weights"),
        metrics=_metrics_arg(cc.get("metrics"), names),
        weighted_metrics=_metrics_arg(cc.get("weighted_metrics"), names),
    )


def _metrics_arg(metrics, names):
    """The ``metrics=``/``weighted_metrics=`` of ``compile`` from a saved list per output."""
    if metrics and len(names) > 1:
        return {n: [m for m in ms if m] for n, ms in zip(names, metrics)}
    return [m for m in (metrics or [[]])[0] if m]


def model_from_json(json_string, custom_objects=None):
    spec = json.loads(json_string)
    return deserialize_layer(spec, custom_objects)
