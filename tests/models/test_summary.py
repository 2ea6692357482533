"""model.summary(): the Keras 2 plain-text table, line for line."""

import pytest

from graphc import Input, Model, Sequential, layers, ops

# The seed tutorial's printout (shared/seed), trailing spaces included. The names come from
# a notebook that had built earlier models, so the test passes the same names explicitly.
SEED_FUNCTIONAL = """\
Model: "model_2"
_________________________________________________________________
Layer (type)                 Output Shape              Param #   
=================================================================
input_2 (InputLayer)         (None, 64)                0         
_________________________________________________________________
dense_10 (Dense)             (None, 32)                2080      
_________________________________________________________________
dense_11 (Dense)             (None, 32)                1056      
_________________________________________________________________
dense_12 (Dense)             (None, 10)                330       
=================================================================
Total params: 3,466
Trainable params: 3,466
Non-trainable params: 0
_________________________________________________________________"""

# The seed's Sequential model in the same Keras 2 layout: a Sequential summary has no
# InputLayer row (the seed notebook does not print this one; the layout is Keras 2's).
SEED_SEQUENTIAL = """\
Model: "sequential_1"
_________________________________________________________________
Layer (type)                 Output Shape              Param #   
=================================================================
dense_7 (Dense)              (None, 32)                2080      
_________________________________________________________________
dense_8 (Dense)              (None, 32)                1056      
_________________________________________________________________
dense_9 (Dense)              (None, 10)                330       
=================================================================
Total params: 3,466
Trainable params: 3,466
Non-trainable params: 0
_________________________________________________________________"""

# A non-chain model in the Keras 2 layout: widths 98, columns at 33/55/67, and the
# "Connected to" column as layer[node][tensor], one inbound tensor per line.
BRANCHED = """\
Model: "model_1"
__________________________________________________________________________________________________
Layer (type)                    Output Shape         Param #     Connected to                     
==================================================================================================
input_1 (InputLayer)            (None, 8)            0                                            
__________________________________________________________________________________________________
dense_1 (Dense)                 (None, 16)           144         input_1[0][0]                    
__________________________________________________________________________________________________
dense_2 (Dense)                 (None, 16)           144         input_1[0][0]                    
__________________________________________________________________________________________________
add_1 (AddPair)                 (None, 16)           0           dense_1[0][0]                    
                                                                 dense_2[0][0]                    
__________________________________________________________________________________________________
dense_3 (Dense)                 (None, 1)            17          add_1[0][0]                      
==================================================================================================
Total params: 305
Trainable params: 305
Non-trainable params: 0
__________________________________________________________________________________________________"""


class AddPair(layers.Layer):
    def call(self, xs):
        return ops.add(xs[0], xs[1])


def lines_of(model, **kwargs):
    out = []
    model.summary(print_fn=out.append, **kwargs)
    return out


def seed_functional():
    input_tensor = Input(shape=(64,), name="input_2")
    x = layers.Dense(32, activation="relu", name="dense_10")(input_tensor)
    x = layers.Dense(32, activation="softmax", name="dense_11")(x)
    output_tensor = layers.Dense(10, activation="softmax", name="dense_12")(x)
    return Model(input_tensor, output_tensor, name="model_2")


def seed_sequential():
    seq_model = Sequential(name="sequential_1")
    seq_model.add(layers.Dense(32, activation="relu", input_shape=(64,), name="dense_7"))
    seq_model.add(layers.Dense(32, activation="relu", name="dense_8"))
    seq_model.add(layers.Dense(10, activation="softmax", name="dense_9"))
    return seq_model


def branched():
    inp = Input(shape=(8,), name="input_1")
    a = layers.Dense(16, activation="relu", name="dense_1")(inp)
    b = layers.Dense(16, name="dense_2")(inp)
    merged = AddPair(name="add_1")([a, b])
    return Model(inp, layers.Dense(1, name="dense_3")(merged), name="model_1")


def test_seed_functional_summary_exactly():
    assert lines_of(seed_functional()) == SEED_FUNCTIONAL.split("\n")


