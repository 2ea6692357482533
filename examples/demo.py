"""`make demo`: the seed tutorial on graphc, end to end."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
REPO = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir))

import numpy as np  # noqa: E402

import graphc  # noqa: E402
from graphc import Input, Model  # noqa: E402


def banner(text):
    print(f"\n=== {text} " + "=" * max(0, 70 - len(text)))


def main():
    graphc.utils.set_random_seed(0)
    banner("The seed's Sequential model")
    from seed_sequential import seq_model

    seq_model.summary()

    banner("The seed's functional model")
    from seed_functional import model, output_tensor

    model.summary()

    banner("An output that does not follow from the inputs")
    unrelated_input = Input(shape=(32,))
    try:
        Model(unrelated_input, output_tensor)
    except ValueError as e:
        print(f"{type(e).__name__}: {e}")

    banner("Training the seed's model in NumPy (as in the tutorial)")
    model.compile(optimizer="rmsprop", loss="categorical_crossentropy")
    x_train = np.random.random((1000, 64))
    y_train = np.random.random((1000, 10))
    model.fit(x_train, y_train, epochs=10, batch_size=128)
    score = model.evaluate(x_train, y_train)
    print(f"evaluate: loss {score:.4f}")

    banner("A real task: 8x8 handwritten digits (UCI, CC BY 4.0)")
    digits_model, history, (x_test, y_test) = train_digits()

    banner("Export with the command line, evaluate in onnxruntime")
    out = os.path.join(REPO, "build", "demo")
    os.makedirs(out, exist_ok=True)
    saved = os.path.join(out, "digits.graphc")
    onnx_path = os.path.join(out, "digits.onnx")
    digits_model.save(saved)
    command = [sys.executable, "-m", "graphc", "export", saved, "-o", onnx_path]
    print("$ graphc export build/demo/digits.graphc -o build/demo/digits.onnx")
    subprocess.run(command, check=True)
    compare_backends(digits_model, onnx_path, x_test, y_test)

    banner("Pictures: the model and its training curves")
    pictures = draw_pictures(digits_model, history, out)
    for path in pictures:
        print(f"wrote {os.path.relpath(path, REPO)}")

    banner("Next")
    graphc_command = os.path.relpath(os.path.join(os.path.dirname(sys.executable), "graphc"), REPO)
    print(
        f"The graphc command is {graphc_command} (or `source "
        f"{os.path.relpath(os.path.dirname(os.path.dirname(sys.executable)), REPO)}"
        "/bin/activate`, then `graphc`):"
    )
    print(f"  {graphc_command} check build/demo/digits.onnx --reference build/demo/digits.graphc")
    print(f"  {graphc_command} plot build/demo/digits.graphc -o build/demo/digits.svg")
    print(f"  {graphc_command} view build/demo/digits.onnx      # Netron, in the browser")
    print("The tutorial: docs/tutorial.md")


def draw_pictures(model, history, out):
    """The model's graph and the training curves beside the ONNX file; without the `plots`
    extra (matplotlib, grandalf) and without Graphviz, say how to get them."""
    model_png = os.path.join(out, "digits_model.png")
    curves_png = os.path.join(out, "digits_curves.png")
    try:
        graphc.utils.plot_model(
            model, model_png, show_shapes=True, show_layer_activations=True, dpi=96
        )
        history.plot(curves_png, title="digits: training and validation")
    except ImportError as e:
        print(f"no pictures: {e}")
        return []
    return [model_png, curves_png]


def compare_backends(model, onnx_path, x, y):
    """The same test set through both backends, side by side."""
    runtime = graphc.onnx.Runtime(onnx_path)
    numpy_loss, numpy_acc = model.evaluate(x, y, verbose=0)
    onnx_scores = runtime.evaluate(
        x, y, loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    numpy_pred = model.predict(x, verbose=0)
    onnx_pred = runtime.predict(x)
    print(f"{'':14}{'NumPy backend':>16}{'onnxruntime':>16}")
    print(f"{'loss':14}{numpy_loss:16.6f}{onnx_scores['loss']:16.6f}")
    print(f"{'accuracy':14}{numpy_acc:16.4f}{onnx_scores['accuracy']:16.4f}")
    diff = float(np.abs(numpy_pred - onnx_pred).max())
    print(
        f"largest absolute difference of the {numpy_pred.size:,} predicted "
        f"probabilities: {diff:.2e} (parity bound: rtol 1e-4, atol 1e-5)"
    )


def train_digits():
    from graphc import layers

    (x_train, y_train), (x_test, y_test) = graphc.datasets.digits.load_data()
    x_train, x_test = x_train / 16.0, x_test / 16.0
    model = graphc.Sequential(
        [
            graphc.Input(shape=(8, 8), name="pixels"),
            layers.Flatten(),
            layers.Dense(64, activation="relu"),
            layers.Dropout(0.1),
            layers.Dense(10, activation="softmax", name="digit"),
        ],
        name="digits",
    )
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x_train, y_train, epochs=30, batch_size=32, validation_split=0.1, verbose=2)
    loss, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(
        f"digits test set ({len(y_test)} images): loss {loss:.4f}, "
        f"accuracy {accuracy:.2%} (target >= 95%)"
    )
    return model, history, (x_test, y_test)


if __name__ == "__main__":
    main()
