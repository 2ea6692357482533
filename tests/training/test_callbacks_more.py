"""BackupAndRestore, SwapEMAWeights, TensorBoard and RemoteMonitor (issue 9)."""

from __future__ import annotations

import http.server
import json
import os
import threading
import urllib.parse

import numpy as np
import pytest

import graphc
from graphc import callbacks, layers

R = np.random.default_rng(0)
X = R.standard_normal((24, 4)).astype("float32")
Y = R.standard_normal((24, 1)).astype("float32")


def model(seed=1, optimizer="adam"):
    graphc.utils.set_random_seed(seed)
    x = graphc.Input(shape=(4,))
    m = graphc.Model(x, layers.Dense(1)(layers.Dense(3, activation="tanh")(x)))
    m.compile(optimizer=optimizer, loss="mse", metrics=["mae"])
    return m


class Stop(callbacks.Callback):
    def __init__(self, at):
        super().__init__()
        self.at = at

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at:
            raise RuntimeError("interrupted")


def test_backup_and_restore_resumes_at_the_interrupted_epoch(tmp_path):
    ref = model()
    ref.fit(X, Y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    m = model()
    backup = callbacks.BackupAndRestore(tmp_path / "backup")
    with pytest.raises(RuntimeError, match="interrupted"):
        m.fit(X, Y, batch_size=8, epochs=4, shuffle=False, verbose=0, callbacks=[backup, Stop(2)])
    meta = json.loads((tmp_path / "backup" / "training_metadata.json").read_text())
    assert meta == {"epoch": 2, "batch": 0}
    m2 = model(seed=5)  # other initial weights: the backup restores them
    seen = []
    cb = callbacks.LambdaCallback(on_epoch_begin=lambda e, logs: seen.append(e))
    history = m2.fit(
        X,
        Y,
        batch_size=8,
        epochs=4,
        shuffle=False,
        verbose=0,
        callbacks=[callbacks.BackupAndRestore(tmp_path / "backup"), cb],
    )
    assert seen == [2, 3] and len(history.history["loss"]) == 2
    for a, b in zip(m2.get_weights(), ref.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not (tmp_path / "backup").exists()  # delete_checkpoint


def test_backup_and_restore_batches_and_double_checkpoint(tmp_path):
    d = tmp_path / "b"
    m = model()
    backup = callbacks.BackupAndRestore(
        d, save_freq=2, double_checkpoint=True, delete_checkpoint=False
    )
    m.fit(X, Y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[backup])
    names = sorted(os.listdir(d))
    assert names == [
        "latest.weights.h5",
        "latest.weights.h5.bkp",
        "training_metadata.json",
        "training_metadata.json.bkp",
    ]
    # A corrupted latest backup: the previous one is restored.
    (d / "latest.weights.h5").write_bytes(b"not a file")
    m2 = model(seed=3)
    m2.fit(
        X,
        Y,
        batch_size=8,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[callbacks.BackupAndRestore(d, double_checkpoint=True)],
    )
    with pytest.raises(ValueError, match="save_freq"):
        callbacks.BackupAndRestore(d, save_freq="often")
    with pytest.raises(ValueError, match="backup_dir"):
        callbacks.BackupAndRestore("")


def test_swap_ema_weights_evaluates_with_the_averages():
    m = model(optimizer=graphc.optimizers.Adam(0.05, use_ema=True, ema_momentum=0.9))
    seen = {}
    before = callbacks.LambdaCallback()
    before.on_test_begin = lambda logs=None: seen.setdefault(
        "avg", m.optimizer._slots["average"].copy()
    )
    after = callbacks.LambdaCallback()
    after.on_test_begin = lambda logs=None: seen.setdefault(
        "model", np.concatenate([w.ravel() for w in m.get_weights()])
    )
    after.on_test_end = lambda logs=None: seen.setdefault(
        "avg_after", m.optimizer._slots["average"].copy()
    )
    h = m.fit(
        X,
        Y,
        batch_size=8,
        epochs=2,
        shuffle=False,
        verbose=0,
        validation_data=(X, Y),
        callbacks=[before, callbacks.SwapEMAWeights(), after],
    )
    np.testing.assert_array_equal(seen["model"], seen["avg"])  # evaluated on the averages
    np.testing.assert_array_equal(seen["avg_after"], seen["avg"])  # and swapped back
    assert "val_loss" in h.history
    with pytest.raises(ValueError, match="use_ema"):
        model().fit(
            X,
            Y,
            epochs=1,
            verbose=0,
            validation_data=(X, Y),
            callbacks=[callbacks.SwapEMAWeights()],
        )


def test_tensorboard_event_files(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    m = model()
    tb = callbacks.TensorBoard(tmp_path / "logs", histogram_freq=1, update_freq=2)
    h = m.fit(
        X,
        Y,
        batch_size=8,
        epochs=2,
        shuffle=False,
        verbose=0,
        validation_data=(X[:8], Y[:8]),
        callbacks=[tb],
    )
    train = EventAccumulator(str(tmp_path / "logs" / "train"), size_guidance={"tensors": 0})
    train.Reload()
    tags = set(train.Tags()["tensors"])
    assert {"epoch_loss", "epoch_mae", "epoch_learning_rate", "batch_loss", "keras"} <= tags
    assert "dense/kernel/histogram" in tags or any(t.endswith("kernel/histogram") for t in tags)
    got = [float(np.asarray(_value(e))) for e in train.Tensors("epoch_loss")]
    np.testing.assert_allclose(got, h.history["loss"], rtol=1e-6)
    assert [e.step for e in train.Tensors("batch_loss")] == [2, 4, 6]
    val = EventAccumulator(str(tmp_path / "logs" / "validation"), size_guidance={"tensors": 0})
    val.Reload()
    vtags = set(val.Tags()["tensors"])
    assert {"epoch_loss", "evaluation_loss_vs_iterations"} <= vtags
    got = [float(np.asarray(_value(e))) for e in val.Tensors("epoch_loss")]
    np.testing.assert_allclose(got, h.history["val_loss"], rtol=1e-6)
    with pytest.raises(ValueError, match="update_freq"):
        callbacks.TensorBoard(tmp_path, update_freq="sometimes")


def _value(event):
    from tensorboard.util import tensor_util

    return tensor_util.make_ndarray(event.tensor_proto)


def test_remote_monitor_posts_each_epoch():
    received = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, self.headers["Content-Type"], body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        root = f"http://127.0.0.1:{server.server_port}"
        m = model()
        m.fit(X, Y, epochs=2, verbose=0, callbacks=[callbacks.RemoteMonitor(root=root)])
        m.fit(
            X,
            Y,
            epochs=1,
            verbose=0,
            callbacks=[callbacks.RemoteMonitor(root=root, path="/j", send_as_json=True)],
        )
    finally:
        server.shutdown()
        server.server_close()
    assert [r[0] for r in received] == ["/publish/epoch/end/"] * 2 + ["/j"]
    form = urllib.parse.parse_qs(received[1][2].decode())
    sent = json.loads(form["data"][0])
    assert sent["epoch"] == 1 and set(sent) == {"epoch", "loss", "mae"}
    assert json.loads(received[2][2])["epoch"] == 0
    with pytest.warns(UserWarning, match="Could not reach RemoteMonitor"):
        model().fit(
            X,
            Y,
            epochs=1,
            verbose=0,
            callbacks=[callbacks.RemoteMonitor(root="http://127.0.0.1:9")],
        )


def test_multi_optimizer_trains_saves_and_logs(tmp_path):
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    opts = graphc.optimizers
    multi = opts.MultiOptimizer(
        opts.OptimizerMap(opts.SGD(0.1, name="sgd"), {"dense/.*": opts.Adam(name="adam")})
    )
    m = model(optimizer=multi)
    m.fit(
        X, Y, batch_size=8, epochs=2, verbose=0, callbacks=[callbacks.TensorBoard(tmp_path / "tb")]
    )
    acc = EventAccumulator(str(tmp_path / "tb" / "train"))
    acc.Reload()
    tags = set(acc.Tags()["tensors"])
    assert {"epoch_learning_rate_sgd", "epoch_learning_rate_adam"} <= tags
    state = m.optimizer.get_state()
    m.save(tmp_path / "m.graphc")
    again = graphc.saving.load_model(tmp_path / "m.graphc")
    again._param_store()
    assert type(again.optimizer).__name__ == "MultiOptimizer"
    for k, v in again.optimizer.get_state().items():
        np.testing.assert_array_equal(v, state[k])


def test_tensorboard_without_the_package_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(ImportError, match="pip install tensorboard"):
        callbacks.TensorBoard("logs")
