"""How much of Keras 3's public API graphc provides, namespace by namespace.

``python tests/oracle/keras_api_coverage.py`` prints the table that README.md shows
(``--missing`` also lists the names graphc lacks). Needs the ``oracle`` extra (Keras on
its torch backend). ``tests/oracle/test_keras_api_coverage.py`` fails on any Keras name
graphc lacks that ``keras_api_missing.MISSING`` does not list with its reason.
"""

from __future__ import annotations

import importlib
import json
import os
import sys

os.environ.setdefault("KERAS_BACKEND", "torch")

#: Keras namespace -> the graphc namespace that answers for it.
NAMESPACES = {
    "keras": "graphc",
    "keras.layers": "graphc.layers",
    "keras.ops": "graphc.ops",
    "keras.ops.nn": "graphc.ops.nn",
    "keras.ops.numpy": "graphc.ops.numpy",
    "keras.ops.linalg": "graphc.ops.linalg",
    "keras.ops.image": "graphc.ops.image",
    "keras.ops.core": "graphc.ops.core",  # public in some Keras 3 releases only
    "keras.losses": "graphc.losses",
    "keras.metrics": "graphc.metrics",
    "keras.optimizers": "graphc.optimizers",
    "keras.optimizers.schedules": "graphc.optimizers.schedules",
    "keras.callbacks": "graphc.callbacks",
    "keras.activations": "graphc.activations",
    "keras.initializers": "graphc.initializers",
    "keras.utils": "graphc.utils",
    "keras.saving": "graphc.saving",
    "keras.models": "graphc.models",
    "keras.random": "graphc.random",
}


def _import(name: str):
    """The module ``name``, or the attribute of that dotted name (graphc.optimizers is a
    module whose ``schedules`` is graphc.schedules); None if neither exists."""
    try:
        return importlib.import_module(name)
    except ImportError:
        parent, _, attr = name.rpartition(".")
        if not parent:
            return None
        module = _import(parent)
        return getattr(module, attr, None) if module is not None else None


def keras_names(namespace: str) -> list[str] | None:
    """The public names of a Keras namespace (``None`` if this Keras has no such module)."""
    module = _import(namespace)
    if module is None:
        return None
    return sorted(n for n in dir(module) if not n.startswith("_"))


def graphc_has(namespace: str, name: str) -> bool:
    module = _import(namespace)
    return module is not None and hasattr(module, name)


def coverage() -> list[dict]:
    """One row per Keras namespace present in the installed Keras: the names, the ones
    graphc has and the ones it lacks."""
    rows = []
    for k_ns, g_ns in NAMESPACES.items():
        names = keras_names(k_ns)
        if names is None:
            continue
        present = [n for n in names if graphc_has(g_ns, n)]
        missing = [n for n in names if n not in set(present)]
        rows.append(
            {"keras": k_ns, "graphc": g_ns, "names": names, "present": present, "missing": missing}
        )
    return rows


def table(rows: list[dict]) -> str:
    import keras

    lines = [
        f"| namespace (Keras {keras.__version__}) | present | total | % |",
        "| --- | ---: | ---: | ---: |",
    ]
    total = present = 0
    for r in rows:
        n, p = len(r["names"]), len(r["present"])
        total, present = total + n, present + p
        lines.append(f"| `{r['keras']}` | {p} | {n} | {100 * p / n:.0f} % |")
    lines.append(f"| **all** | **{present}** | **{total}** | **{100 * present / total:.0f} %** |")
    return "\n".join(lines)


#: Reasons given to names the list does not have yet (``--write-missing``); every other
#: missing name gets "not yet".
FRAMEWORK = {
    "src": "framework: Keras's private source tree, not API",
    "backend": "framework: Keras's backend dispatch (graphc has one backend, NumPy)",
    "distribution": "framework: distribution strategy across devices (JAX/TensorFlow)",
    "device": "framework: device placement (graphc runs on the CPU)",
    "export": "framework: TensorFlow SavedModel export (graphc exports ONNX: Model.export)",
    "legacy": "framework: tf.keras 2 compatibility",
    "Function": "framework: Keras's tracing internals (graphc records its own IR)",
    "Operation": "framework: Keras's tracing internals (graphc ops are registry ops)",
    "SymbolicScope": "framework: Keras's tracing internals",
    "StatelessScope": "framework: JAX-style stateless execution of the backends",
    "remat": "framework: rematerialisation in the backends' autodiff",
    "RematScope": "framework: rematerialisation in the backends' autodiff",
    "TFSMLayer": "framework: needs a TensorFlow SavedModel",
    "JaxLayer": "framework: JAX-only",
    "FlaxLayer": "framework: JAX-only",
    "TorchModuleWrapper": "framework: PyTorch-only",
    "OrbaxCheckpoint": "framework: JAX Orbax checkpoints",
    "LossScaleOptimizer": "framework: mixed-precision loss scaling (graphc trains in float32)",
    "DTypePolicy": "framework: mixed precision (graphc trains in float32)",
    "FloatDTypePolicy": "framework: mixed precision (graphc trains in float32)",
    "dtype_policies": "framework: mixed precision (graphc trains in float32)",
    "mixed_precision": "framework: mixed precision (graphc trains in float32)",
}


def write_missing(rows: list[dict], path: str) -> None:
    """Rewrite ``keras_api_missing.py`` with the names missing now, keeping the reasons
    already written (new ones get FRAMEWORK's reason or "not yet")."""
    import importlib.util

    old: dict = {}
    if os.path.exists(path):
        spec = importlib.util.spec_from_file_location("keras_api_missing", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        old = module.MISSING
    lines = [
        '"""The Keras 3 names graphc does not provide, each with its reason: "framework: ..."',
        '(it needs TensorFlow, JAX, a distribution strategy, ...) or "not yet" (work not',
        "done). ``tests/oracle/test_keras_api_coverage.py`` fails on a Keras name that graphc",
        "lacks and this list does not give, and on a name listed here that graphc has.",
        "Regenerate with ``python tests/oracle/keras_api_coverage.py --write-missing``",
        '(reasons already written are kept)."""',
        "",
        "MISSING = {",
    ]
    for r in rows:
        if not r["missing"]:
            continue
        lines.append(f'    "{r["keras"]}": {{')
        for name in r["missing"]:
            reason = old.get(r["keras"], {}).get(name) or FRAMEWORK.get(name, "not yet")
            lines.append(f"        {json.dumps(name)}: {json.dumps(reason)},")
        lines.append("    },")
    lines.append("}")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def main(argv: list[str]) -> None:
    rows = coverage()
    print(table(rows))
    if "--write-missing" in argv:
        write_missing(
            rows, os.path.join(os.path.dirname(os.path.abspath(__file__)), "keras_api_missing.py")
        )
    if "--missing" in argv:
        for r in rows:
            if r["missing"]:
                print(f"\n{r['keras']} ({len(r['missing'])} missing):")
                print("  " + " ".join(r["missing"]))


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    main(sys.argv[1:])
