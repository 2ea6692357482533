"""Nested structures, as ``keras.tree``: ``flatten``, ``map_structure``,
``pack_sequence_as``, ``is_nested``, ...

A structure is a leaf or a container of structures. The containers are lists, tuples,
namedtuples and dicts (``dict`` and ``defaultdict`` in sorted key order,
``OrderedDict`` in insertion order), as Keras's tree implementations order them; ``None``
is a leaf. Classes registered with ``register_tree_node_class`` (with
``tree_flatten``/``tree_unflatten``, as optree's) are containers too.
"""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from typing import Any, Callable

__all__ = [
    "MAP_TO_NONE",
    "assert_same_paths",
    "assert_same_structure",
    "flatten",
    "flatten_with_path",
    "is_nested",
    "lists_to_tuples",
    "map_shape_structure",
    "map_structure",
    "map_structure_up_to",
    "pack_sequence_as",
    "register_tree_node_class",
    "traverse",
]


class MAP_TO_NONE:
    """Special value for use with ``traverse()``: the node becomes ``None``."""


_REGISTERED: dict[type, None] = {}


def register_tree_node_class(cls):
    """Make ``cls`` a container: its instances give ``tree_flatten() -> (children,
    aux)`` and the class rebuilds them with ``tree_unflatten(aux, children)``."""
    _REGISTERED[cls] = None
    return cls


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(type(x), "_fields")


def is_nested(structure: Any) -> bool:
    """True for a list, tuple, namedtuple, dict or registered class instance."""
    return isinstance(structure, (list, tuple, dict)) or type(structure) in _REGISTERED


def _keys(x: dict) -> list:
    if type(x) is OrderedDict:
        return list(x.keys())
    try:
        return sorted(x.keys())
    except TypeError:
        return list(x.keys())


def _children(x: Any) -> tuple[list, list]:
    """(keys, children) of a container, in Keras's order."""
    if isinstance(x, dict):
        keys = _keys(x)
        return keys, [x[k] for k in keys]
    if _is_namedtuple(x):
        return list(range(len(x))), list(x)
    if isinstance(x, (list, tuple)):
        return list(range(len(x))), list(x)
    children, _ = x.tree_flatten()
    return list(range(len(children))), list(children)


def _rebuild(x: Any, children: list) -> Any:
    """A container like ``x`` holding ``children`` (in ``_children``'s order)."""
    if isinstance(x, dict):
        keys = _keys(x)
        pairs = dict(zip(keys, children))
        if type(x) is defaultdict:
            return defaultdict(x.default_factory, {k: pairs[k] for k in x.keys()})
        if type(x) in (dict, OrderedDict):
            return type(x)((k, pairs[k]) for k in x.keys())
        return type(x)((k, pairs[k]) for k in x.keys())
    if _is_namedtuple(x):
        return type(x)(*children)
    if isinstance(x, list):
        return list(children)
    if isinstance(x, tuple):
        return tuple(children)
    _, aux = x.tree_flatten()
    return type(x).tree_unflatten(aux, children)


def _node_kind(x: Any) -> Any:
    if isinstance(x, dict):
        return (type(x) if type(x) is not defaultdict else dict, tuple(sorted(map(repr, x))))
    if _is_namedtuple(x):
        return (type(x), len(x))
    if isinstance(x, (list, tuple)):
        return (type(x), len(x))
    return (type(x), len(_children(x)[1]))


def flatten(structure: Any) -> list:
    """The leaves of ``structure``, depth first (dict values in sorted key order)."""
    out: list = []
    stack = [structure]
    while stack:
        x = stack.pop()
        if is_nested(x):
            stack.extend(reversed(_children(x)[1]))
        else:
            out.append(x)
    return out


def flatten_with_path(structure: Any) -> list[tuple[tuple, Any]]:
    """``(path, leaf)`` pairs; a path is the tuple of keys and indices to the leaf."""
    out: list = []
    stack: list = [((), structure)]
    while stack:
        path, x = stack.pop()
        if is_nested(x):
            keys, children = _children(x)
            stack.extend(reversed([(path + (k,), c) for k, c in zip(keys, children)]))
        else:
            out.append((path, x))
    return out


def _check_same(a: Any, b: Any) -> None:
    if is_nested(a) != is_nested(b):
        raise ValueError(
            "The two structures don't have the same nested structure: received "
            f"{_short(a)} and {_short(b)}. Pass structures of the same nesting."
        )
    if is_nested(a):
        ka, kb = _node_kind(a), _node_kind(b)
        if ka[1] != kb[1] or (
            not (isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)))
            and not (isinstance(a, dict) and isinstance(b, dict))
            and ka[0] is not kb[0]
        ):
            raise ValueError(
                "The two structures don't have the same nested structure: received "
                f"{_short(a)} and {_short(b)}. Pass structures of the same nesting."
            )


