"""Damaged and hostile model files (issue 13, items 4 and 8): sizes are checked before
anything is allocated, every failure is a typed ``FileFormatError`` saying what is wrong,
and a bad optimizer state costs a warning, not the model."""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import numpy as np
import pytest

import graphc
from graphc import layers
from graphc.cli import main as cli_main
from graphc.errors import FileFormatError, GraphcError
from graphc.models.saving import load_model


def _model(seed=0, compiled=True, train=False):
    graphc.utils.set_random_seed(seed)
    model = graphc.Sequential(
        [layers.Dense(8, activation="relu", input_shape=(4,)), layers.Dense(3)]
    )
    if compiled:
        model.compile(optimizer="adam", loss="mse")
    if train:
        x = np.random.default_rng(seed).normal(size=(16, 4)).astype("float32")
        model.fit(x, np.zeros((16, 3), "float32"), epochs=1, verbose=0)
    return model


def _entries(path):
    with zipfile.ZipFile(path) as z:
        return {n: z.read(n) for n in z.namelist()}


def _rewrite(path, entries, compression=zipfile.ZIP_DEFLATED):
    with zipfile.ZipFile(path, "w", compression=compression) as z:
        for n, data in entries.items():
            z.writestr(n, data)


def _peak_mb(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak / 2**20


def _fails_small(fn, match):
    def run():
        with pytest.raises(FileFormatError, match=match):
            fn()

    assert _peak_mb(run) < 40


# ---- item 4: memory on load --------------------------------------------------------------
def test_a_zip_bomb_is_refused_before_it_expands(tmp_path):
    path = tmp_path / "bomb.graphc"
    good = tmp_path / "good.graphc"
    _model().save(good)
    entries = _entries(good)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as z:
        z.writestr("config.json", entries["config.json"])
        with z.open("model.weights.npz", "w", force_zip64=True) as f:
            chunk = bytes(2**20)
            for _ in range(200):  # 200 MB of zeros in ~200 KB
                f.write(chunk)
    assert path.stat().st_size < 2**20
    _fails_small(lambda: load_model(path), r"would expand .* zip bomb")
    _fails_small(lambda: _model().load_weights(path), r"would expand .* zip bomb")


def test_an_npy_header_declaring_more_than_its_entry_holds(tmp_path):
    path = tmp_path / "w.weights.npz"
    model = _model()
    model.save_weights(path)
    entries = _entries(path)
    header = entries["00000.npy"]
    entries["00000.npy"] = header.replace(b"(4, 8)", b"(4000000000, 8)".ljust(6))
    _rewrite(path, entries, zipfile.ZIP_STORED)
    _fails_small(
        lambda: model.load_weights(path),
        r"array 00000 declares shape "
        r"\(4000000000, 8\) .* but its entry holds",
    )


def test_a_huge_units_in_the_config_fails_before_allocating(tmp_path):
    path = tmp_path / "m.graphc"
    _model().save(path)
    entries = _entries(path)
    config = json.loads(entries["config.json"])
    config["model"]["config"]["layers"][-1]["config"]["units"] = 300_000_000
    config.pop("weights")  # no manifest to catch it first
    entries["config.json"] = json.dumps(config).encode()
    _rewrite(path, entries)
    _fails_small(
        lambda: load_model(path),
        r"layer 'dense_\d+' asks for a weight of shape "
        r"\(8, 300000000\) .* does not match the weights",
    )


def test_a_manifest_that_disagrees_with_the_arrays(tmp_path):
    path = tmp_path / "m.graphc"
    _model().save(path)
    entries = _entries(path)
    config = json.loads(entries["config.json"])
    config["weights"][0]["shape"] = [4, 9]
    entries["config.json"] = json.dumps(config).encode()
    _rewrite(path, entries)
    with pytest.raises(FileFormatError, match=r"declares weight 0 with shape \[4, 9\]"):
        load_model(path)


def test_weights_files_are_checked_against_the_model_before_reading(tmp_path):
    path = tmp_path / "w.weights.npz"
    _model().save_weights(path)
    graphc.utils.set_random_seed(1)
    other = graphc.Sequential([layers.Dense(5, input_shape=(4,)), layers.Dense(3)])
    with pytest.raises(
        FileFormatError,
        match=r"array 0 has shape \(4, 8\), the model's "
        r"weight .* has \(4, 5\)",
    ):
        other.load_weights(path)


# ---- item 8: malformed files give typed errors --------------------------------------------
def _edit_config(path, edit):
    entries = _entries(path)
    config = json.loads(entries["config.json"])
    edit(config)
    entries["config.json"] = json.dumps(config).encode()
    _rewrite(path, entries)


def _set(keys, value):
    def edit(config):
        node = config
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value

    return edit


MALFORMED = {
    "layers is a number": _set(["model", "config", "layers"], 3),
    "layer config missing": _set(["model", "config", "layers", 1], {"class_name": "Dense"}),
    "class name not a string": _set(["model", "config", "layers", 1, "class_name"], [1]),
    "model is a list": _set(["model"], []),
    "units is a string": _set(["model", "config", "layers", 1, "config", "units"], "many"),
    "format version a string": _set(["format_version"], "1"),
    "compile config garbage": _set(["compile_config"], {"optimizer": 5, "loss": 7}),
    "manifest garbage": _set(["weights"], "all of them"),
}


@pytest.mark.parametrize("case", sorted(MALFORMED))
def test_malformed_configs_raise_file_format_errors(tmp_path, case):
    path = tmp_path / "m.graphc"
    _model().save(path)
    _edit_config(path, MALFORMED[case])
    with pytest.raises(FileFormatError, match="m.graphc"):
        load_model(path)


def test_deeply_nested_json_is_a_file_format_error(tmp_path):
    path = tmp_path / "m.graphc"
    _model().save(path)
    entries = _entries(path)
    entries["config.json"] = b"[" * 200_000 + b"]" * 200_000
    _rewrite(path, entries)
    with pytest.raises(FileFormatError, match="not valid JSON"):
        load_model(path)


def test_a_corrupt_deflate_stream_is_a_file_format_error(tmp_path):
    path = tmp_path / "m.graphc"
    _model().save(path)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.getinfo("config.json")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 10, start + 40):
        data[i] ^= 0x5A
    path.write_bytes(bytes(data))
    with pytest.raises(FileFormatError, match="config.json is damaged"):
        load_model(path)


