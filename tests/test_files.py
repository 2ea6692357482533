"""graphc.files and the writers built on it (issue 13, items 2, 3, 5, 6): atomic
replacement, symlinks, non-regular targets, temporaries, permissions, external data."""

from __future__ import annotations

import gc
import os
import re
import stat
import subprocess
import sys
import time

import numpy as np
import onnx
import pytest

import graphc
from graphc import layers
from graphc.errors import GraphcError, OutputPathError
from graphc.files import TEMP_MARK, atomic_write, remove_stale_temporaries
from graphc.onnx import export, export_with_report


def _write(data):
    return lambda f: f.write(data)


@pytest.fixture
def umask():
    """Run a test under a given umask, restoring the old one after."""
    old = os.umask(0o022)
    os.umask(old)

    def set_(value):
        os.umask(value)

    yield set_
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _model(seed=3, width=64):
    graphc.utils.set_random_seed(seed)
    return graphc.Sequential(
        [layers.Dense(width, activation="relu", input_shape=(32,)), layers.Dense(4)]
    )


# ---- item 6: permissions -----------------------------------------------------------------
@pytest.mark.parametrize("mask, expected", [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_new_files_follow_the_umask(tmp_path, umask, mask, expected):
    umask(mask)
    model = _model()
    model.save(tmp_path / "m.graphc")
    model.save_weights(tmp_path / "w.weights.npz")
    export_with_report(model, tmp_path / "big.onnx", external_data_threshold=1000)
    export(model, tmp_path / "small.onnx")
    for name in os.listdir(tmp_path):
        assert _mode(tmp_path / name) == expected, name
    assert len(os.listdir(tmp_path)) == 5  # m, w, big.onnx + its data, small.onnx


def test_replaced_files_keep_their_mode(tmp_path, umask):
    umask(0o077)
    model = _model()
    path = tmp_path / "m.graphc"
    model.save(path)
    os.chmod(path, 0o644)
    model.save(path)
    assert _mode(path) == 0o644
    weights = tmp_path / "w.weights.npz"
    weights.write_bytes(b"old")
    os.chmod(weights, 0o640)
    model.save_weights(weights)
    assert _mode(weights) == 0o640


# ---- item 3: paths that are not regular files ----------------------------------------------
def test_a_symlink_is_followed_and_its_target_replaced(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    target = real / "m.graphc"
    target.write_bytes(b"old")
    os.chmod(target, 0o640)
    link = tmp_path / "link.graphc"
    link.symlink_to(target)
    _model().save(link)
    assert link.is_symlink() and os.readlink(link) == str(target)
    assert target.read_bytes()[:2] == b"PK" and _mode(target) == 0o640
    assert graphc.saving.load_model(link).count_params() == _model().count_params()
    assert sorted(os.listdir(real)) == ["m.graphc"]  # no temporaries, in either folder
    assert sorted(os.listdir(tmp_path)) == ["link.graphc", "real"]


def test_a_dangling_symlink_creates_its_target(tmp_path):
    link = tmp_path / "w.weights.npz"
    link.symlink_to(tmp_path / "target.weights.npz")
    _model().save_weights(link)
    assert link.is_symlink() and (tmp_path / "target.weights.npz").is_file()


def test_folders_fifos_and_devices_are_refused(tmp_path):
    folder = tmp_path / "d.graphc"
    folder.mkdir()
    fifo = tmp_path / "f.graphc"
    os.mkfifo(fifo)
    for path in (folder, fifo, "/dev/null"):
        with pytest.raises(OutputPathError) as info:
            atomic_write(path, _write(b"x"))
        text = str(info.value)
        assert str(path) in text and "regular files only" in text
        assert isinstance(info.value, GraphcError) and isinstance(info.value, OSError)
    with pytest.raises(OutputPathError, match="a FIFO"):
        _model().save(fifo)
    with pytest.raises(OutputPathError, match="a folder"):
        _model().save(folder)
    with pytest.raises(OutputPathError, match="a device"):
        export(_model(), "/dev/null")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode) and folder.is_dir()
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    link = tmp_path / "to-null.onnx"
    link.symlink_to("/dev/null")
    with pytest.raises(OutputPathError, match="symlink's target /dev/null"):
        export(_model(), link)


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write any file")
def test_a_read_only_file_is_not_replaced(tmp_path):
    path = tmp_path / "m.graphc"
    path.write_bytes(b"keep me")
    os.chmod(path, 0o444)
    with pytest.raises(OutputPathError, match="read-only"):
        _model().save(path)
    assert path.read_bytes() == b"keep me"


def test_write_errors_name_the_users_path_not_the_temporary(tmp_path, monkeypatch):
    path = tmp_path / "m.graphc"

    def fail(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", fail)
    with pytest.raises(OSError) as info:
        _model().save(path)
    monkeypatch.undo()
    assert info.value.filename == str(path) and TEMP_MARK not in str(info.value)
    assert "No space left" in str(info.value)
    assert os.listdir(tmp_path) == []


# ---- item 5: temporaries --------------------------------------------------------------------
def _dead_pid():
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def test_stale_temporaries_of_the_same_target_are_removed(tmp_path):
    dead = _dead_pid()
    stale = tmp_path / f".m.graphc{TEMP_MARK}{dead}-abc123"
    stale.write_bytes(b"half a model")
    stale_dir = tmp_path / f".big.onnx{TEMP_MARK}{dead}-xyz"
    stale_dir.mkdir()
    (stale_dir / "big.onnx").write_bytes(b"half")
    live_recent = tmp_path / f".m.graphc{TEMP_MARK}{os.getppid()}-live"
    live_recent.write_bytes(b"someone is saving right now")
    live_old = tmp_path / f".m.graphc{TEMP_MARK}{os.getppid()}-old"
    live_old.write_bytes(b"an old one")
    old = time.time() - 2 * graphc.files.STALE_SECONDS
    os.utime(live_old, (old, old))
    other = tmp_path / f".other.graphc{TEMP_MARK}{dead}-abc"
    other.write_bytes(b"another target's")
    _model().save(tmp_path / "m.graphc")
    left = set(os.listdir(tmp_path))
    assert stale.name not in left and live_old.name not in left
    assert {live_recent.name, other.name, "m.graphc"} <= left
    export_with_report(_model(), tmp_path / "big.onnx", external_data_threshold=1000)
    assert stale_dir.name not in os.listdir(tmp_path)
    assert remove_stale_temporaries(str(tmp_path / "other.graphc")) == [str(other)]


def test_temporaries_are_named_after_their_target(tmp_path):
    seen = []

    def write(f):
        seen.extend(n for n in os.listdir(tmp_path) if n != "m.graphc")
        f.write(b"data")

    atomic_write(tmp_path / "m.graphc", write)
    assert re.fullmatch(r"\.m\.graphc\.graphc-tmp-%d-\w+" % os.getpid(), seen[0])
    assert os.listdir(tmp_path) == ["m.graphc"]


# ---- item 2: external data replaced as a unit ---------------------------------------------
def _data_files(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".data"))


def _run(path, x):
    import onnxruntime as ort

    session = ort.InferenceSession(str(path))
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def test_reexporting_external_data_to_the_same_path(tmp_path):
    path = tmp_path / "big.onnx"
    x = np.random.default_rng(0).normal(size=(3, 32)).astype("float32")
    first, second = _model(seed=1), _model(seed=2)
    export_with_report(first, path, external_data_threshold=1000)
    one = _data_files(tmp_path)
    export_with_report(first, path, external_data_threshold=1000)  # the same again
    assert _data_files(tmp_path) == one
    export_with_report(second, path, external_data_threshold=1000)
    two = _data_files(tmp_path)
    assert len(two) == 1 and two != one  # the old data file is gone
    np.testing.assert_allclose(_run(path, x), second.predict(x, verbose=0), atol=1e-5)
    assert sorted(os.listdir(tmp_path)) == sorted(["big.onnx", *two])


def test_a_data_file_in_the_working_directory_does_not_block_export(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name in ("big.onnx.data", "model.onnx.data", "weights.data"):
        (tmp_path / name).write_bytes(b"not ours")
    out = tmp_path / "out"
    out.mkdir()
    export_with_report(_model(), out / "big.onnx", external_data_threshold=1000)
    export_with_report(_model(), "big.onnx", external_data_threshold=1000)
    assert (tmp_path / "big.onnx.data").read_bytes() == b"not ours"
    assert len(_data_files(out)) == 1


def test_an_old_style_data_file_named_by_the_old_graph_is_removed(tmp_path):
    path = tmp_path / "big.onnx"
    model = _model(seed=4)
    onnx.save_model(
        export(model),
        str(path),
        save_as_external_data=True,
        location="big.onnx.data",
        size_threshold=1024,
    )
    assert (tmp_path / "big.onnx.data").exists()
    export_with_report(model, path, external_data_threshold=1000)
    names = _data_files(tmp_path)
    assert len(names) == 1 and names[0] != "big.onnx.data"


def test_the_graph_is_renamed_after_its_data(tmp_path, monkeypatch):
    """Killed between the two renames, the old graph still names the old data file."""
    path = tmp_path / "big.onnx"
    x = np.random.default_rng(1).normal(size=(2, 32)).astype("float32")
    old, new = _model(seed=5), _model(seed=6)
    export_with_report(old, path, external_data_threshold=1000)
    moves = []
    real = graphc.files.atomic_move

    def move(src, dst):
        moves.append(os.path.basename(os.fspath(dst)))
        if len(moves) == 2:
            raise KeyboardInterrupt  # "killed" before the graph's rename
        real(src, dst)

    monkeypatch.setattr(graphc.files, "atomic_move", move)
    with pytest.raises(KeyboardInterrupt):
        export_with_report(new, path, external_data_threshold=1000)
    monkeypatch.undo()
    assert moves[0].endswith(".data") and moves[1] == "big.onnx"
    np.testing.assert_allclose(_run(path, x), old.predict(x, verbose=0), atol=1e-5)
    export_with_report(new, path, external_data_threshold=1000)
    np.testing.assert_allclose(_run(path, x), new.predict(x, verbose=0), atol=1e-5)
    assert len(_data_files(tmp_path)) == 1


def test_ctrl_c_inside_a_zip_writer_comes_back_as_keyboard_interrupt(tmp_path, monkeypatch):
    """Ctrl-C while zipfile closes an entry leaves its writing flag set, and closing the
    archive then raises "Can't close the ZIP file while there is an open writing handle":
    the save raises KeyboardInterrupt instead, the earlier file stays whole, and the
    next save works."""
    import zipfile

    inp = graphc.Input(shape=(3,))
    model = graphc.Model(inp, layers.Dense(2)(inp))
    path = tmp_path / "m.keras"
    model.save(path)
    before = path.read_bytes()
    close = zipfile._ZipWriteFile.close

    def interrupted_close(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(zipfile._ZipWriteFile, "close", interrupted_close)
    with pytest.raises(KeyboardInterrupt):
        model.save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.keras"]  # no temporary left
    # The abandoned ZipFile's __del__ raises zipfile's error again; Python ignores it.
    monkeypatch.setattr(sys, "unraisablehook", lambda unraisable: None)
    gc.collect()
    monkeypatch.setattr(zipfile._ZipWriteFile, "close", close)
    model.save(path)
    assert graphc.saving.load_model(path).count_params() == model.count_params()
