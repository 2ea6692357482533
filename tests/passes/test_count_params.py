"""CountParams: per layer and total, trainable / non-trainable, shared layers once, nested
models; count_params() and summary() agree with it."""

from graphc import Input, Model, layers, ops
from passes import CountParams, ParamCount


def seed_model():
    i = Input(shape=(64,), name="cp_in")
    x = layers.Dense(32, activation="relu", name="cp_d1")(i)
    x = layers.Dense(32, activation="softmax", name="cp_d2")(x)
    return Model(i, layers.Dense(10, activation="softmax", name="cp_d3")(x), name="cp_seed")


def test_per_layer_and_total():
    m = seed_model()
    r = CountParams().run(m.graph)
    assert isinstance(r, ParamCount)
    assert r.per_layer == {"cp_in": 0, "cp_d1": 2080, "cp_d2": 1056, "cp_d3": 330}
    assert (r.total, r.trainable, r.non_trainable) == (3466, 3466, 0)
    assert m.count_params() == 3466
    assert [m.get_layer(n).count_params() for n in ("cp_d1", "cp_d2", "cp_d3")] == [2080, 1056, 330]


def test_no_bias_and_weightless_layers():
    i = Input(shape=(5,), name="cp_nb_in")
    x = layers.Dense(3, use_bias=False, name="cp_nb_d")(i)
    x = layers.Activation("tanh", name="cp_nb_act")(x)
    x = layers.Dropout(0.5, name="cp_nb_drop")(x)
    r = CountParams().run(Model(i, x).graph)
    assert r.per_layer == {"cp_nb_in": 0, "cp_nb_d": 15, "cp_nb_act": 0, "cp_nb_drop": 0}
    assert r.total == 15


def test_freezing_a_layer_moves_its_count_to_non_trainable():
    m = seed_model()
    m.get_layer("cp_d2").trainable = False
    r = CountParams().run(m.graph)
    assert (r.total, r.trainable, r.non_trainable) == (3466, 2410, 1056)
    assert r.per_layer["cp_d2"] == 1056
    m.get_layer("cp_d2").trainable = True
    r = CountParams().run(m.graph)
    assert (r.trainable, r.non_trainable) == (3466, 0)


def test_freezing_the_whole_model():
    m = seed_model()
    m.trainable = False
    r = CountParams().run(m.graph)
    assert (r.trainable, r.non_trainable) == (0, 3466)
    assert m.trainable_weights == [] and len(m.non_trainable_weights) == 6


class Scale(layers.Layer):
    """A trainable scale plus a non-trainable weight that call() never reads."""

    def build(self, input_shape):
        self.s = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="s")
        self.c = self.add_weight(shape=(2,), initializer="zeros", trainable=False, name="count")

    def call(self, x):
        return ops.multiply(x, self.s)


def test_custom_layer_weights_and_own_count():
    i = Input(shape=(4,), name="cp_sc_in")
    layer = Scale(name="cp_scale")
    Model(i, layer(i))
    assert layer.count_params() == 6
    assert [p.short_name for p in layer.weights] == ["s", "count"]
    assert [p.short_name for p in layer.non_trainable_weights] == ["count"]


def test_weights_not_read_by_call_are_still_counted_as_keras_does():
    i = Input(shape=(4,), name="cp_sc2_in")
    m = Model(i, Scale(name="cp_scale2")(i))
    r = CountParams().run(m.graph)
    assert (r.total, r.trainable, r.non_trainable) == (6, 4, 2)
    assert r.per_layer["cp_scale2"] == 6
    assert m.count_params() == 6


def test_shared_layer_counted_once():
    a = Input(shape=(4,), name="cp_sh_a")
    b = Input(shape=(4,), name="cp_sh_b")
    shared = layers.Dense(4, name="cp_shared")
    out = layers.Dense(1, name="cp_sh_head")(shared(shared(a)))
    m = Model([a, b], [out, shared(b)])
    r = CountParams().run(m.graph)
    assert r.per_layer["cp_shared"] == 20
    assert r.total == 25 and m.count_params() == 25


def test_nested_model_counted_as_one_row():
    i = Input(shape=(4,), name="cp_inner_in")
    inner = Model(i, layers.Dense(3, name="cp_inner_d")(i), name="cp_inner")
    j = Input(shape=(4,), name="cp_outer_in")
    h = inner(j)
    h2 = inner(layers.Dense(4, name="cp_mid")(h))  # the inner model is called twice
    m = Model(j, layers.Dense(2, name="cp_head")(h2), name="cp_outer")
    r = CountParams().run(m.graph)
    assert r.per_layer == {"cp_outer_in": 0, "cp_inner": 15, "cp_mid": 16, "cp_head": 8}
    assert r.total == 39
    inner.trainable = False
    r = CountParams().run(m.graph)
    assert (r.trainable, r.non_trainable) == (24, 15)
