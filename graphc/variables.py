"""``graphc.Variable``, ``graphc.KerasTensor`` and ``graphc.name_scope``, as Keras's.

A layer's weights are ``graphc.ir.Parameter``s (made by ``add_weight``); ``Variable`` is
the same class with Keras's constructor, so ``isinstance(layer.kernel, graphc.Variable)``
holds and a ``Variable`` made by hand works wherever a weight does (in ``graphc.ops``
calls, eagerly or recorded). A symbolic tensor (``graphc.Input(...)``, a layer's output
on one) is a ``graphc.ir.Value``: that is ``KerasTensor``.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from graphc.errors import ArgumentValueError
from graphc.ir import Parameter, Value

KerasTensor = Value

__all__ = ["KerasTensor", "Variable", "name_scope"]

_SCOPES: list[name_scope] = []
_COUNTER = itertools.count(1)


class name_scope:
    """A sub-namespace for variable paths: a ``Variable`` made inside
    ``with graphc.name_scope("block"):`` has the path ``"block/<name>"``.

    Args (as Keras's): ``name``, ``caller`` (an object; with ``deduplicate``, entering
    the scope its caller already opened under the same name does not nest again),
    ``deduplicate``, ``override_parent`` (an absolute path replacing the enclosing
    scopes)."""

    def __init__(self, name, caller=None, deduplicate=True, override_parent=None):
        if not isinstance(name, str) or "/" in name:
            raise ArgumentValueError(
                "Argument `name` must be a string and cannot contain character `/`. "
                f"Received: name={name!r}"
            )
        self.name = name
        self.caller = caller
        self.deduplicate = deduplicate
        self.override_parent = override_parent
        if (
            override_parent is None
            and deduplicate
            and getattr(caller, "_parent_path", None) is not None
        ):
            self.override_parent = caller._parent_path
        self._pop_on_exit = False

    def __enter__(self):
        if self.deduplicate and _SCOPES:
            parent = _SCOPES[-1]
            if self.caller is not None and self.caller is parent.caller:
                if self.name == parent.name:
                    return self
        _SCOPES.append(self)
        self._pop_on_exit = True
        return self

    def __exit__(self, *exc):
        if self._pop_on_exit and _SCOPES:
            _SCOPES.pop()
            self._pop_on_exit = False


def current_path() -> str:
    """The path of the open name scopes (``""`` outside any)."""
    parts: list[str] = []
    for entry in _SCOPES:
        if entry.override_parent is not None:
            parts = [p for p in entry.override_parent.split("/") if p]
        parts.append(entry.name)
    return "/".join(parts)


def _initial_value(initializer: Any, shape: Any, dtype: Any) -> np.ndarray:
    from graphc import initializers
    from graphc.utils.general import standardize_dtype

    if isinstance(initializer, str):
        initializer = initializers.get(initializer)
    if callable(initializer):
        if shape is None:
            raise ArgumentValueError(
                "When creating a Variable from an initializer, the `shape` argument "
                f"should be specified. Received: initializer={initializer} and shape=None"
            )
        dtype = standardize_dtype(dtype)
        value = initializer(tuple(int(d) for d in shape), dtype=dtype)
        return np.array(value, dtype=dtype)
    if isinstance(initializer, Value) and not isinstance(initializer, Parameter):
        raise ArgumentValueError(
            "A Variable's initial value must be an array, received the symbolic tensor "
            f"{initializer!r}. Pass an array or an initializer with a shape."
        )
    raw = initializer.data if isinstance(initializer, Parameter) else initializer
    value = np.asarray(raw)
    if dtype is None:
        # As Keras's convert_to_tensor: Python numbers become float32 / int32.
        if not isinstance(raw, np.ndarray) and not isinstance(raw, np.generic):
            if value.dtype == np.float64:
                value = value.astype("float32")
            elif value.dtype == np.int64:
                value = value.astype("int32")
    else:
        value = value.astype(standardize_dtype(dtype))
    if shape is not None and tuple(value.shape) != tuple(shape):
        raise ArgumentValueError(
            f"Initial value has shape {value.shape}, but shape={tuple(shape)} was given. "
            "Pass a matching shape or leave shape=None."
        )
    return np.array(value, copy=True)


class _VariableMeta(type):
    # Every weight is a Variable: isinstance(layer.kernel, graphc.Variable) is True.
    def __instancecheck__(cls, obj):
        if cls is Variable:
            return isinstance(obj, Parameter)
        return type.__instancecheck__(cls, obj)


class Variable(Parameter, metaclass=_VariableMeta):
    """A weight made by hand, as ``keras.Variable``::

        v = graphc.Variable(initializer=np.ones((2, 2)), name="v")
        v.assign_add(np.ones((2, 2)))
        v.numpy(), v.value, v.shape, v.dtype, v.trainable, v.path

    Arithmetic (``v + 1``, ``v @ w``) runs the ops on its value (recorded inside a
    layer's ``call``, as Keras's variables are read there).
    """

    def __init__(
        self,
        initializer,
        shape=None,
        dtype=None,
        trainable=True,
        autocast=True,
        aggregation="none",
        synchronization="auto",
        name=None,
        **kwargs,
    ):
        name = name or f"variable_{next(_COUNTER)}"
        if not isinstance(name, str) or "/" in name:
            raise ArgumentValueError(
                "Argument `name` must be a string and cannot contain character `/`. "
                f"Received: name={name!r}"
            )
        if aggregation not in (None, "none", "mean", "sum", "only_first_replica"):
            raise ArgumentValueError(
                "Invalid value for argument `aggregation`. Expected one of `None`, "
                "`'none'`, `'mean'`, `'sum'`, `'only_first_replica'`. "
                f"Received: aggregation={aggregation!r}"
            )
        if synchronization not in (None, "none", "on_read", "on_write", "auto"):
            raise ArgumentValueError(
                "Invalid value for argument `synchronization`. Expected one of `None`, "
                "`'none'`, `'on_read'`, `'on_write'`, `'auto'`. "
                f"Received: synchronization={synchronization!r}"
            )
        data = _initial_value(initializer, shape, dtype)
        super().__init__(data, name, trainable=bool(trainable))
        parent = current_path()
        self._path = f"{parent}/{name}" if parent else name
        self._keras_name = name
        self.autocast = bool(autocast)
        self.aggregation = aggregation or "none"
        self.synchronization = synchronization or "none"

    @property
    def path(self) -> str:  # type: ignore[override]
        return self._path

    def assign_add(self, value: Any) -> Any:
        if self._records(value, "assign_add"):  # inside a symbolic call: a node
            return self._record_assign(self + value)
        self.assign(self.data + np.asarray(value, dtype=self.data.dtype))
        return self

    def assign_sub(self, value: Any) -> Any:
        if self._records(value, "assign_sub"):
            return self._record_assign(self - value)
        self.assign(self.data - np.asarray(value, dtype=self.data.dtype))
        return self

    def __array__(self, dtype=None, copy=None):
        return np.asarray(self.data, dtype=dtype)

    def __len__(self) -> int:
        return len(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)
