"""The Keras 3 names graphc does not provide, each with its reason: "framework: ..."
(it needs TensorFlow, JAX, a distribution strategy, ...) or "not yet" (work not
done). ``tests/oracle/test_keras_api_coverage.py`` fails on a Keras name that graphc
lacks and this list does not give, and on a name listed here that graphc has.
Regenerate with ``python tests/oracle/keras_api_coverage.py --write-missing``
(reasons already written are kept)."""

MISSING = {
    "keras": {
        "DTypePolicy": "framework: mixed precision (graphc trains in float32)",
        "FloatDTypePolicy": "framework: mixed precision (graphc trains in float32)",
        "Function": "framework: Keras's tracing internals (graphc records its own IR)",
        "Operation": "framework: Keras's tracing internals (graphc ops are registry ops)",
        "Quantizer": "not yet",
        "RematScope": "framework: rematerialisation in the backends' autodiff",
        "StatelessScope": "framework: JAX-style stateless execution of the backends",
        "SymbolicScope": "framework: Keras's tracing internals",
        "backend": "framework: Keras's backend dispatch (graphc has one backend, NumPy)",
        "device": "framework: device placement (graphc runs on the CPU)",
        "distillation": "not yet",
        "distribution": "framework: distribution strategy across devices (JAX/TensorFlow)",
        "dtype_policies": "framework: mixed precision (graphc trains in float32)",
        "export": "framework: TensorFlow SavedModel export (graphc exports ONNX: Model.export)",
        "legacy": "framework: tf.keras 2 compatibility",
        "mixed_precision": "framework: mixed precision (graphc trains in float32)",
        "quantizers": "not yet",
        "remat": "framework: rematerialisation in the backends' autodiff",
        "src": "framework: Keras's private source tree, not API",
        "visualization": "not yet",
        "wrappers": "not yet",
    },
    "keras.layers": {
        "FlaxLayer": "framework: JAX-only",
        "JaxLayer": "framework: JAX-only",
        "TFSMLayer": "framework: needs a TensorFlow SavedModel",
        "TorchModuleWrapper": "framework: PyTorch-only",
    },
    "keras.ops": {
        "jvp": "framework: forward-mode autodiff (graphc has reverse mode only)",
    },
    "keras.ops.linalg": {
        "jvp": "framework: forward-mode autodiff (graphc has reverse mode only)",
    },
    "keras.optimizers": {
        "LossScaleOptimizer": "framework: mixed-precision loss scaling (graphc trains in float32)",
        "legacy": "framework: tf.keras 2 compatibility",
    },
    "keras.callbacks": {
        "OrbaxCheckpoint": "framework: JAX Orbax checkpoints",
    },
    "keras.utils": {
        "FeatureSpace": "not yet",
        "legacy": "framework: tf.keras 2 compatibility",
    },
}
