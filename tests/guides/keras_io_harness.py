"""Run keras.io guides and examples cell by cell, on Keras 3 (torch backend) and on graphc.

A script, not a test (pytest does not collect it: the guides' code is not ours to commit,
so it is read at run time from where it was obtained)::

    python tests/guides/keras_io_harness.py                 # every guide found
    python tests/guides/keras_io_harness.py functional_api  # one guide (name or path)
    python tests/guides/keras_io_harness.py --markdown table.md

The guides are read from ``--dir`` (default ``$GRAPHC_KERAS_IO`` or ``/work/keras-io``),
which keeps keras-io's layout (``guides/...``, ``examples/<area>/...``). A keras-io file
is markdown in top-level docstrings (a line starting with ``\"\"\"`` at column 0 opens or
closes one) and code between them: each stretch of code is a cell.

Each guide runs twice, each time in a fresh subprocess and a fresh working directory,
all cells in one namespace:

- ``keras``: Keras 3 on the torch backend (as ``tests/oracle`` imports it);
- ``graphc``: the same code with ``keras`` (and ``keras_core``) resolved to ``graphc``.

What the harness changes, the same way for both runs:

- downloads are replaced by synthetic data of the same shapes and dtypes:
  ``keras.datasets.<name>.load_data`` (mnist, fashion_mnist, cifar10, cifar100, imdb,
  reuters, boston_housing; CIFAR with 2,000/1,000 samples instead of 50,000/10,000, the
  per-sample shapes kept), ``keras.utils.get_file`` (a synthetic file for the origins the
  examples use; anything else raises as offline), ``tensorflow`` (only ``tf.data.Dataset``
  over NumPy, a stand-in, which ``fit``/``evaluate``/``predict`` receive as the library's
  own ``PyDataset``), ``tensorflow_datasets.load`` (synthetic images), ``np.loadtxt`` and
  ``pandas.read_csv`` of a URL (pandas is the ``guides`` extra), zip archives
  (``fra-eng.zip``, MovieLens' ``ml-latest-small.zip``) with the files the examples read;
- ``fit`` runs at most ``--epochs`` epochs (1) on at most ``--samples`` samples (256) of
  array data, ``evaluate`` on at most ``--samples`` samples; ``SETTINGS`` lowers the cap
  for the heaviest examples and shortens the Python loops (text generation, decoding)
  that the caps on ``fit`` cannot;
- matplotlib draws to the Agg backend.

Only the guide's code sees the stand-ins (they are served by the namespace's
``__import__``), so the libraries import the real modules.

Counted: the cells that run on Keras; of those, the cells that also run on graphc. A
cell that fails on Keras (it needs TensorFlow, a download, pydot...) is not counted. For
each graphc failure the report names the cell, its first line and the exception.
"""

from __future__ import annotations

import argparse
import builtins
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
import types

import numpy as np

