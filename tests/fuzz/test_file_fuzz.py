"""File fuzzer (issue 13): random byte flips, truncations and zip-entry reorderings of
saved ``.graphc``, ``.weights.npz``, ``.onnx``, Keras 3 ``.keras`` and ``.weights.h5``
files (the last two also opened with ``KerasFileEditor``), and of a legacy Keras 2 layout
``.h5`` (tests/fuzz/data/legacy_mlp.h5, written by Keras 3; make_legacy_h5.py beside it).
Every mutated file must load or fail with one of graphc's typed errors (``GraphcError``),
within a time limit per case, with bounded memory.

A fixed, seeded budget runs in CI; more from the command line:

    python tests/fuzz/test_file_fuzz.py --budget 5000 --seed 7
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import tracemalloc
import warnings
import zipfile
from dataclasses import dataclass, field

import numpy as np
import pytest

if __name__ == "__main__":  # the repository's graphc, whatever is installed
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import graphc  # noqa: E402
from graphc import layers  # noqa: E402
from graphc.errors import GraphcError  # noqa: E402
from graphc.models.saving import load_model  # noqa: E402
from graphc.saving import KerasFileEditor  # noqa: E402

#: Mutations per CI run (split over the six formats).
BUDGET = 480
LEGACY_H5 = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "legacy_mlp.h5")
#: Seconds one case may take before it counts as a hang.
CASE_SECONDS = 10.0
#: Peak Python-traced memory (numpy arrays included) one case may use.
CASE_MEGABYTES = 64
#: Growth of the process's peak resident memory over a whole run (h5py and zlib allocate
#: outside tracemalloc's view).
RUN_RSS_MEGABYTES = 256


def build_model():
    graphc.utils.set_random_seed(0)
    a = graphc.Input(shape=(6,), name="a")
    b = graphc.Input(shape=(3,), name="b")
    h = layers.Dense(16, activation="relu")(a)
    h = layers.BatchNormalization()(h)
    h = layers.Concatenate()([h, layers.Dense(4)(b)])
    model = graphc.Model([a, b], layers.Dense(2, activation="softmax")(h))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(32, 6)).astype("float32"), rng.normal(size=(32, 3)).astype("float32")]
    model.fit(x, rng.integers(0, 2, size=32), epochs=1, batch_size=16, verbose=0)
    return model, [v[:2] for v in x]


# ---- mutations ------------------------------------------------------------------------------
def flip(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    n = rng.choice([1, 1, 2, 4, 16])
    for _ in range(n):
        # headers live at both ends of a zip: aim there half of the time
        if rng.random() < 0.5:
            edge = min(len(out), 256)
            i = rng.randrange(edge) if rng.random() < 0.5 else len(out) - 1 - rng.randrange(edge)
        else:
            i = rng.randrange(len(out))
        out[i] = rng.randrange(256) if rng.random() < 0.5 else out[i] ^ (1 << rng.randrange(8))
    return bytes(out)


def truncate(data: bytes, rng: random.Random) -> bytes:
    return data[: rng.randrange(len(data))]


def reorder(data: bytes, rng: random.Random) -> bytes:
    """Rewrite the zip with its entries shuffled, sometimes one dropped or duplicated, or
    stored instead of deflated (and vice versa), or with an entry's content mutated and
    re-zipped (so the CRC is right and the damage reaches the parsers)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            entries = [(i.filename, z.read(i)) for i in z.infolist()]
    except Exception:  # noqa: BLE001 - not a zip (an .onnx): flip instead
        return flip(data, rng)
    rng.shuffle(entries)
    choice = rng.random()
    if choice < 0.15 and entries:
        entries.pop(rng.randrange(len(entries)))
    elif choice < 0.3 and entries:
        entries.append(entries[rng.randrange(len(entries))])
    elif choice < 0.75 and entries:
        k = rng.randrange(len(entries))
        name, content = entries[k]
        if content and zipfile.is_zipfile(io.BytesIO(content)) and rng.random() < 0.5:
            content = reorder(content, rng)
        elif content:
            content = (flip if rng.random() < 0.7 else truncate)(content, rng)
        entries[k] = (name, content)
    buf = io.BytesIO()
    compression = rng.choice([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED])
    with zipfile.ZipFile(buf, "w", compression=compression) as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # duplicate names
        for name, content in entries:
            z.writestr(name, content)
    return buf.getvalue()


