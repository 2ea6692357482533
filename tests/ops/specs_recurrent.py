"""Op specs for the recurrent family (graphc/ops/recurrent.py): small sequences
(N=2, T=3, F=4, U=3), every activation path, both directions, with and without bias and
initial states; with Keras masks (N=3, T=4: padding at the end, at the start, holes
in the middle, a fully masked row); and with dropout (the VJP check draws the same masks
for every evaluation, so dropout is a fixed part of the function; the ONNX check runs
inference, where the masks are not drawn)."""

import numpy as np

N, T, F, U = 2, 3, 4, 3

# Masks (N=3, T=4): rows padded at the end, at the start, with holes, fully masked.
MASKS = {
    "end": [[1, 1, 1, 0], [1, 1, 0, 0], [1, 1, 1, 1]],
    "start": [[0, 1, 1, 1], [0, 0, 0, 1], [1, 1, 1, 1]],
    "holes": [[1, 0, 1, 1], [0, 1, 0, 1], [1, 1, 0, 0]],
    "empty": [[0, 0, 0, 0], [1, 0, 1, 0], [0, 1, 1, 0]],
}


def _case(op, gates, bias_shape=None, states=0, mask=None, **attrs):
    """attrs, input shapes, range, options for one recurrent op configuration."""
    n, t = (3, 4) if mask is not None else (N, T)
    shapes = [(n, t, F), (F, gates * U), (U, gates * U)]
    use_bias = bias_shape is not None
    if use_bias:
        shapes.append(bias_shape)
    shapes += [(n, U)] * states
    attrs = {"units": U, "use_bias": use_bias, "initial_state": bool(states), **attrs}
    options = {}
    first_state = 3 + use_bias
    batched = (0,) + tuple(range(first_state, first_state + states))
    if states:
        options["batched_inputs"] = batched
    if mask is not None:
        attrs["masked"] = True
        m = np.array(MASKS[mask], dtype=bool)
        k = len(shapes)

        def make(rng, dtype, shapes=tuple(shapes), m=m):
            return [rng.uniform(-1, 1, s).astype(dtype) for s in shapes] + [m.copy()]

        options.update(make=make, no_grad=(k,), batched_inputs=batched + (k,))
    return (attrs, shapes, (-1, 1), options)


def _masked(op, gates, bias_shape, **attrs):
    """One case per mask, alternating directions and zero_output_for_mask."""
    return [
        _case(
            op,
            gates,
            bias_shape,
            mask=name,
            go_backwards=bool(i % 2),
            zero_output_for_mask=i in (1, 2),
            **attrs,
        )
        for i, name in enumerate(MASKS)
    ]


def _dropped(op, gates, bias_shape, **attrs):
    """Dropout cases: input only, recurrent only, both; one mask for all gates and one per
    gate; rate 1 (everything dropped); with a Keras mask; going backwards."""
    cases = [
        _case(op, gates, bias_shape, dropout=0.5, **attrs),
        _case(op, gates, bias_shape, recurrent_dropout=0.5, go_backwards=True, **attrs),
        _case(
            op,
            gates,
            bias_shape,
            states=gates // 4 + 1,
            dropout=0.3,
            recurrent_dropout=0.6,
            **attrs,
        ),
        _case(op, gates, bias_shape, mask="holes", dropout=0.4, recurrent_dropout=0.4, **attrs),
        _case(op, gates, bias_shape, dropout=1.0, recurrent_dropout=0.5, **attrs),
    ]
    if gates > 1:
        cases += [
            _case(
                op, gates, bias_shape, dropout=0.5, recurrent_dropout=0.5, gate_masks=True, **attrs
            ),
            _case(op, gates, bias_shape, dropout=0.5, gate_masks=True, go_backwards=True, **attrs),
            _case(
                op, gates, bias_shape, mask="end", recurrent_dropout=0.5, gate_masks=True, **attrs
            ),
        ]
    return cases


SPECS = {
    "simple_rnn": [
        _case("simple_rnn", 1, (U,), activation="tanh"),
        _case("simple_rnn", 1, (U,), activation="relu"),
        _case("simple_rnn", 1, (U,), activation="tanh", go_backwards=True),
        _case("simple_rnn", 1, None, activation="sigmoid"),
        _case("simple_rnn", 1, (U,), states=1, activation="tanh"),
        _case("simple_rnn", 1, (U,), activation="linear", go_backwards=True),
        _case("simple_rnn", 1, (U,), activation="softsign"),
        _case("simple_rnn", 1, (U,), activation="softplus"),
        _case("simple_rnn", 1, (U,), activation="elu"),
        _case("simple_rnn", 1, (U,), activation="leaky_relu"),
        *_masked("simple_rnn", 1, (U,), activation="tanh"),
        _case("simple_rnn", 1, (U,), states=1, mask="start"),
        *_dropped("simple_rnn", 1, (U,)),
    ],
    "lstm": [
        _case("lstm", 4, (4 * U,)),
        _case("lstm", 4, (4 * U,), go_backwards=True),
        _case("lstm", 4, None),
        _case("lstm", 4, (4 * U,), states=2),
        _case("lstm", 4, (4 * U,), states=2, go_backwards=True),
        # Keras 2's old default gate activation; ONNX alpha/beta for HardSigmoid.
        _case("lstm", 4, (4 * U,), recurrent_activation="hard_sigmoid"),
        _case("lstm", 4, (4 * U,), activation="relu", recurrent_activation="sigmoid"),
        _case("lstm", 4, (4 * U,), activation="linear", recurrent_activation="hard_sigmoid"),
        *_masked("lstm", 4, (4 * U,)),
        _case("lstm", 4, (4 * U,), states=2, mask="holes"),
        _case(
            "lstm",
            4,
            (4 * U,),
            states=2,
            mask="empty",
            go_backwards=True,
            zero_output_for_mask=True,
        ),
        *_dropped("lstm", 4, (4 * U,)),
    ],
    "gru": [
        _case("gru", 3, (2, 3 * U)),
        _case("gru", 3, (2, 3 * U), go_backwards=True),
        _case("gru", 3, (3 * U,), reset_after=False),
        _case("gru", 3, (3 * U,), reset_after=False, go_backwards=True),
        _case("gru", 3, None),
        _case("gru", 3, None, reset_after=False),
        _case("gru", 3, (2, 3 * U), states=1),
        _case("gru", 3, (3 * U,), states=1, reset_after=False),
        _case("gru", 3, (2, 3 * U), recurrent_activation="hard_sigmoid", activation="relu"),
        # Only the second activation takes alpha/beta: onnxruntime hands them out in order.
        _case("gru", 3, (2, 3 * U), activation="hard_sigmoid"),
        *_masked("gru", 3, (2, 3 * U)),
        *_masked("gru", 3, (3 * U,), reset_after=False),
        _case("gru", 3, (2, 3 * U), states=1, mask="start", go_backwards=True),
        *_dropped("gru", 3, (2, 3 * U)),
        *_dropped("gru", 3, (3 * U,), reset_after=False),
    ],
    "reverse_sequence": [({}, [(N, T, F)], (-1, 1)), ({}, [(N, T)], (-1, 1))],
}
