"""``keras.saving.KerasFileEditor``: inspect, edit and re-save the weights of a Keras 3
``.keras`` or ``.weights.h5`` file (Keras's ``keras/src/saving/file_editor.py``).

The weights are read into a tree of dicts as Keras's editor reads them (``layers`` ->
``dense`` -> ``{"0": kernel, "1": bias}``: each HDF5 group's ``vars`` datasets by their
names, its sub-objects by theirs), edited with Keras's methods and written as a
``.weights.h5`` file that ``model.load_weights`` of Keras or graphc reads. One difference:
Keras 3.15's editor drops the sub-objects of a group that also has a ``vars`` group (a
recurrent layer's ``cell``), so its re-saved file lacks those weights; graphc keeps them.

Files from strangers are read as graphc's ``.keras`` reader reads them: nothing runs and
nothing is unpickled (the config is JSON, kept as data), the zip members' sizes are
checked before they are read, links out of the file, virtual and external datasets and
non-numeric data are refused, and every dataset's size is checked before it is read.
"""

from __future__ import annotations

import io
import json
import math
import os
import zipfile

import numpy as np

from graphc.errors import ArgumentTypeError, ArgumentValueError, FileFormatError
from graphc.files import atomic_write
from graphc.models.keras_format import (
    _CONFIG,
    _METADATA,
    _WEIGHTS,
    MAX_CONFIG_BYTES,
    MAX_TOTAL_ELEMENTS,
    MAX_WEIGHT_ELEMENTS,
    MAX_WEIGHTS_BYTES,
    UnsafeFileError,
    _h5_attr,
    _h5py,
    _read_member,
    _write_h5,
    reading,
)

__all__ = ["KerasFileEditor"]

#: Groups nested deeper than this are refused (a hard-link cycle would never end).
MAX_DEPTH = 64


def _label(value) -> str:
    return value.decode("utf8", "replace") if isinstance(value, bytes) else str(value)


class _Reader:
    """The weight tree of an open HDF5 file, every object checked before it is read."""

    def __init__(self, h5, source: str):
        self.h5py = _h5py()
        self.source = source
        self.metadata: dict = {}
        self.elements = 0
        self.tree = self.group(h5, "", 0)

    def attrs(self, group) -> dict:
        return {k: _h5_attr(group, k) for k in group.attrs}

    def child(self, group, key, where):
        link = group.get(key, getlink=True)
        if isinstance(link, (self.h5py.ExternalLink, self.h5py.SoftLink)):
            raise UnsafeFileError(
                f"{self.source}: {where} is a link ({type(link).__name__}); graphc reads "
                "only data stored in the file itself."
            )
        return group[key]

    def dataset(self, ds, where):
        if ds.is_virtual or ds.external:
            raise UnsafeFileError(
                f"{self.source}: {where} stores its data outside the file; graphc refuses it."
            )
        if ds.dtype.kind not in "fiub":
            raise UnsafeFileError(
                f"{self.source}: {where} has dtype {ds.dtype}; only numeric weights are read."
            )
        if len(ds.shape) > 64:
            raise UnsafeFileError(f"{self.source}: {where} has rank {len(ds.shape)}, over 64.")
        n = math.prod(ds.shape)
        self.elements += n
        if n > MAX_WEIGHT_ELEMENTS or self.elements > MAX_TOTAL_ELEMENTS:
            raise UnsafeFileError(
                f"{self.source}: {where} has {n:,} values, over graphc's limits for a "
                f"loaded file ({MAX_WEIGHT_ELEMENTS:,} in one weight, "
                f"{MAX_TOTAL_ELEMENTS:,} in all)."
            )
        return np.asarray(ds[()])

    def group(self, group, path: str, depth: int) -> dict:
        if depth > MAX_DEPTH:
            raise UnsafeFileError(f"{self.source}: groups nested deeper than {MAX_DEPTH}.")
        meta = self.attrs(group)
        out: dict = {}
        keys = list(group.keys())
        if "vars" in keys:
            vars_group = self.child(group, "vars", f"{path}/vars")
            if isinstance(vars_group, self.h5py.Group):
                meta.update(self.attrs(vars_group))
                for key in vars_group.keys():
                    value = self.child(vars_group, key, f"{path}/vars/{key}")
                    if not isinstance(value, self.h5py.Dataset):
                        raise FileFormatError(
                            f"{self.source}: {path}/vars/{key} is a group; a vars group holds "
                            "only weights. The file is not a Keras 3 weights file."
                        )
                    out[key] = self.dataset(value, f"{path}/vars/{key}")
                keys.remove("vars")
        if meta:
            self.metadata[path] = meta
        for key in keys:
            where = f"{path}/{key}"
            value = self.child(group, key, where)
            if isinstance(value, self.h5py.Group):
                if len(value) == 0:
                    continue
                sub = self.group(value, where, depth + 1)
                if not sub:
                    continue
                if key in out:
                    raise FileFormatError(f"{self.source}: {where} is both a weight and an object.")
                out[key] = sub
            elif isinstance(value, self.h5py.Dataset):
                out[key] = self.dataset(value, where)
        return out