DEFAULT_DIR = os.environ.get("GRAPHC_KERAS_IO", "/work/keras-io")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The guides of issue 9 and the examples picked (all small; the last three have cells
# written for TensorFlow, `tf.tensordot`, `tf.GradientTape`, `tf.config`, which fail on
# Keras too and are not counted). A name is looked up as guides/<name>.py, then
# guides/keras_core/..., then examples/<name>.py. The examples are keras-io's files as
# stored at the time (some still TF 2 era: `from tensorflow import keras` resolves to the
# library under test), saved unchanged under $GRAPHC_KERAS_IO/examples/<area>/.
GUIDES = [
    "functional_api",
    "sequential_model",
    "training_with_built_in_methods",
    "making_new_layers_and_models_via_subclassing",
    "writing_your_own_callbacks",
    "serialization_and_saving",
    "transfer_learning",
    "understanding_masking_and_padding",
]
EXAMPLES = [
    "vision/mnist_convnet",
    "vision/autoencoder",
    "nlp/bidirectional_lstm_imdb",
    "nlp/addition_rnn",
    "nlp/text_classification_with_transformer",
    "timeseries/timeseries_classification_from_scratch",
    "timeseries/timeseries_classification_transformer",
    "structured_data/imbalanced_classification",
    "timeseries/timeseries_anomaly_detection",
    "timeseries/lstm_vs_cnn_timeseries_classification",
    "structured_data/regression_boston_housing",
    "nlp/lstm_seq2seq",
    "generative/lstm_character_level_text_generation",
    "structured_data/collaborative_filtering_movielens",
    "vision/knowledge_distillation",
    "keras_recipes/reproducibility_recipes",
]

# Per-example settings, the same for both runs: ``samples`` (a lower cap on fit's and
# evaluate's array samples, for the heavy models), ``cell_timeout`` (a longer limit) and
# ``replace`` (exact text edits of the example's Python loops that the caps on fit cannot
# shorten: each must match once).
SETTINGS = {
    # 4 transformer blocks over 500 steps: over 200 s a batch of 64 on Keras (CPU).
    "timeseries_classification_transformer": {"samples": 8},
    # Two stacked LSTMs with recurrent dropout over 500 steps: Keras's step loop (torch,
    # CPU) takes over 200 s a batch here, whatever the batch size.
    "lstm_vs_cnn_timeseries_classification": {"samples": 16, "cell_timeout": 900},
    # A Python loop of 40 fits, each followed by 4 x 400 one-character predictions.
    "lstm_character_level_text_generation": {
        "replace": [("epochs = 40\n", "epochs = 1\n"), ("range(400)", "range(10)")]
    },
    # Decoding 20 sentences character by character.
    "lstm_seq2seq": {"replace": [("for seq_index in range(20):", "for seq_index in range(3):")]},
}


# ---- reading -------------------------------------------------------------------------------
def find_file(name, root):
    if os.path.isfile(name):
        return name
    name = name[:-3] if name.endswith(".py") else name
    for rel in (
        f"guides/{name}.py",
        f"guides/keras_core/{name}.py",
        f"examples/{name}.py",
        f"{name}.py",
    ):
        path = os.path.join(root, rel)
        if os.path.isfile(path):
            return path
    return None


def split_cells(text):
    """The code cells of a keras-io file: the code between top-level docstrings."""
    cells, current, in_md = [], [], False
    for line in text.splitlines():
        if line.startswith('"""'):
            if not in_md and line.count('"""') >= 2 and line.strip() != '"""':
                cells.append(current)  # a one-line markdown block
                current = []
                continue
            if not in_md:
                cells.append(current)
                current = []
            in_md = not in_md
            continue
        if not in_md:
            current.append(line)
    cells.append(current)
    return [src for src in ("\n".join(c).strip("\n") for c in cells) if src.strip()]


def first_line(src):
    for line in src.splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            return s[:90]
    return ""


# ---- synthetic data ------------------------------------------------------------------------
def _rng():
    return np.random.default_rng(0)


def _images(n, shape, classes, label_shape=None):
    r = _rng()
    x = r.integers(0, 256, size=(n, *shape), dtype=np.uint8)
    y = r.integers(0, classes, size=(n,) if label_shape is None else (n, *label_shape))
    return x, y.astype(np.uint8 if label_shape is None else np.int64)


def _sequences(n, num_words, lo=20, hi=300):
    r = _rng()
    top = num_words or 20000
    seqs = [list(r.integers(1, top, size=int(r.integers(lo, hi)))) for _ in range(n)]
    x = np.empty(n, dtype=object)
    x[:] = seqs
    return x


def make_load_data(name):
    def load_data(*args, **kwargs):
        if name in ("mnist", "fashion_mnist"):
            a, b = _images(60000, (28, 28), 10), _images(10000, (28, 28), 10)
        elif name == "cifar10":
            a = _images(2000, (32, 32, 3), 10, (1,))
            b = _images(1000, (32, 32, 3), 10, (1,))
            a, b = (a[0], a[1].astype(np.uint8)), (b[0], b[1].astype(np.uint8))
        elif name == "cifar100":
            a = _images(2000, (32, 32, 3), 100, (1,))
            b = _images(1000, (32, 32, 3), 100, (1,))
            a, b = (a[0], a[1].astype(np.int64)), (b[0], b[1].astype(np.int64))
        elif name in ("imdb", "reuters"):
            num_words = kwargs.get("num_words")
            maxlen = kwargs.get("maxlen")
            classes = 2 if name == "imdb" else 46
            n = 25000 if name == "imdb" else 8982
            r = _rng()
            xa = _sequences(n, num_words, hi=min(300, maxlen or 300))
            xb = _sequences(n if name == "imdb" else 2246, num_words, hi=min(300, maxlen or 300))
            a = (xa, r.integers(0, classes, size=len(xa)).astype(np.int64))
            b = (xb, r.integers(0, classes, size=len(xb)).astype(np.int64))
        elif name == "boston_housing":
            r = _rng()
            a = (r.random((404, 13)), r.random(404) * 50)
            b = (r.random((102, 13)), r.random(102) * 50)
        else:
            raise RuntimeError(f"no synthetic data for keras.datasets.{name} (offline)")
        return a, b

    return load_data


def _synthetic_text(n_chars=20000):
    r = _rng()
    words = ["the", "will", "to", "power", "of", "and", "is", "a", "that", "truth"]
    out = " ".join(words[i] for i in r.integers(0, len(words), size=n_chars // 4))
    return out[:n_chars] + "\n"


def _write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for row in rows:
            f.write(",".join(str(v) for v in row) + "\n")


def _write_zip(path, files):
    import zipfile

    with zipfile.ZipFile(path, "w") as z:
        for name, text in files.items():
            z.writestr(name, text)


def make_get_file(cache_dir):
    def get_file(fname=None, origin=None, *args, **kwargs):
        base = os.path.basename(str(origin or fname or "")).split("?")[0]
        name = fname or base
        path = os.path.join(cache_dir, os.path.basename(str(name)))
        r = _rng()
        if base.endswith(".txt"):
            with open(path, "w") as f:
                f.write(_synthetic_text())
            return path
        if "creditcard" in base:
            header = ["Time"] + [f"V{i}" for i in range(1, 29)] + ["Amount", "Class"]
            rows = np.c_[r.random((2000, 30)), (r.random(2000) < 0.02).astype(int)]
            rows = [[*map(float, row[:-1]), int(row[-1])] for row in rows]
            _write_csv(path, ['"%s"' % h for h in header], rows)
            return path
        if base == "fra-eng.zip":  # English, French, attribution: tab-separated
            eng = ["go", "run", "wait", "help me", "i see", "we won", "hello", "come in"]
            fra = ["va", "cours", "attends", "aidez-moi", "je vois", "nous avons gagne"]
            lines = [
                f"{eng[i % len(eng)]}.\t{fra[int(r.integers(len(fra)))]} !\tCC-BY 2.0"
                for i in range(300)
            ]
            _write_zip(path, {"fra.txt": "\n".join(lines) + "\n"})
            return path
        if base == "ml-latest-small.zip":  # MovieLens: ratings and movies
            n, users, movies = 2000, 60, 300
            ratings = ["userId,movieId,rating,timestamp"] + [
                f"{r.integers(1, users + 1)},{r.integers(1, movies + 1)},"
                f"{r.integers(1, 11) / 2},{964982703 + i}"
                for i in range(n)
            ]
            titles = ["movieId,title,genres"] + [
                f"{m},Movie {m} (19{m % 100:02d}),Comedy|Drama" for m in range(1, movies + 1)
            ]
            _write_zip(
                path,
                {
                    "ml-latest-small/ratings.csv": "\n".join(ratings) + "\n",
                    "ml-latest-small/movies.csv": "\n".join(titles) + "\n",
                },
            )
            return path
        raise OSError(f"offline: no synthetic file for {origin or fname!r}")

    return get_file


class FakeDataset:
    """``tf.data.Dataset`` over NumPy, for the guides' pipelines (a stand-in, not TF)."""

    MAX = 1024

    def __init__(self, elements, batched=False):
        self.elements = list(elements)
        self.batched = batched

    @staticmethod
    def _map(fn, s):
        if isinstance(s, dict):
            return {k: FakeDataset._map(fn, v) for k, v in s.items()}
        if isinstance(s, (tuple, list)):
            return type(s)(FakeDataset._map(fn, v) for v in s)
        return fn(s)

    @staticmethod
    def _leaves(s):
        if isinstance(s, dict):
            return [x for v in s.values() for x in FakeDataset._leaves(v)]
        if isinstance(s, (tuple, list)):
            return [x for v in s for x in FakeDataset._leaves(v)]
        return [s]

    @classmethod
    def from_tensor_slices(cls, data):
        n = min(len(FakeDataset._leaves(data)[0]), cls.MAX)
        return cls([cls._map(lambda a, i=i: np.asarray(_np(a)[i]), data) for i in range(n)])

    @classmethod
    def from_tensors(cls, data):
        return cls([data])

    def shuffle(self, buffer_size=None, seed=None, reshuffle_each_iteration=None):
        order = _rng().permutation(len(self.elements))
        return FakeDataset([self.elements[i] for i in order], self.batched)

    def batch(self, batch_size, drop_remainder=False, **kwargs):
        out = []
        for i in range(0, len(self.elements), batch_size):
            chunk = self.elements[i : i + batch_size]
            if drop_remainder and len(chunk) < batch_size:
                break
            out.append(_stack(chunk))
        return FakeDataset(out, batched=True)

    def unbatch(self):
        out = []
        for b in self.elements:
            n = len(self._leaves(b)[0])
            out.extend(self._map(lambda a, i=i: a[i], b) for i in range(n))
        return FakeDataset(out)

    def map(self, fn, num_parallel_calls=None, deterministic=None):
        out = []
        for e in self.elements:
            v = fn(*e) if isinstance(e, tuple) else fn(e)
            out.append(self._map(_np, v))
        return FakeDataset(out, self.batched)

    def filter(self, fn):
        keep = [e for e in self.elements if bool(_np(fn(*e) if isinstance(e, tuple) else fn(e)))]
        return FakeDataset(keep, self.batched)

    def take(self, n):
        kept = self.elements[: int(n)] if n >= 0 else self.elements
        return FakeDataset(kept, self.batched)

    def skip(self, n):
        return FakeDataset(self.elements[int(n) :], self.batched)

    def prefetch(self, *a, **k):
        return self

    def cache(self, *a, **k):
        return self

    def repeat(self, *a, **k):
        return self

    def cardinality(self):
        return len(self.elements)

    def as_numpy_iterator(self):
        return iter(self.elements)

    def __len__(self):
        return len(self.elements)

    def __iter__(self):
        return iter(self.elements)


def _np(x):
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        try:
            return x.numpy()
        except Exception:
            return np.asarray(x)
    return x


def _stack(chunk):
    first = chunk[0]
    if isinstance(first, dict):
        return {k: _stack([c[k] for c in chunk]) for k in first}
    if isinstance(first, (tuple, list)):
        return type(first)(_stack([c[i] for c in chunk]) for i in range(len(first)))
    return np.stack([np.asarray(_np(c)) for c in chunk])


def fake_tensorflow():
    tf = types.ModuleType("tensorflow")
    tf.data = types.ModuleType("tensorflow.data")
    tf.data.Dataset = FakeDataset
    tf.data.AUTOTUNE = -1
    tf.data.experimental = types.SimpleNamespace(AUTOTUNE=-1)
    tf.__fake__ = True
    return tf


def fake_tfds():
    tfds = types.ModuleType("tensorflow_datasets")

    def load(name, split=None, as_supervised=False, **kwargs):
        r = _rng()

        def one():
            elems = []
            for _ in range(64):
                h, w = int(r.integers(120, 200)), int(r.integers(120, 200))
                img = r.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
                label = np.int64(r.integers(0, 2))
                elems.append((img, label) if as_supervised else {"image": img, "label": label})
            return FakeDataset(elems)

        if isinstance(split, (list, tuple)):
            return [one() for _ in split]
        return one()

    tfds.load = load
    tfds.disable_progress_bar = lambda: None
    return tfds


# ---- the run of one guide on one library (in a subprocess) --------------------------------
def _cap(data, n):
    if data is None:
        return None
    if isinstance(data, dict):
        return {k: _cap(v, n) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        if data and all(hasattr(d, "shape") or isinstance(d, (dict, list, tuple)) for d in data):
            return type(data)(_cap(d, n) for d in data)
        return data
    if hasattr(data, "shape") and len(getattr(data, "shape", ())) and data.shape[0] > n:
        return data[:n]
    return data


def _as_pydataset(lib, data):
    if not isinstance(data, FakeDataset):
        return data
    batches = data.elements if data.batched else data.batch(32).elements
    base = lib.utils.PyDataset

    class _FromTfData(base):
        def __init__(self):
            super().__init__()

        def __len__(self):
            return len(batches)

        def __getitem__(self, i):
            return batches[i]

    return _FromTfData()


MAX_STEPS = 4  # batches per epoch / evaluation of a dataset given as batches


def _is_batches(data):
    """A dataset of batches (PyDataset, DataLoader, the tf.data stand-in): capped by
    steps, as arrays are by samples."""
    return (
        data is not None
        and not hasattr(data, "shape")
        and not isinstance(data, (dict, list, tuple))
        and hasattr(data, "__len__")
    )


def install_caps(lib, max_epochs, max_samples):
    model_cls = lib.Model

    orig_fit, orig_eval, orig_pred = model_cls.fit, model_cls.evaluate, model_cls.predict

    def fit(self, x=None, y=None, batch_size=None, epochs=1, *args, **kw):
        epochs = min(epochs, max_epochs)
        x = _as_pydataset(lib, _cap(x, max_samples))
        if _is_batches(x) and kw.get("steps_per_epoch") is None:
            kw["steps_per_epoch"] = min(len(x), MAX_STEPS)
        y, kw["sample_weight"] = _cap(y, max_samples), _cap(kw.get("sample_weight"), max_samples)
        if kw["sample_weight"] is None:
            del kw["sample_weight"]
        vd = kw.get("validation_data")
        if isinstance(vd, tuple):
            kw["validation_data"] = tuple(_cap(v, max_samples) for v in vd)
        elif vd is not None:
            kw["validation_data"] = vd = _as_pydataset(lib, vd)
            if _is_batches(vd) and kw.get("validation_steps") is None:
                kw["validation_steps"] = min(len(vd), MAX_STEPS)
        return orig_fit(self, x, y, batch_size, epochs, *args, **kw)

    def evaluate(self, x=None, y=None, *args, **kw):
        x = _as_pydataset(lib, _cap(x, max_samples))
        if _is_batches(x) and kw.get("steps") is None and not args:
            kw["steps"] = min(len(x), MAX_STEPS)
        return orig_eval(self, x, _cap(y, max_samples), *args, **kw)

    def predict(self, x, *args, **kw):
        return orig_pred(self, _as_pydataset(lib, x), *args, **kw)

    model_cls.fit, model_cls.evaluate, model_cls.predict = fit, evaluate, predict


def install_data(lib, cache_dir):
    names = ["mnist", "fashion_mnist", "cifar10", "cifar100", "imdb", "reuters", "boston_housing"]
    datasets = lib.datasets
    for name in names:
        mod = getattr(datasets, name, None)
        if mod is None:  # the harness provides the download, not the library
            mod = types.ModuleType(f"{lib.__name__}.datasets.{name}")
            setattr(datasets, name, mod)
        mod.load_data = make_load_data(name)
    lib.utils.get_file = make_get_file(cache_dir)


def _patch_loaders():
    real_loadtxt = np.loadtxt

    def loadtxt(fname, *a, **k):
        if isinstance(fname, str) and fname.startswith(("http://", "https://")):
            r = _rng()
            n = 3601 if "TRAIN" in fname else 1320
            y = r.integers(0, 2, size=(n, 1)) * 2 - 1
            return np.c_[y, r.standard_normal((n, 500))]
        return real_loadtxt(fname, *a, **k)

    np.loadtxt = loadtxt

    try:
        import pandas as pd
    except ImportError:  # the examples that read CSV files with pandas fail on both
        return
    real_read_csv = pd.read_csv

    def read_csv(path, *a, **k):
        if isinstance(path, str) and "numenta/NAB" in path:
            # A value every 5 minutes, 4 days instead of 14 (the model sees windows of a
            # day: 865 of them instead of 3,745); the test file with a jump up.
            r, n = _rng(), 4 * 288
            t = np.arange(n)
            value = 40 + 20 * np.sin(2 * np.pi * t / 288) + r.normal(0, 2, size=n)
            if "jumpsup" in path:
                value[700:720] += 80
            stamps = pd.date_range("2014-04-01", periods=n, freq="5min")
            df = pd.DataFrame({"timestamp": stamps, "value": value})
            local = os.path.join(os.getcwd(), os.path.basename(path))
            df.to_csv(local, index=False)
            return real_read_csv(local, *a, **k)
        return real_read_csv(path, *a, **k)

    pd.read_csv = read_csv


def run_child(path, lib_name, out_json, cell_timeout, max_epochs, max_samples, graphc_repo):
    import signal

    os.environ.setdefault("KERAS_BACKEND", "torch")
    os.environ.setdefault("MPLBACKEND", "Agg")
    workdir = tempfile.mkdtemp(prefix=f"guide-{lib_name}-")
    os.chdir(workdir)
    _patch_loaders()

    if lib_name == "keras":
        import keras as lib

        lib.utils.set_random_seed(0)
    else:
        sys.path.insert(0, graphc_repo)
        import graphc as lib

        np.random.seed(0)
    install_data(lib, workdir)
    stem = os.path.splitext(os.path.basename(path))[0]
    max_samples = min(max_samples, SETTINGS.get(stem, {}).get("samples", max_samples))
    install_caps(lib, max_epochs, max_samples)

    fakes = {"tensorflow": fake_tensorflow(), "tensorflow_datasets": fake_tfds()}
    # Old examples import ``from tensorflow import keras``: the Keras 3 port of keras-io
    # changed only that import, so it resolves to the library under test.
    fakes["tensorflow"].keras = lib
    real_import = builtins.__import__

    def guide_import(name, globals=None, locals=None, fromlist=(), level=0):
        root, _, rest = name.partition(".")
        if root in fakes:
            mod = fakes[root]
            for part in rest.split(".") if rest else []:
                mod = getattr(mod, part)
            return mod if (fromlist or not rest) else fakes[root]
        if root in ("keras", "keras_core"):
            if lib_name == "graphc":
                if rest:
                    sub = real_import(f"graphc.{rest}", globals, locals, fromlist, level)
                    return sub if fromlist else lib
                return lib
            if rest:
                sub = real_import(f"keras.{rest}", globals, locals, fromlist, level)
                return sub if fromlist else lib
            return lib
        return real_import(name, globals, locals, fromlist, level)

    guide_builtins = dict(vars(builtins))
    guide_builtins["__import__"] = guide_import
    real_open = builtins.open

    def guide_open(file, *a, **k):
        # A local copy of a dataset the example asks its reader to download.
        if isinstance(file, str) and not os.path.exists(file) and file.endswith(".csv"):
            file = make_get_file(workdir)(os.path.basename(file))
        return real_open(file, *a, **k)

    guide_builtins["open"] = guide_open
    ns = {"__name__": "__main__", "__builtins__": guide_builtins}

    with open(path) as f:
        text = f.read()
    settings = SETTINGS.get(os.path.splitext(os.path.basename(path))[0], {})
    for old, new in settings.get("replace", ()):
        if text.count(old) != 1:
            raise SystemExit(f"harness: {old!r} is not in {path} once: update SETTINGS")
        text = text.replace(old, new)
    cells = split_cells(text)
    results = []

    def on_alarm(signum, frame):
        raise TimeoutError(f"cell took over {cell_timeout} s")

    cell_timeout = max(cell_timeout, settings.get("cell_timeout", 0))
    signal.signal(signal.SIGALRM, on_alarm)
    for i, src in enumerate(cells, 1):
        t0 = time.time()
        entry = {"cell": i, "first_line": first_line(src)}
        signal.alarm(cell_timeout)
        try:
            code = compile(src, f"<{os.path.basename(path)} cell {i}>", "exec")
            exec(code, ns)
            entry["ok"] = True
        except BaseException as e:  # noqa: B036 - a cell may raise anything, even SystemExit
            entry["ok"] = False
            msg = str(e).strip().splitlines()
            entry["error"] = f"{type(e).__name__}: {msg[0][:200] if msg else ''}"
            tb = traceback.format_exc().splitlines()
            entry["traceback"] = "\n".join(tb[-12:])
        finally:
            signal.alarm(0)
        entry["seconds"] = round(time.time() - t0, 2)
        results.append(entry)
        print(f"[{lib_name}] cell {i}: {'ok' if entry['ok'] else entry['error']}", file=sys.stderr)
    with open(out_json, "w") as f:
        json.dump(results, f)


# ---- the parent: run both, compare, report ------------------------------------------------
def run_guide(path, args, log_dir):
    out = {}
    for lib_name in ("keras", "graphc"):
        stem = os.path.splitext(os.path.basename(path))[0]
        out_json = os.path.join(log_dir, f"{stem}.{lib_name}.json")
        log = os.path.join(log_dir, f"{stem}.{lib_name}.log")
        if args.report_only:
            try:
                with open(out_json) as f:
                    out[lib_name] = json.load(f)
            except OSError:
                out[lib_name] = []
            continue
        if lib_name == "keras" and args.reuse_keras and os.path.exists(out_json):
            with open(out_json) as f:
                out[lib_name] = json.load(f)
            continue
        cmd = [
            sys.executable,
            os.path.abspath(__file__),
            "--child",
            lib_name,
            "--out",
            out_json,
            "--epochs",
            str(args.epochs),
            "--samples",
            str(args.samples),
            "--cell-timeout",
            str(args.cell_timeout),
            "--graphc-repo",
            args.graphc_repo,
            path,
        ]
        env = dict(os.environ, KERAS_BACKEND="torch", MPLBACKEND="Agg")
        with open(log, "w") as f:
            subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=args.graphc_repo)
        try:
            with open(out_json) as f:
                out[lib_name] = json.load(f)
        except (OSError, ValueError):
            out[lib_name] = []
    return out


def summarize(name, res):
    k = {c["cell"]: c for c in res.get("keras", [])}
    g = {c["cell"]: c for c in res.get("graphc", [])}
    on_keras = [i for i, c in k.items() if c["ok"]]
    on_both = [i for i in on_keras if g.get(i, {}).get("ok")]
    failures = [
        g.get(i, {"cell": i, "first_line": k[i]["first_line"], "error": "not run"})
        for i in on_keras
        if not g.get(i, {}).get("ok")
    ]
    return {
        "name": name,
        "cells": len(k),
        "keras": len(on_keras),
        "graphc": len(on_both),
        "failures": failures,
    }


def markdown(rows):
    lines = [
        "| guide | cells | run on Keras | of those, on graphc | % |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    tot_k = tot_g = tot_c = 0
    for r in rows:
        pct = f"{100 * r['graphc'] / r['keras']:.0f} %" if r["keras"] else "-"
        lines.append(f"| `{r['name']}` | {r['cells']} | {r['keras']} | {r['graphc']} | {pct} |")
        tot_k, tot_g, tot_c = tot_k + r["keras"], tot_g + r["graphc"], tot_c + r["cells"]
    pct = f"{100 * tot_g / tot_k:.0f} %" if tot_k else "-"
    lines.append(f"| **all** | **{tot_c}** | **{tot_k}** | **{tot_g}** | **{pct}** |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("names", nargs="*", help="guides (names or paths); default: all found")
    p.add_argument("--dir", default=DEFAULT_DIR, help="where keras-io's files are")
    p.add_argument("--epochs", type=int, default=1, help="cap on fit's epochs")
    p.add_argument("--samples", type=int, default=256, help="cap on fit's array samples")
    p.add_argument("--cell-timeout", type=int, default=300)
    p.add_argument(
        "--graphc-repo", default=REPO, help="the checkout whose graphc runs (default: this one)"
    )
    p.add_argument(
        "--reuse-keras",
        action="store_true",
        help="reuse the Keras run's results found in --logs (Keras does not change)",
    )
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: summarize the results already in --logs",
    )
    p.add_argument("--markdown", help="also write the summary table to this file")
    p.add_argument("--json", help="also write the full summary as JSON to this file")
    p.add_argument("--logs", default=os.path.join(tempfile.gettempdir(), "graphc-guides"))
    p.add_argument("--child", help=argparse.SUPPRESS)
    p.add_argument("--out", help=argparse.SUPPRESS)
    args = p.parse_args(argv)

    if args.child:
        run_child(
            args.names[0],
            args.child,
            args.out,
            args.cell_timeout,
            args.epochs,
            args.samples,
            args.graphc_repo,
        )
        return 0

    os.makedirs(args.logs, exist_ok=True)
    names = args.names or GUIDES + EXAMPLES
    rows = []
    for name in names:
        path = find_file(name, args.dir)
        if path is None:
            print(f"{name}: not found under {args.dir} (skipped)")
            continue
        t0 = time.time()
        row = summarize(os.path.relpath(path, args.dir)[:-3], run_guide(path, args, args.logs))
        rows.append(row)
        print(
            f"{row['name']}: {row['keras']} of {row['cells']} cells run on Keras; "
            f"{row['graphc']} of those on graphc ({time.time() - t0:.0f} s)"
        )
        for f in row["failures"]:
            print(f"    cell {f['cell']}: {f['first_line']}\n        {f.get('error')}")
        sys.stdout.flush()
    table = markdown(rows)
    print()
    print(table)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(table + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
