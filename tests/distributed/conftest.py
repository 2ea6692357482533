"""Fixtures of the graphc.distributed tests: the digits model, its test data and files."""

from __future__ import annotations

import numpy as np
import pytest
from dist_helpers import build_digits, digits_data


@pytest.fixture(scope="module")
def digits_model():
    return build_digits()


@pytest.fixture(scope="module")
def digits_test():
    _, (xs, ys) = digits_data()
    # 5x the test set: enough rows for a dozen chunks.
    return np.concatenate([xs] * 5), np.concatenate([ys] * 5)


@pytest.fixture(scope="module")
def files(tmp_path_factory, digits_model, digits_test):
    """The digits model as .graphc and .onnx, and its test data as .npy and .npz."""
    d = tmp_path_factory.mktemp("dist")
    x, y = digits_test
    paths = {
        "graphc": str(d / "digits.graphc"),
        "onnx": str(d / "digits.onnx"),
        "x": str(d / "x.npy"),
        "y": str(d / "y.npy"),
        "npz": str(d / "test.npz"),
        "dir": d,
    }
    digits_model.save(paths["graphc"])
    digits_model.export(paths["onnx"])
    np.save(paths["x"], x)
    np.save(paths["y"], y)
    np.savez(paths["npz"], x=x, y=y)
    return paths
