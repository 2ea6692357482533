"""`make demo`: the seed tutorial on graphc, end to end."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

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

    banner("The model as a layer, on NumPy data")
    x = np.random.random((4, 64)).astype("float32")
    probs = model(x)
    print(f"predictions {probs.shape}, rows sum to {np.round(probs.sum(axis=1), 5)}")


if __name__ == "__main__":
    main()
