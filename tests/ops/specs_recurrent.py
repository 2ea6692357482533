"""Op specs for the recurrent family (graphc/ops/recurrent.py): small sequences
(N=2, T=3, F=4, U=3), every activation path, both directions, with and without bias and
initial states."""

N, T, F, U = 2, 3, 4, 3


def _case(op, gates, bias_shape=None, states=0, **attrs):
    """attrs, input shapes, range, options for one recurrent op configuration."""
    shapes = [(N, T, F), (F, gates * U), (U, gates * U)]
    use_bias = bias_shape is not None
    if use_bias:
        shapes.append(bias_shape)
    shapes += [(N, U)] * states
    attrs = {"units": U, "use_bias": use_bias, "initial_state": bool(states), **attrs}
    options = {}
    if states:
        first_state = 3 + use_bias
        options["batched_inputs"] = (0,) + tuple(range(first_state, first_state + states))
    return (attrs, shapes, (-1, 1), options)


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
    ],
    "reverse_sequence": [({}, [(N, T, F)], (-1, 1)), ({}, [(N, T)], (-1, 1))],
}