def _short(x: Any) -> str:
    s = repr(x)
    return s if len(s) < 80 else s[:77] + "..."


def map_structure(func: Callable, *structures: Any, none_is_leaf: bool = True) -> Any:
    """``func`` applied to the leaves of ``structures`` (all of the same structure),
    in the structure of the first."""
    if not structures:
        raise ValueError("Must provide at least one structure")
    first = structures[0]
    for s in structures[1:]:
        assert_same_structure(first, s)

    def rec(xs):
        x = xs[0]
        if is_nested(x):
            kids = [_children(s)[1] for s in xs]
            return _rebuild(x, [rec([k[i] for k in kids]) for i in range(len(kids[0]))])
        if not none_is_leaf and x is None:
            if not all(s is None for s in xs):
                raise ValueError(
                    "Structure mismatch: some arguments are None, others are not. "
                    f"Received arguments: {tuple(xs)}."
                )
            return None
        return func(*xs)

    return rec(list(structures))


def map_structure_up_to(shallow_structure: Any, func: Callable, *structures: Any) -> Any:
    """``func`` applied to the sub-structures of ``structures`` at the leaves of
    ``shallow_structure``."""
    if not structures:
        raise ValueError("Must provide at least one structure")

    def rec(shallow, xs):
        if not is_nested(shallow):
            return func(*xs)
        for x in xs:
            _check_same(shallow, x)
        kids = [_children(x)[1] for x in xs]
        sk = _children(shallow)[1]
        return _rebuild(xs[0], [rec(sk[i], [k[i] for k in kids]) for i in range(len(sk))])

    return rec(shallow_structure, list(structures))


def assert_same_structure(a: Any, b: Any, check_types: Any = None) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same nesting."""
    stack = [(a, b)]
    while stack:
        x, y = stack.pop()
        _check_same(x, y)
        if is_nested(x):
            stack.extend(zip(_children(x)[1], _children(y)[1]))


def assert_same_paths(a: Any, b: Any) -> None:
    """Raise ``ValueError`` unless ``a`` and ``b`` have the same leaf paths."""
    a_paths = {p for p, _ in flatten_with_path(a)}
    b_paths = {p for p, _ in flatten_with_path(b)}
    if a_paths != b_paths:
        msg = "`a` and `b` don't have the same paths."
        if a_paths - b_paths:
            msg += f"\nPaths in `a` missing in `b`:\n{a_paths - b_paths}"
        if b_paths - a_paths:
            msg += f"\nPaths in `b` missing in `a`:\n{b_paths - a_paths}"
        raise ValueError(msg)


def pack_sequence_as(structure: Any, flat_sequence: Any) -> Any:
    """``flat_sequence``'s items in the structure of ``structure`` (the inverse of
    ``flatten``)."""
    flat = list(flat_sequence)
    n = len(flatten(structure))
    if n != len(flat):
        raise ValueError(
            f"The target structure has {n} leaves but flat_sequence has {len(flat)} "
            "items. Pass one item per leaf of the structure."
        )
    it = iter(flat)

    def rec(x):
        if is_nested(x):
            return _rebuild(x, [rec(c) for c in _children(x)[1]])
        return next(it)

    return rec(structure)


def traverse(func: Callable, structure: Any, top_down: bool = True) -> Any:
    """Apply ``func`` to every node; a non-None result replaces the node (and its
    children are not visited, top down), ``MAP_TO_NONE`` makes it ``None``."""

    def out(ret):
        return None if ret is MAP_TO_NONE else ret

    def rec(x):
        if top_down:
            ret = func(x)
            if ret is not None:
                return out(ret)
            if is_nested(x):
                return _rebuild(x, [rec(c) for c in _children(x)[1]])
            return x
        y = _rebuild(x, [rec(c) for c in _children(x)[1]]) if is_nested(x) else x
        ret = func(y)
        return y if ret is None else out(ret)

    return rec(structure)


def lists_to_tuples(structure: Any) -> Any:
    """The structure with every list made a tuple."""
    return traverse(lambda x: tuple(x) if isinstance(x, list) else None, structure, top_down=False)


def map_shape_structure(func: Callable, structure: Any) -> Any:
    """``func`` applied to each shape tuple (a list or tuple of ints and ``None``)."""

    def is_shape(x):
        return isinstance(x, (list, tuple)) and all(isinstance(e, (int, type(None))) for e in x)

    def rec(x):
        if is_shape(x) or not is_nested(x):
            return func(x)
        return _rebuild(x, [rec(c) for c in _children(x)[1]])

    return rec(structure)
