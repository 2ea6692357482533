"""The ONNX-level peepholes live in ``passes`` with the other graph optimisations and
depend on nothing of graphc (only on the ``onnx`` library, loaded lazily)."""

import ast
import importlib
import pathlib

import pytest

import passes.onnx.peephole as peephole


def test_peephole_imports_nothing_of_graphc_and_onnx_only_lazily():
    tree = ast.parse(pathlib.Path(peephole.__file__).read_text())
    top_level, anywhere = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names = {node.module}
        elif isinstance(node, ast.Import):
            names = {a.name for a in node.names}
        else:
            continue
        anywhere |= names
        if node in tree.body:
            top_level |= names
    assert not any(n.split(".")[0] == "graphc" for n in anywhere), anywhere
    assert "onnx" not in top_level  # onnx types are for type checkers only
    assert "onnx" in anywhere  # numpy_helper inside fold_initializer_transposes


def test_the_old_module_is_gone_and_the_package_exports_the_peepholes():
    with pytest.raises(ModuleNotFoundError):
        importlib.import_module("graphc.onnx._peephole")
    import passes.onnx

    assert passes.onnx.cancel_transpose_pairs is peephole.cancel_transpose_pairs
    assert passes.onnx.fold_initializer_transposes is peephole.fold_initializer_transposes
    assert "Relu" in passes.onnx.LAYOUT_FREE_OPS
