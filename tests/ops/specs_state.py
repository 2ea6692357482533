"""Cases for the variable-update ops (see test_ops.py): ``assign(variable, value)`` and
``after_updates(x, *updates)``, ``phase_select(inference, training)``
(graphc/ops/state.py).

``assign``'s gradient goes to the value (Keras's ``assign`` returns it), never to the
variable; it has no ONNX form (an ONNX graph holds no variables), so its lowering
refuses with the reason."""

SPECS = {
    "assign": [
        (
            {},
            [(3, 4), (3, 4)],
            (-2, 2),
            {
                "no_grad": (0,),
                "batch": False,
                "onnx_raises": (NotImplementedError, "holds no variables"),
            },
        ),
    ],
    # (inference, training): the kernel's mode picks one; the VJP follows the pick
    "phase_select": [({}, [(3, 4), (3, 4)], (-2, 2), {"no_grad": (0,)})],
    "after_updates": [
        ({}, [(3, 4), (2,)], (-2, 2), {"no_grad": (1,)}),
        ({}, [(3, 4), (2,), ()], (-2, 2), {"no_grad": (1, 2)}),
    ],
}
