"""The import layering of graphc (ARCHITECTURE.md, "The parts and their directions"):
every module belongs to one rank, and may import only from its own rank or below,
including imports inside functions. Importing ``a.b.c`` runs ``a.b``'s ``__init__`` too, so
that package counts as imported. The one exception is the root package ``graphc``: its
``__init__`` is the public facade that Python runs before any graphc module, so only an
explicit import of a name it defines (``from graphc import __version__``) counts."""

from __future__ import annotations

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Lowest first. A module's rank is that of the longest prefix listed here.
RANKS = [
    (
        "core",
        [
            "graphc.errors",
            "graphc.config",
            "graphc.rng",
            "graphc.recording",
            "graphc.files",
            "graphc.version",
            "graphc._serialization",
            "graphc.interrupts",
            "graphc._args",
            "graphc.tree",
        ],
    ),
    ("ir", ["graphc.ir"]),
    ("ops", ["graphc.ops", "graphc.random"]),
    ("passes", ["passes"]),
    ("backends", ["graphc.backends"]),
    (
        "layers",
        [
            "graphc.activations",
            "graphc.initializers",
            "graphc.regularizers",
            "graphc.constraints",
            "graphc.layers",
        ],
    ),
    (
        "training",
        [
            "graphc.losses",
            "graphc.metrics",
            "graphc.optimizers",
            "graphc.schedules",
            "graphc.callbacks",
            "graphc.progbar",
            "graphc.training_curves",
        ],
    ),
    ("models", ["graphc.models"]),
    (
        "api",
        [
            "graphc",
            "graphc.onnx",
            "graphc.utils",
            "graphc.saving",
            "graphc.datasets",
            "graphc.preprocessing",
            "graphc.cli",
            "graphc.__main__",
            "graphc.distributed",
            "graphc.applications",
            "graphc.variables",
        ],
    ),
]
ROOT_PACKAGE = "graphc"
_ORDER = {name: i for i, (name, _) in enumerate(RANKS)}
_PREFIXES = sorted(
    ((p, name) for name, prefixes in RANKS for p in prefixes), key=lambda t: -len(t[0])
)


def rank_of(module: str) -> str:
    for prefix, name in _PREFIXES:
        if module == prefix or module.startswith(prefix + "."):
            return name
    raise KeyError(module)


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, pathlib.Path]:
    files = [*(ROOT / "graphc").rglob("*.py"), *(ROOT / "passes").rglob("*.py")]
    return {_module_name(p): p for p in files}


def _imports(module: str, path: pathlib.Path, known: set) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every import of a graphc or passes module, with
    the packages that importing it runs."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                base_name = ".".join(base + ([node.module] if node.module else []))
            else:
                base_name = node.module or ""
            # ``from graphc import ops`` imports the module graphc.ops; a name that is no
            # module (``from graphc.layers.base import Layer``) comes from base_name.
            submodules = [
                f"{base_name}.{a.name}" for a in node.names if f"{base_name}.{a.name}" in known
            ]
            targets = submodules
            if len(submodules) < len(node.names) or base_name != ROOT_PACKAGE:
                targets = [base_name, *submodules]
        for target in targets:
            parts = target.split(".")
            for i in range(1, len(parts) + 1):
                name = ".".join(parts[:i])
                if name == ROOT_PACKAGE and target != ROOT_PACKAGE:
                    continue  # run first by Python, whatever is imported (see above)
                if name in known and name != module:
                    found.append((name, node.lineno))
    return found


def _violations() -> list[str]:
    modules = _modules()
    known = set(modules)
    out = []
    for module, path in sorted(modules.items()):
        mine = rank_of(module)
        for target, line in _imports(module, path, known):
            theirs = rank_of(target)
            if _ORDER[theirs] > _ORDER[mine]:
                out.append(
                    f"{path.relative_to(ROOT)}:{line}: {module} ({mine}) imports "
                    f"{target} ({theirs}), a higher rank"
                )
    return out


def test_every_module_has_a_rank():
    unranked = []
    for module in _modules():
        try:
            rank_of(module)
        except KeyError:
            unranked.append(module)
    assert not unranked, f"modules with no rank in tests/test_layering.py: {unranked}"


def test_no_import_runs_upward():
    violations = _violations()
    assert not violations, "imports that run upward:\n" + "\n".join(violations)


@pytest.mark.parametrize(
    "source, expected",
    [
        ("from graphc.models import Model\n", "graphc.models"),
        ("def f():\n    from graphc import layers\n", "graphc.layers"),
        ("import graphc.onnx.runtime\n", "graphc.onnx.runtime"),
    ],
)
def test_the_scan_sees_upward_imports(tmp_path, source, expected):
    """The scanner itself: an ops module importing these would be reported."""
    path = tmp_path / "graphc" / "ops" / "probe.py"
    path.parent.mkdir(parents=True)
    path.write_text(source)
    known = set(_modules())
    found = {name for name, _ in _imports("graphc.ops.probe", path, known)}
    assert expected in found
    assert any(_ORDER[rank_of(n)] > _ORDER["ops"] for n in found)