MUTATIONS = {"flip": flip, "truncate": truncate, "reorder": reorder}


# ---- loading --------------------------------------------------------------------------------
def load_graphc(path, model, x):
    load_model(path)
    model.load_weights(path)  # a .graphc is a weights source too


def load_weights_file(path, model, x):
    model.load_weights(path)


def load_onnx(path, model, x):
    rt = graphc.onnx.Runtime(path)
    with np.errstate(all="ignore"):
        rt.predict(x)


def open_in_editor(path):
    """KerasFileEditor reads the file too: a typed error there is fine (the loaders below
    still get the file), anything else is a failure."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            KerasFileEditor(path).summary()
    except GraphcError:
        pass


def load_weights_h5(path, model, x):
    open_in_editor(path)
    model.load_weights(path)


def load_keras_file(path, model, x):
    open_in_editor(path)
    load_model(path)
    model.load_weights(path)  # a .keras file is a weights source too


def load_legacy_h5(path, model, x):
    load_model(path)
    model.load_weights(path)


LOADERS = {
    ".graphc": load_graphc,
    ".weights.npz": load_weights_file,
    ".onnx": load_onnx,
    ".keras": load_keras_file,
    ".weights.h5": load_weights_h5,
    ".h5": load_legacy_h5,
}


class Hang(BaseException):
    pass


def _alarm(signum, frame):
    raise Hang()


@dataclass
class Report:
    cases: int = 0
    loaded: int = 0
    typed: int = 0
    failures: list = field(default_factory=list)  # (format, mutation, case, error)
    slowest: float = 0.0
    peak_mb: float = 0.0
    rss_growth_mb: float = 0.0
    seconds: float = 0.0


def fuzz(budget=BUDGET, seed=0, folder=None) -> Report:
    """Mutate saved files ``budget`` times; every outcome goes in the report."""
    start = time.perf_counter()
    folder = folder or tempfile.mkdtemp(prefix="graphc-file-fuzz-")
    model, x = build_model()
    originals = {}
    for ext in LOADERS:
        path = os.path.join(folder, "original" + ext)
        if ext in (".graphc", ".keras"):
            model.save(path)
        elif ext in (".weights.npz", ".weights.h5"):
            model.save_weights(path)
        elif ext == ".h5":
            with open(LEGACY_H5, "rb") as src, open(path, "wb") as dst:
                dst.write(src.read())
        else:
            graphc.onnx.export(model, path)
        with open(path, "rb") as f:
            originals[ext] = f.read()
    # the legacy file's weights go onto its own model
    models = {ext: model for ext in LOADERS}
    models[".h5"] = load_model(LEGACY_H5)
    rng = random.Random(seed)
    report = Report()
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    old_handler = signal.signal(signal.SIGALRM, _alarm)
    try:
        for case in range(budget):
            ext = list(LOADERS)[case % len(LOADERS)]
            mutation = rng.choice(list(MUTATIONS))
            data = MUTATIONS[mutation](originals[ext], rng)
            path = os.path.join(folder, f"case{ext}")
            with open(path, "wb") as f:
                f.write(data)
            report.cases += 1
            t0 = time.perf_counter()
            tracemalloc.start()
            signal.setitimer(signal.ITIMER_REAL, CASE_SECONDS)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    LOADERS[ext](path, models[ext], x)
                report.loaded += 1
            except GraphcError:
                report.typed += 1
            except Hang:
                report.failures.append((ext, mutation, case, f"hang over {CASE_SECONDS} s"))
            except Exception as e:  # noqa: BLE001 - exactly what the fuzzer looks for
                where = " <- ".join(
                    f"{os.path.basename(f.filename)}:{f.lineno}"
                    for f in traceback.extract_tb(e.__traceback__)[::-1][:4]
                )
                report.failures.append(
                    (ext, mutation, case, f"{type(e).__name__}: {e}"[:300] + f" at {where}")
                )
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
                peak = tracemalloc.get_traced_memory()[1] / 2**20
                tracemalloc.stop()
            report.slowest = max(report.slowest, time.perf_counter() - t0)
            report.peak_mb = max(report.peak_mb, peak)
            if peak > CASE_MEGABYTES:
                report.failures.append((ext, mutation, case, f"used {peak:.0f} MB"))
    finally:
        signal.signal(signal.SIGALRM, old_handler)
    report.rss_growth_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - rss0
    if report.rss_growth_mb > RUN_RSS_MEGABYTES:
        report.failures.append(("all", "-", -1, f"peak RSS grew {report.rss_growth_mb:.0f} MB"))
    report.seconds = time.perf_counter() - start
    return report


@pytest.mark.slow  # ~15 s of fuzzing (HDF5 files open slowly), plus onnx imports
def test_mutated_files_load_or_fail_with_typed_errors(tmp_path):
    report = fuzz(BUDGET, seed=0, folder=str(tmp_path))
    print(
        f"\nfile fuzz: {report.cases} mutations, {report.loaded} loaded, {report.typed} "
        f"typed errors, {len(report.failures)} failures, slowest {report.slowest:.2f} s, "
        f"peak {report.peak_mb:.1f} MB traced, RSS +{report.rss_growth_mb:.0f} MB, "
        f"{report.seconds:.1f} s"
    )
    assert report.cases == BUDGET
    assert not report.failures, "\n".join(map(str, report.failures[:20]))
    assert report.loaded > 0 and report.typed > 0


def test_damaged_keras_files_raise_file_format_errors(tmp_path):
    """What h5py and zipfile raise on a damaged .keras, .weights.h5 or legacy .h5 comes
    out as graphc's FileFormatError naming the file (found by this fuzzer: 153 of 480
    mutations gave OSError, KeyError, BadZipFile or a plain ValueError)."""
    from graphc.errors import FileFormatError

    model, _ = build_model()
    for name in ("m.keras", "m.weights.h5"):
        path = tmp_path / name
        (model.save if name.endswith(".keras") else model.save_weights)(path)
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        with pytest.raises(FileFormatError, match=str(path).replace(".", r"\.")):
            (load_model if name.endswith(".keras") else model.load_weights)(path)
    legacy = tmp_path / "old.h5"
    legacy.write_bytes(open(LEGACY_H5, "rb").read()[:5000])
    with pytest.raises(FileFormatError, match="damaged or is not a Keras file"):
        load_model(legacy)


def test_damaged_string_length_in_legacy_h5_costs_no_memory(tmp_path):
    """One byte of a variable-length string's declared length (a layer's weight_names),
    raised from 0 to 0x6E, made libhdf5 allocate and fill 1.7 GB before it failed (file
    fuzzer seed 1, case 911). Now the read fails within a small address-space cap. Run in
    a child process so that its peak memory is this load's alone."""
    data = bytearray(open(LEGACY_H5, "rb").read())
    assert data[18123] == 0
    data[18123] = 0x6E
    bad = tmp_path / "bad.h5"
    bad.write_bytes(bytes(data))
    code = (
        "import resource, sys\n"
        "from graphc.errors import FileFormatError\n"
        "from graphc.models.saving import load_model\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    load_model(sys.argv[1])\n"
        "except FileFormatError as e:\n"
        "    print('typed', e)\n"
        "print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run(
        [sys.executable, "-c", code, str(bad)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": root},
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("typed") and "bad.h5" in lines[0], out.stdout
    assert int(lines[-1]) < 200, f"loading the damaged file grew the peak by {lines[-1]} MB"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budget", type=int, default=BUDGET)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    r = fuzz(args.budget, args.seed)
    print(
        f"{r.cases} mutations: {r.loaded} loaded, {r.typed} typed errors, "
        f"{len(r.failures)} failures; slowest case {r.slowest:.2f} s, peak "
        f"{r.peak_mb:.1f} MB traced, RSS +{r.rss_growth_mb:.0f} MB, {r.seconds:.1f} s in all"
    )
    for f in r.failures:
        print(f)
    sys.exit(1 if r.failures else 0)