class KerasFileEditor:
    """Inspect, edit and re-save the weights of a Keras file, as
    ``keras.saving.KerasFileEditor``.

    ``KerasFileEditor("model.keras")`` (or a ``.weights.h5`` file) reads the weights into
    ``weights_dict`` (nested dicts of NumPy arrays, addressed as ``"layers/dense"``);
    ``summary()`` prints the tree; ``compare(model)`` checks it against a graphc model;
    ``rename_object``, ``delete_object``, ``add_object``, ``delete_weight`` and
    ``add_weights`` edit it; ``save("edited.weights.h5")`` writes the result.

    Args:
        filepath: The ``.keras`` or ``.weights.h5`` file to open.
    """

    def __init__(self, filepath):
        if not isinstance(filepath, (str, os.PathLike)):
            raise ArgumentTypeError(
                f"KerasFileEditor expects a file path; received {type(filepath).__name__}."
            )
        filepath = os.fspath(filepath)
        self.filepath = filepath
        self.metadata = None
        self.config = None
        self.model = None
        if not (filepath.endswith(".keras") or filepath.endswith(".weights.h5")):
            raise ArgumentValueError(
                "Invalid filename: expected a `.keras` `.weights.h5` extension. "
                f"Received: filepath={filepath}"
            )
        with reading(filepath):
            self.weights_dict, self.object_metadata = self._read(filepath)
        print(self._generate_filepath_info())
        if self.metadata is not None:
            print(self._generate_metadata_info())

    def _read(self, filepath):
        h5py = _h5py()
        if filepath.endswith(".keras"):
            with zipfile.ZipFile(filepath) as z:
                self.config = json.loads(_read_member(z, _CONFIG, MAX_CONFIG_BYTES, filepath))
                self.metadata = json.loads(_read_member(z, _METADATA, MAX_CONFIG_BYTES, filepath))
                data = _read_member(z, _WEIGHTS, MAX_WEIGHTS_BYTES, filepath)
            f = io.BytesIO(data)
        else:
            if os.path.getsize(filepath) > MAX_WEIGHTS_BYTES:
                raise UnsafeFileError(
                    f"{filepath} is larger than graphc's limit ({MAX_WEIGHTS_BYTES} bytes)."
                )
            f = open(filepath, "rb")  # closed below
        try:
            with h5py.File(f, "r") as h:
                reader = _Reader(h, filepath)
        finally:
            f.close()
        return reader.tree, reader.metadata

    # ---- inspecting ---------------------------------------------------------------------
    def summary(self):
        """Print the weight structure of the opened file."""
        print("Weights structure")
        self._print_weights_structure(self.weights_dict, prefix=" " * 2)

    def compare(self, reference_model):
        """List every mismatch between the opened file and ``reference_model`` (a graphc
        model, laid out as Keras saves it). Returns ``{"status": "success" | "error",
        "error_count": ..., "match_count": ...}``."""
        print("Running comparison")
        ref_spec = _weight_spec(reference_model)

        def _compare(target, ref, inner_path, target_name, ref_name, checked):
            errors = matches = 0
            base = inner_path
            for key, ref_val in ref.items():
                inner_path = f"{base}/{key}"
                if inner_path in checked:
                    continue
                if key not in target:
                    errors += 1
                    checked.add(inner_path)
                    kind = "Object" if isinstance(ref_val, dict) else "Weight"
                    print(
                        f"...{kind} {inner_path} present in {ref_name}, missing from {target_name}"
                    )
                    if isinstance(ref_val, dict):
                        print(
                            f"    In {ref_name}, {inner_path} contains "
                            f"the following keys: {list(ref_val.keys())}"
                        )
                elif isinstance(ref_val, dict):
                    if not isinstance(target[key], dict):
                        errors += 1
                        checked.add(inner_path)
                        print(
                            f"...{inner_path} is an object in {ref_name}, a weight in {target_name}"
                        )
                        continue
                    e, m = _compare(
                        target[key], ref_val, inner_path, target_name, ref_name, checked
                    )
                    errors += e
                    matches += m
                elif isinstance(target[key], dict) or target[key].shape != ref_val.shape:
                    errors += 1
                    checked.add(inner_path)
                    print(
                        f"...Weight shape mismatch for {inner_path}\n"
                        f"    In {ref_name}: shape={_shape(ref_val)}\n"
                        f"    In {target_name}: shape={_shape(target[key])}"
                    )
                else:
                    matches += 1
            return errors, matches

        checked: set = set()
        error_count, match_count = _compare(
            self.weights_dict, ref_spec, "", "saved file", "reference model", checked
        )
        more, _ = _compare(
            ref_spec, self.weights_dict, "", "reference model", "saved file", checked
        )
        error_count += more
        print("─────────────────────")
        if error_count == 0:
            status = "success"
            print("Comparison successful: saved file is compatible with the reference model")
            print(f"    Found {match_count} matching weight{'' if match_count == 1 else 's'}")
        else:
            status = "error"
            print(
                f"Found {error_count} error{'' if error_count == 1 else 's'}: "
                "saved file is not compatible with the reference model"
            )
        return {"status": status, "error_count": error_count, "match_count": match_count}

    # ---- editing --------------------------------------------------------------------------
    def _edit_object(self, edit_fn, source_name, target_name=None):
        if target_name is not None and "/" in target_name:
            raise ArgumentValueError(
                "Argument `target_name` should be a leaf name, not a full path name. "
                f"Received: target_name='{target_name}'"
            )
        if "/" in source_name:
            elements = source_name.split("/")
            d = self.weights_dict
            for e in elements[:-1]:
                if not isinstance(d, dict) or e not in d:
                    raise ArgumentValueError(f"Path '{source_name}' not found in model.")
                d = d[e]
            if not isinstance(d, dict) or elements[-1] not in d:
                raise ArgumentValueError(f"Path '{source_name}' not found in model.")
            edit_fn(d, source_name=elements[-1], target_name=target_name)
            return

        def count(d):
            n = sum(count(v) for v in d.values() if isinstance(v, dict))
            return n + (source_name in d)

        occurrences = count(self.weights_dict)
        if occurrences > 1:
            raise ArgumentValueError(
                f"Name '{source_name}' occurs more than once in the model; "
                "try passing a complete path"
            )
        if occurrences == 0:
            raise ArgumentValueError(
                f"Source name '{source_name}' does not appear in the model. "
                "Use `editor.summary()` to list all objects."
            )

        def edit(d):
            for v in list(d.values()):
                if isinstance(v, dict):
                    edit(v)
            if source_name in d:
                edit_fn(d, source_name=source_name, target_name=target_name)

        edit(self.weights_dict)

    def rename_object(self, object_name, new_name):
        """Rename an object (``"dense_2"`` or ``"layers/dense_2"``) to ``new_name``."""

        def rename_fn(d, source_name, target_name):
            d[target_name] = d.pop(source_name)

        self._edit_object(rename_fn, object_name, new_name)

    def delete_object(self, object_name):
        """Remove an object (``"dense_2"`` or ``"layers/dense_2"``) and its weights."""

        def delete_fn(d, source_name, target_name=None):
            d.pop(source_name)

        self._edit_object(delete_fn, object_name)

    def add_object(self, object_path, weights):
        """Add an object at ``object_path`` (``"layers/dense_2"``) with ``weights``, a
        dict of weight names to arrays (``{"0": kernel, "1": bias}``)."""
        _check_weights(weights)
        if "/" in object_path:
            elements = object_path.split("/")
            partial_path = "/".join(elements[:-1])
            d = self.weights_dict
            for e in elements[:-1]:
                if not isinstance(d, dict) or e not in d:
                    raise ArgumentValueError(f"Path '{partial_path}' not found in model.")
                d = d[e]
            d[elements[-1]] = weights
        else:
            self.weights_dict[object_path] = weights

    def delete_weight(self, object_name, weight_name):
        """Remove the weight ``weight_name`` (``"0"``) of an object."""

        def delete_weight_fn(d, source_name, target_name=None):
            if weight_name not in d[source_name]:
                raise ArgumentValueError(
                    f"Weight {weight_name} not found in object {object_name}. "
                    f"Weights found: {list(d[source_name].keys())}"
                )
            d[source_name].pop(weight_name)

        self._edit_object(delete_weight_fn, object_name)

    def add_weights(self, object_name, weights):
        """Add ``weights`` (a dict of weight names to arrays) to an existing object."""
        _check_weights(weights)

        def add_weight_fn(d, source_name, target_name=None):
            d[source_name].update(weights)

        self._edit_object(add_weight_fn, object_name)

    # ---- saving ---------------------------------------------------------------------------
    def save(self, filepath):
        """Write the edited weights to ``filepath``, a ``.weights.h5`` file (atomically:
        an interrupted save leaves any earlier file whole)."""
        filepath = os.fspath(filepath)
        if not filepath.endswith(".weights.h5"):
            raise ArgumentValueError(
                "Invalid `filepath` argument: expected a `.weights.h5` extension. "
                f"Received: filepath={filepath}"
            )
        h5py = _h5py()
        buf = io.BytesIO()
        with h5py.File(buf, "w") as h:

            def write(d, path):
                leaves = {}
                for name, value in d.items():
                    if isinstance(value, dict):
                        if value:
                            write(value, f"{path}/{name}" if path else name)
                    else:
                        leaves[name] = value
                if leaves:
                    g = h.create_group(f"{path}/vars" if path else "vars")
                    for name, value in leaves.items():
                        g.create_dataset(name, data=_array(value, f"{path}/{name}"))

            write(self.weights_dict, "")
        data = buf.getvalue()
        atomic_write(filepath, lambda f: f.write(data))

    def resave_weights(self, filepath):
        """``save(filepath)``."""
        self.save(filepath)

    # ---- printing -------------------------------------------------------------------------
    def _generate_filepath_info(self, rich_style=False):
        return f"Keras model file '{self.filepath}'"

    def _generate_config_info(self, rich_style=False):
        import pprint

        return pprint.pformat(self.config)

    def _generate_metadata_info(self, rich_style=False):
        version = self.metadata.get("keras_version")
        date = self.metadata.get("date_saved")
        return f"Saved with Keras {version} - date: {date}"

    def _print_weights_structure(self, weights_dict, prefix="", inner_path="", is_first=True):
        n = len(weights_dict)
        for idx, (key, value) in enumerate(weights_dict.items()):
            path = f"{inner_path}/{key}"
            is_last = idx == n - 1
            if is_first:
                is_first = False
                connector = "> "
            elif is_last:
                connector = "└─ "
            else:
                connector = "├─ "
            if isinstance(value, dict):
                label = f"{prefix}{connector}{key}"
                name = self.object_metadata.get(path, {}).get("name")
                if name is not None:
                    label += f" ('{_label(name)}')"
                print(label)
                self._print_weights_structure(
                    value,
                    prefix=prefix + ("    " if is_last else "│   "),
                    inner_path=path,
                    is_first=is_first,
                )
            elif hasattr(value, "shape"):
                print(f"{prefix}{connector}{key}: shape={value.shape}, dtype={value.dtype}")
            else:
                print(f"{prefix}{connector}{key}: {value}")


