"""``keras.utils.Config``: a dict of named values read and set as attributes or items,
that can be frozen and written as JSON (Keras's ``keras/src/utils/config.py``)."""

from __future__ import annotations

import copy
import difflib
import json

from graphc.errors import ArgumentValueError

__all__ = ["Config"]


class Config:
    """A dict-like container of named values, as ``keras.utils.Config``.

    ``Config(learning_rate=0.1)``; ``config.momentum = 0.9`` and ``config["seed"] = 1``
    add entries; ``freeze()`` makes every later change raise ``ValueError``;
    ``as_dict()``, ``to_json()``, ``keys()``, ``values()``, ``items()``, ``get``, ``pop``
    and ``update`` work as on a dict, and iteration yields the keys sorted.
    """

    __attrs__ = None

    def __init__(self, **kwargs):
        self._config = kwargs
        self._frozen = False
        self.__attrs__ = set(dir(self))

    @property
    def frozen(self):
        """True once ``freeze()`` was called (and not undone by ``unfreeze()``)."""
        return self._frozen

    def freeze(self):
        """Refuse every later change of the entries."""
        self._frozen = True

    def unfreeze(self):
        self._frozen = False

    def _raise_if_frozen(self):
        if self._frozen:
            raise ArgumentValueError(
                "Cannot mutate attribute(s) because the config is frozen. "
                "Call `unfreeze()` first to change it."
            )

    def as_dict(self):
        return copy.copy(self._config)

    def to_json(self):
        return json.dumps(self._config)

    def keys(self):
        return self._config.keys()

    def values(self):
        return self._config.values()

    def items(self):
        return self._config.items()

    def pop(self, *args):
        self._raise_if_frozen()
        return self._config.pop(*args)

    def update(self, *args, **kwargs):
        self._raise_if_frozen()
        return self._config.update(*args, **kwargs)

    def get(self, keyname, value=None):
        return self._config.get(keyname, value)

    def __setattr__(self, name, value):
        attrs = object.__getattribute__(self, "__attrs__")
        if attrs is None or name in attrs:
            return object.__setattr__(self, name, value)
        self._raise_if_frozen()
        self._config[name] = value

    def __getattr__(self, name):
        attrs = object.__getattribute__(self, "__attrs__")
        if attrs is None or name in attrs:
            return object.__getattribute__(self, name)
        if name in self._config:
            return self._config[name]
        msg = f"Unknown attribute: '{name}'."
        closest = difflib.get_close_matches(name, self._config.keys(), n=1, cutoff=0.7)
        if closest:
            msg += f" Did you mean '{closest[0]}'?"
        raise AttributeError(msg)

    def __setitem__(self, key, item):
        self._raise_if_frozen()
        self._config[key] = item

    def __getitem__(self, key):
        return self._config[key]

    def __repr__(self):
        return f"<Config {self._config}>"

    def __iter__(self):
        yield from sorted(self._config.keys())

    def __len__(self):
        return len(self._config)

    def __delitem__(self, key):
        self._raise_if_frozen()
        del self._config[key]

    def __contains__(self, item):
        return item in self._config
