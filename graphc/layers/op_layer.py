"""The layer that holds an op applied outside any layer (``x + y``, ``ops.relu(x)`` on
symbolic tensors), as Keras 3 records such operations: it gets a name (``add``,
``add_1``), a summary row and a config, so every node of a model belongs to a layer."""

from __future__ import annotations

import numpy as np

from graphc import recording
from graphc.ir import Value
from graphc.layers.base import Layer
from graphc.ops.control_flow import ScanBody
from graphc.ops.registry import apply


def _constant_config(v):
    if isinstance(v, Value):
        raise NotImplementedError(
            f"Cannot serialize an op on weight {v.ir_name} outside a layer; wrap the "
            "computation in a custom layer that owns the weight."
        )
    return v.tolist()


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))


class OpLayer(Layer):
    """Applies registered op ``op`` to its symbolic inputs; ``constants`` maps input
    positions to the non-symbolic operands (Python numbers or arrays)."""

    def __init__(self, op: str, attrs=None, constants=None, **kwargs):
        kwargs.setdefault("name", None)
        if kwargs["name"] is None:
            kwargs["name"] = recording.unique_layer_name(op)
        super().__init__(**kwargs)
        self.op = op
        self.attrs = dict(attrs or {})
        # A weight used in a raw op stays a weight (shared, trained); data becomes arrays.
        self.constants = {
            int(k): v if isinstance(v, Value) else np.asarray(v)
            for k, v in (constants or {}).items()
        }
        self.built = True

    def _drops_mask_silently(self) -> bool:
        # Ops applied outside layers (``x + y``) are Keras Operations: no mask, no warning.
        return True

    @property
    def summary_class(self) -> str:
        return _camel(self.op)

    def call(self, inputs):
        symbolic = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        n = len(symbolic) + len(self.constants)
        it = iter(symbolic)
        args = [self.constants[i] if i in self.constants else next(it) for i in range(n)]
        return apply(self.op, args, **self.attrs)

    def get_config(self):
        if isinstance(self.attrs.get("body"), ScanBody):
            raise NotImplementedError(
                f"Cannot serialize {self.name!r}: ops.scan, fori_loop, map or while_loop "
                "applied outside a layer records a Python function's step, which a model "
                "file cannot hold; call the loop inside a custom layer's call (it is "
                "recorded again when the model is loaded)."
            )
        attrs = {k: list(v) if isinstance(v, tuple) else v for k, v in self.attrs.items()}
        return {
            **super().get_config(),
            "op": self.op,
            "attrs": attrs,
            "constants": {str(k): _constant_config(v) for k, v in self.constants.items()},
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        attrs = {
            k: tuple(v) if isinstance(v, list) else v for k, v in config.pop("attrs", {}).items()
        }
        return cls(attrs=attrs, **config)


def _record_outside_layer(op: str, attrs: dict, constants: dict, symbolic: list):
    """An op applied to symbolic tensors outside any layer becomes an ``OpLayer`` call."""
    layer = OpLayer(op, attrs, constants)
    return layer(symbolic if len(symbolic) > 1 else symbolic[0])


recording.set_outside_layer_handler(_record_outside_layer)