def test_a_damaged_optimizer_state_warns_and_starts_fresh(tmp_path):
    model = _model(train=True)
    path = tmp_path / "m.graphc"
    model.save(path)
    for bad in (
        b"garbage",
        _npz(iteration=np.zeros(3)),
        _npz(iteration=np.array("x")),
        _renamed_npz(iteration=np.array(1), m=np.zeros(2)),
    ):
        entries = _entries(path)
        entries["optimizer.npz"] = bad
        _rewrite(path, entries)
        with pytest.warns(UserWarning, match="fresh optimizer state"):
            loaded = load_model(path)
        assert loaded.optimizer.iterations == 0
        for a, b in zip(loaded.get_weights(), model.get_weights()):
            np.testing.assert_array_equal(a, b)


def _renamed_npz(**arrays):
    """An .npz whose first entry lost its ".npy" suffix (file fuzzer, seed 2, case 1164:
    a KeyError escaped)."""
    src = zipfile.ZipFile(io.BytesIO(_npz(**arrays)))
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as dst:
        for i, info in enumerate(src.infolist()):
            dst.writestr(info.filename[:-4] + ".xpy" if i == 0 else info.filename, src.read(info))
    return buf.getvalue()


def _npz(**arrays):
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_the_cli_names_the_problem_instead_of_an_internal_error(tmp_path, capsys):
    path = tmp_path / "m.graphc"
    _model().save(path)
    _edit_config(path, MALFORMED["layer config missing"])
    assert cli_main(["summary", str(path)]) == 1
    err = capsys.readouterr().err
    assert "internal error" not in err and "Cannot rebuild the model" in err


def test_file_format_errors_are_graphc_and_value_errors():
    assert issubclass(FileFormatError, GraphcError) and issubclass(FileFormatError, ValueError)
