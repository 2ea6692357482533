"""All trainable weights in one contiguous float32 buffer, gradients in another.

Each weight's ``data`` becomes a view into the buffer, so the optimizer updates every
weight in a few vectorised calls, and ``set_weights``/``assign`` (which write in place)
stay visible to training.
"""

from __future__ import annotations

from typing import Any, Iterable

import numpy as np

from graphc.ir import Parameter


class ParamStore:
    def __init__(self, params: Iterable[Parameter], dtype: Any = np.float32) -> None:
        self.params = list(params)
        sizes = [int(np.prod(p.shape)) for p in self.params]
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.segments = [slice(int(a), int(b)) for a, b in zip(offsets[:-1], offsets[1:])]
        total = int(offsets[-1])
        self.values = np.empty(total, dtype=dtype)
        self.grads = np.zeros(total, dtype=dtype)
        self.grad_views = {}
        for p, seg in zip(self.params, self.segments):
            view = self.values[seg].reshape(p.shape)
            view[...] = p.data
            p.data = view
            self.grad_views[p] = self.grads[seg].reshape(p.shape)

    def owns(self, params: Iterable[Parameter]) -> bool:
        """Still the store of exactly these parameters, each still viewing the buffer?"""
        params = list(params)
        values = self.values
        # A view made by ``__init__`` has ``values`` as its base: that answers at once;
        # ``np.shares_memory`` (an exact overlap test) decides the rest.
        return params == self.params and all(
            p.data.base is values or np.shares_memory(p.data, values) for p in params if p.data.size
        )

    def __len__(self) -> int:
        return self.values.size
