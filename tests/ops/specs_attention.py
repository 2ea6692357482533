"""Op specs for the attention ops (graphc/ops/attention.py): masked_softmax and
reshape_trailing."""


def _logits_and_masks(x_shape, mask_shapes, fully_masked=False):
    """Logits, then boolean masks; unless ``fully_masked``, every row keeps a key (a
    uniform, fully masked row has the autograd gradient, which differs from the finite
    differences of the float computation, whose bias swallows the logits)."""

    def make(rng, dtype):
        x = rng.uniform(-2, 2, x_shape).astype(dtype)
        masks = [rng.random(s) < 0.6 for s in mask_shapes]
        for m in masks:
            m[..., 0] = True
        if fully_masked:
            masks[0][0, ...] = False
        return [x, *masks]

    return make


_MASKED = {"no_grad": (1,)}

SPECS = {
    "masked_softmax": [
        # Keras's Softmax layer form, with a fully masked row (all zeros, no gradient).
        (
            {"zero_fully_masked": True},
            [(2, 3, 4), (2, 1, 4)],
            (-2, 2),
            {**_MASKED, "make": _logits_and_masks((2, 3, 4), [(2, 1, 4)], fully_masked=True)},
        ),
        # dot_product_attention's form; two masks (query and key) broadcasting.
        (
            {"zero_fully_masked": False},
            [(2, 2, 3, 4), (2, 1, 1, 4), (2, 1, 3, 1)],
            (-2, 2),
            {
                "no_grad": (1, 2),
                "make": _logits_and_masks((2, 2, 3, 4), [(2, 1, 1, 4), (2, 1, 3, 1)]),
            },
        ),
        # A causal band alone, and a sliding window with a mask.
        ({"causal": True, "zero_fully_masked": False}, [(2, 2, 3, 4)], (-2, 2)),
        (
            {"causal": True, "sliding_window": 2, "zero_fully_masked": True},
            [(2, 4, 4), (2, 1, 4)],
            (-2, 2),
            {**_MASKED, "make": _logits_and_masks((2, 4, 4), [(2, 1, 4)])},
        ),
        # No mask at all: a plain softmax over the last axis.
        ({}, [(3, 5)], (-2, 2)),
    ],
}

SPECS["reshape_trailing"] = [
    ({"keep": 2, "shape": (2, 3)}, [(2, 4, 6)], (-1, 1)),  # split heads
    ({"keep": 2, "shape": (-1,)}, [(2, 4, 2, 3)], (-1, 1)),  # merge heads
    ({"keep": 1, "shape": (3, -1)}, [(2, 4, 6)], (-1, 1)),
]