def _shape(v):
    return "(an object)" if isinstance(v, dict) else tuple(v.shape)


def _check_weights(weights):
    if not isinstance(weights, dict):
        raise ArgumentValueError(
            "Argument `weights` should be a dict "
            "where keys are weight names (usually '0', '1', etc.) "
            "and values are NumPy arrays. "
            f"Received: type(weights)={type(weights)}"
        )


def _array(value, where):
    a = np.asarray(value.numpy() if hasattr(value, "numpy") else value)
    if a.dtype.kind not in "fiub":
        raise ArgumentTypeError(
            f"The weight {where} is not numeric (dtype {a.dtype}); a Keras weights file "
            "holds numeric arrays only. Pass a NumPy array of numbers."
        )
    return a


def _weight_spec(model) -> dict:
    """The weight tree graphc writes for ``model`` (Keras's layout): shapes only."""
    from graphc.models.functional import Model

    if not isinstance(model, Model):
        raise ArgumentTypeError(
            f"compare() expects a graphc model (keras.Model); received {type(model).__name__}."
        )
    h5py = _h5py()
    buf = io.BytesIO()
    _write_h5(model, buf, optimizer=getattr(model, "_compiled", None) is not None)
    buf.seek(0)
    with h5py.File(buf, "r") as h:
        return _Reader(h, f"the model {model.name!r}").tree