def test_seed_sequential_summary_exactly():
    assert lines_of(seed_sequential()) == SEED_SEQUENTIAL.split("\n")


def test_summary_prints_with_print_by_default(capsys):
    seed_functional().summary()
    assert capsys.readouterr().out == SEED_FUNCTIONAL + "\n"


def test_non_chain_model_has_connected_to_column():
    assert lines_of(branched()) == BRANCHED.split("\n")


def test_shared_layer_and_second_call_node_indices():
    a = Input(shape=(4,), name="sm_a")
    b = Input(shape=(4,), name="sm_b")
    shared = layers.Dense(4, name="sm_shared")
    out = AddPair(name="sm_add")([shared(a), shared(b)])
    rows = lines_of(Model([a, b], out, name="sm_shared_model"))
    shared_row = next(i for i, r in enumerate(rows) if r.startswith("sm_shared (Dense)"))
    assert rows[shared_row].rstrip().endswith("sm_a[0][0]")
    assert rows[shared_row + 1].strip() == "sm_b[0][0]"
    add_row = next(i for i, r in enumerate(rows) if r.startswith("sm_add (AddPair)"))
    assert rows[add_row].rstrip().endswith("sm_shared[0][0]")
    assert rows[add_row + 1].strip() == "sm_shared[1][0]"
    assert "Total params: 20" in rows


@pytest.mark.parametrize("line_length", [60, 80, 120])
def test_line_length_is_honoured(line_length):
    rows = lines_of(seed_functional(), line_length=line_length)
    assert rows[1] == "_" * line_length and rows[3] == "=" * line_length
    assert rows[-1] == "_" * line_length
    table = [r for r in rows[2:-4]]
    assert all(len(r) == line_length for r in table)
    header = rows[2]
    assert header.index("Output Shape") == int(line_length * 0.45)
    assert header.index("Param #") == int(line_length * 0.85)


def test_line_length_for_non_chain_models():
    rows = lines_of(branched(), line_length=120)
    assert rows[1] == "_" * 120
    assert rows[2].index("Connected to") == int(120 * 0.67)


def test_print_fn_receives_every_line_and_nothing_is_printed(capsys):
    rows = lines_of(seed_functional())
    assert capsys.readouterr().out == ""
    assert len(rows) == 16
    assert all(isinstance(r, str) and "\n" not in r for r in rows)


def test_thousands_separators():
    i = Input(shape=(1000,), name="sm_big_in")
    x = layers.Dense(1000, name="sm_big_1")(i)
    m = Model(i, layers.Dense(1500, name="sm_big_2")(x), name="sm_big")
    rows = lines_of(m)
    assert "Total params: 2,502,500" in rows
    assert "Trainable params: 2,502,500" in rows
    # Rows print the bare count, as Keras 2 does.
    assert any(r.startswith("sm_big_1 (Dense)") and "1001000" in r for r in rows)


def test_non_trainable_counts_after_freezing():
    m = seed_functional()
    m.get_layer("dense_10").trainable = False
    rows = lines_of(m)
    assert rows[-4:-1] == [
        "Total params: 3,466",
        "Trainable params: 1,386",
        "Non-trainable params: 2,080",
    ]
    m.trainable = False
    rows = lines_of(m)
    assert rows[-3:-1] == ["Trainable params: 0", "Non-trainable params: 3,466"]


def test_nested_model_row():
    i = Input(shape=(64,), name="sm_nest_in")
    inner = seed_functional()
    rows = lines_of(Model(i, inner(i), name="sm_nest"))
    assert rows[4].startswith("sm_nest_in (InputLayer)")
    row = rows[6]
    assert row.startswith("model_2 (Functional)")
    assert "(None, 10)" in row and "3466" in row


def test_summary_of_a_model_with_a_raw_op():
    i = Input(shape=(4,), name="sm_raw_in")
    a = layers.Dense(3, name="sm_raw_a")(i)
    b = layers.Dense(3, name="sm_raw_b")(i)
    rows = lines_of(Model(i, a + b, name="sm_raw"))
    assert "Total params: 30" in rows
