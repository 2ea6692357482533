"""The metrics of issue 9's second batch against Keras 3 (torch backend): confusion
counts, Precision/Recall (thresholds, top_k, class_id), AUC (ROC, PR, PR-gain, the
summation methods, multi-label), the *At* metrics, F-scores, R2, the IoU family and the
correlations, updated over two batches with and without sample weights; configs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle

import graphc  # noqa: E402

R = np.random.default_rng(0)
YT = (R.random((20, 3)) > 0.5).astype("float32")
YP = R.random((20, 3)).astype("float32")
SW = R.random(20).astype("float32")
REG_T = R.standard_normal((20, 3)).astype("float32")
REG_P = (REG_T + 0.5 * R.standard_normal((20, 3))).astype("float32")
LAB = R.integers(0, 4, (20,)).astype("int32")
PRED = np.where(R.random(20) < 0.5, LAB, R.integers(0, 4, (20,))).astype("int32")
ONEHOT = np.eye(4, dtype="float32")[LAB]
SCORES = (ONEHOT * 0.5 + R.random((20, 4))).astype("float32")

CASES = [
    ("TruePositives", {}, YT, YP),
    ("FalsePositives", {"thresholds": [0.2, 0.7]}, YT, YP),
    ("TrueNegatives", {}, YT, YP),
    ("FalseNegatives", {"thresholds": 0.3}, YT, YP),
    ("Precision", {}, YT, YP),
    ("Precision", {"top_k": 1}, YT, YP),
    ("Recall", {"class_id": 1}, YT, YP),
    ("Recall", {"thresholds": [0.3, 0.6]}, YT, YP),
    ("AUC", {}, YT, YP),
    ("AUC", {"curve": "PR"}, YT, YP),
    ("AUC", {"curve": "PR", "summation_method": "minoring"}, YT, YP),
    ("AUC", {"multi_label": True}, YT, YP),
    ("AUC", {"num_thresholds": 7, "curve": "PRGAIN"}, YT, YP),
    ("AUC", {"thresholds": [0.2, 0.5]}, YT, YP),
    ("SensitivityAtSpecificity", {"specificity": 0.5}, YT, YP),
    ("SpecificityAtSensitivity", {"sensitivity": 0.4}, YT, YP),
    ("PrecisionAtRecall", {"recall": 0.6}, YT, YP),
    ("RecallAtPrecision", {"precision": 0.5}, YT, YP),
    ("F1Score", {}, YT, YP),
    ("F1Score", {"average": "macro", "threshold": 0.4}, YT, YP),
    ("FBetaScore", {"beta": 2.0, "average": "weighted"}, YT, YP),
    ("FBetaScore", {"average": "micro"}, YT, YP),
    ("R2Score", {}, REG_T, REG_P),
    ("R2Score", {"class_aggregation": None}, REG_T, REG_P),
    (
        "R2Score",
        {"class_aggregation": "variance_weighted_average", "num_regressors": 2},
        REG_T,
        REG_P,
    ),
    ("IoU", {"num_classes": 4, "target_class_ids": [0, 2]}, LAB, PRED),
    ("MeanIoU", {"num_classes": 4}, LAB, PRED),
    ("MeanIoU", {"num_classes": 4, "ignore_class": 1}, LAB, PRED),
    ("BinaryIoU", {}, YT, YP),
    ("BinaryIoU", {"target_class_ids": [1], "threshold": 0.3}, YT, YP),
    ("OneHotIoU", {"num_classes": 4, "target_class_ids": [1, 3]}, ONEHOT, SCORES),
    ("OneHotMeanIoU", {"num_classes": 4}, ONEHOT, SCORES),
    ("PearsonCorrelation", {}, REG_T, REG_P),
    ("ConcordanceCorrelation", {}, REG_T, REG_P),
]
#: Keras refuses a (batch,) weight for (batch, classes) inputs of these.
NO_WEIGHTS = {"BinaryIoU", "OneHotIoU", "OneHotMeanIoU"}


def _same_config(k_config, g_config):
    assert set(k_config) == set(g_config)
    for key, want in k_config.items():
        if key in ("name", "dtype"):
            continue
        got = g_config[key]
        if isinstance(want, (list, tuple, float)) and not isinstance(want, str):
            np.testing.assert_allclose(got, want, err_msg=key)
        else:
            assert got == want, key


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize(
    "name,kwargs,y_true,y_pred", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)]
)
def test_metric_matches_keras(name, kwargs, y_true, y_pred, weighted):
    if weighted and name in NO_WEIGHTS:
        pytest.skip("Keras refuses these sample weights")
    k = getattr(keras.metrics, name)(**kwargs)
    g = getattr(graphc.metrics, name)(**kwargs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # IoU: float weights in an int metric, as Keras says
        for part in (slice(0, 10), slice(10, 20)):
            sw = {"sample_weight": SW[part]} if weighted else {}
            k.update_state(y_true[part], y_pred[part], **sw)
            g.update_state(y_true[part], y_pred[part], **sw)
    np.testing.assert_allclose(
        g.result(), keras.ops.convert_to_numpy(k.result()), rtol=1e-5, atol=1e-6
    )
    _same_config(k.get_config(), g.get_config())
    clone = type(g).from_config(g.get_config())
    clone.update_state(y_true, y_pred)
    g.reset_state()
    g.update_state(y_true, y_pred)
    np.testing.assert_allclose(clone.result(), g.result())


@pytest.mark.parametrize("name", ["pearson_correlation", "concordance_correlation"])
def test_correlation_functions_match_keras(name):
    want = keras.ops.convert_to_numpy(getattr(keras.metrics, name)(REG_T, REG_P))
    np.testing.assert_allclose(getattr(graphc.metrics, name)(REG_T, REG_P), want, rtol=1e-5)


def test_fit_logs_the_new_metrics_by_name_and_object():
    model = graphc.Sequential(
        [graphc.layers.Input((3,)), graphc.layers.Dense(1, activation="sigmoid")]
    )
    model.compile(
        optimizer="sgd",
        loss="binary_crossentropy",
        metrics=["auc", graphc.metrics.Precision(), graphc.metrics.Recall(name="rec")],
    )
    x = R.standard_normal((32, 3)).astype("float32")
    hist = model.fit(x, (x[:, :1] > 0).astype("float32"), epochs=1, verbose=0)
    assert {"auc", "precision", "rec"} <= set(hist.history)
