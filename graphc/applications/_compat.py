"""What the applications' code (adapted from Keras's ``keras/src/applications``, Apache
License 2.0) needs from Keras beyond the layers: ``backend``, ``operation_utils``,
``file_utils`` and ``Functional``, made of graphc's."""

from __future__ import annotations

import os
import types

from graphc import config, layers  # noqa: F401
from graphc.models import Model as Functional  # noqa: F401
from graphc.models import Sequential  # noqa: F401
from graphc.utils.general import is_keras_tensor

_uids: dict = {}


def _get_uid(prefix=""):
    _uids[prefix] = _uids.get(prefix, 0) + 1
    return _uids[prefix]


backend = types.SimpleNamespace(
    image_data_format=config.image_data_format,
    is_keras_tensor=is_keras_tensor,
    get_uid=_get_uid,
    floatx=lambda: "float32",
)


def _get_source_inputs(tensor):
    """The graph inputs ``tensor`` is computed from, as Keras's ``get_source_inputs``."""
    if getattr(tensor, "kind", None) == "input":
        return [tensor]
    out, seen, stack = [], set(), [tensor]
    while stack:
        v = stack.pop()
        if id(v) in seen:
            continue
        seen.add(id(v))
        if getattr(v, "kind", None) == "input":
            out.append(v)
        elif getattr(v, "producer", None) is not None:
            stack.extend(reversed(v.producer.inputs))
    return out


operation_utils = types.SimpleNamespace(get_source_inputs=_get_source_inputs)


def _exists(path) -> bool:
    try:
        return os.path.exists(os.fspath(path))
    except TypeError:
        return False


file_utils = types.SimpleNamespace(exists=_exists)


def _get_file(fname=None, origin=None, cache_subdir="models", file_hash=None, **_):
    from graphc.applications.imagenet_utils import fetch

    return fetch(fname, origin, file_hash)


file_utils.get_file = _get_file
