"""graphc.utils.audio_dataset_from_directory (Keras 3's, without TensorFlow).

Keras's own function needs TensorFlow (``tf.audio.decode_wav``, ``tf.data``), which is
not installed, so the expectations follow Keras 3's source
(keras/src/utils/audio_dataset_utils.py): the listing and split of ``index_directory``
(checked against Keras in tests/oracle/test_keras_dataset_utils_parity.py), samples as
float32 ``(samples, channels)`` over 2**(bits - 1) as ``decode_wav`` returns them,
``padded_batch`` (zeros to the longest file of the batch) without
``output_sequence_length``, ``batch`` of cut or zero-padded files with it."""

import struct
import wave

import numpy as np
import pytest

from graphc.errors import ArgumentValueError, FileFormatError
from graphc.utils import audio_dataset_from_directory
from graphc.utils.dataset_utils import read_wav


def _write(path, samples, width=2, rate=16000):
    """Integer ``samples`` (frames, channels) as a PCM .wav file."""
    samples = np.asarray(samples)
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(samples.shape[1])
        w.setsampwidth(width)
        w.setframerate(rate)
        if width == 1:
            data = (samples + 128).astype(np.uint8).tobytes()
        elif width == 3:
            data = b"".join(struct.pack("<i", int(v))[:3] for v in samples.ravel())
        else:
            data = samples.astype({2: "<i2", 4: "<i4"}[width]).tobytes()
        w.writeframes(data)


@pytest.fixture
def sounds(tmp_path):
    """Two classes of mono 16-bit files of lengths 3..7, and a non-.wav file."""
    rng = np.random.default_rng(0)
    files = {}
    for i, (cls, n) in enumerate([("no", 3), ("no", 5), ("no", 4), ("yes", 7), ("yes", 6)]):
        s = rng.integers(-32768, 32768, (n, 1))
        _write(tmp_path / cls / f"{i}.wav", s)
        files[f"{cls}/{i}.wav"] = s
    (tmp_path / "yes" / "notes.txt").write_text("not audio")
    return tmp_path, files


def test_read_wav_matches_decode_wav_scaling(tmp_path):
    s16 = np.array([[-32768, 0], [1, 32767], [-5, 7]])
    _write(tmp_path / "a.wav", s16)
    audio, rate = read_wav(tmp_path / "a.wav")
    assert rate == 16000 and audio.dtype == np.float32 and audio.shape == (3, 2)
    np.testing.assert_array_equal(audio, s16 / 32768.0)
    for width, lim in ((1, 128), (3, 2**23), (4, 2**31)):
        s = np.array([[-lim], [0], [lim - 1], [-3]])
        _write(tmp_path / f"w{width}.wav", s, width=width)
        np.testing.assert_allclose(read_wav(tmp_path / f"w{width}.wav")[0], s / lim, rtol=1e-7)
    cut, _ = read_wav(tmp_path / "a.wav", output_sequence_length=2)
    np.testing.assert_array_equal(cut, s16[:2] / 32768.0)
    padded, _ = read_wav(tmp_path / "a.wav", output_sequence_length=5)
    np.testing.assert_array_equal(padded[3:], 0)
    (tmp_path / "bad.wav").write_bytes(b"RIFF....WAVEfmt nonsense")
    with pytest.raises(FileFormatError, match="not a PCM .wav file"):
        read_wav(tmp_path / "bad.wav")


def test_padded_batches_labels_and_order(sounds, capsys):
    root, files = sounds
    ds = audio_dataset_from_directory(root, batch_size=2, shuffle=False)
    assert "Found 5 files belonging to 2 classes." in capsys.readouterr().out
    assert ds.class_names == ["no", "yes"]
    batches = list(ds)
    assert [b[0].shape for b in batches] == [(2, 5, 1), (2, 7, 1), (1, 6, 1)]
    order = ["no/0.wav", "no/1.wav", "no/2.wav", "yes/3.wav", "yes/4.wav"]
    audio = [a for b in batches for a in b[0]]
    for a, name in zip(audio, order):
        n = len(files[name])
        np.testing.assert_array_equal(a[:n], files[name] / 32768.0)
        np.testing.assert_array_equal(a[n:], 0)  # padded to the longest of its batch
    labels = np.concatenate([b[1] for b in batches])
    assert labels.dtype == np.int32 and labels.tolist() == [0, 0, 0, 1, 1]


def test_sequence_length_ragged_modes_and_split(sounds):
    root, files = sounds
    ds = audio_dataset_from_directory(
        root, batch_size=5, output_sequence_length=4, label_mode="categorical", seed=1
    )
    x, y = next(iter(ds))
    assert x.shape == (5, 4, 1) and y.shape == (5, 2) and y.dtype == np.float32
    ragged = audio_dataset_from_directory(root, batch_size=3, ragged=True, shuffle=False)
    x, y = next(iter(ragged))
    assert isinstance(x, list) and [len(a) for a in x] == [3, 5, 4] and y.tolist() == [0, 0, 0]
    alone = audio_dataset_from_directory(root, label_mode=None, batch_size=None, shuffle=False)
    assert [a.shape for a in alone] == [(3, 1), (5, 1), (4, 1), (7, 1), (6, 1)]
    binary = audio_dataset_from_directory(root, label_mode="binary", batch_size=5, seed=3)
    assert next(iter(binary))[1].shape == (5, 1)
    train, val = audio_dataset_from_directory(
        root, validation_split=0.4, subset="both", seed=7, batch_size=8
    )
    assert len(train.file_paths) == 3 and len(val.file_paths) == 2
    assert not set(train.file_paths) & set(val.file_paths)


def test_errors(sounds):
    root, _ = sounds
    with pytest.raises(ArgumentValueError, match="ragged"):
        audio_dataset_from_directory(root, ragged=True, output_sequence_length=3)
    for bad in (0, 16000.0):
        with pytest.raises(ArgumentValueError, match="sampling_rate"):
            audio_dataset_from_directory(root, sampling_rate=bad)
    ok = audio_dataset_from_directory(root, sampling_rate=16000, batch_size=2)
    assert len(list(ok)) == 3
    with pytest.raises(ArgumentValueError, match="does not resample"):
        list(audio_dataset_from_directory(root, sampling_rate=8000))
    with pytest.raises(ValueError, match="label_mode"):
        audio_dataset_from_directory(root, label_mode="sparse")
