"""Cases of the random image augmentation ops (graphc/ops/image_augment.py): the identity
outside training (also their ONNX lowering), Keras's transforms in training; no gradient
to the input (they stand on the data)."""

_VR = (0.0, 1.0)
_CF = "channels_first"
_NO_GRAD = {"no_grad": (0,)}


def _aug(kind, fmt="channels_last", **attrs):
    return {"kind": kind, "data_format": fmt, "value_range": _VR, **attrs}


SPECS = {
    "image_augment": [
        (_aug("brightness", factor=(-0.2, 0.2)), [(3, 4, 5, 3)], (0, 1), _NO_GRAD),
        (_aug("contrast", _CF, factor=(0.0, 0.5)), [(3, 3, 4, 5)], (0, 1), _NO_GRAD),
        (_aug("grayscale", factor=0.5), [(3, 4, 5, 3)], (0, 1), _NO_GRAD),
        (_aug("hue", factor=(0.0, 0.4)), [(3, 4, 5, 3)], (0, 1), _NO_GRAD),
        (_aug("saturation", _CF, factor=(0.2, 0.8)), [(3, 3, 4, 5)], (0, 1), _NO_GRAD),
        (_aug("color_degeneration", factor=(0.0, 1.0)), [(3, 4, 5, 3)], (0, 1), _NO_GRAD),
        (_aug("sharpness", factor=(0.0, 0.9)), [(3, 4, 5, 2)], (0, 1), _NO_GRAD),
        (_aug("invert", factor=(0.0, 1.0)), [(3, 4, 5, 1)], (0, 1), _NO_GRAD),
        (_aug("posterization", factor=(1, 5)), [(3, 4, 5, 3)], (0, 1), _NO_GRAD),
        (
            _aug("solarization", addition_factor=(0.0, 0.2), threshold_factor=(0.3, 0.9)),
            [(3, 4, 5, 3)],
            (0, 1),
            _NO_GRAD,
        ),
        (
            _aug("color_jitter", brightness_factor=(-0.1, 0.1), hue_factor=(0.0, 0.2)),
            [(3, 4, 5, 3)],
            (0, 1),
            _NO_GRAD,
        ),
        (_aug("equalization", bins=32), [(3, 4, 5, 3)], (0, 1), _NO_GRAD),
        (
            _aug("gaussian_blur", _CF, factor=(0.0, 1.0), kernel_size=(3, 3), sigma=(0.1, 1.0)),
            [(3, 2, 5, 6)],
            (0, 1),
            _NO_GRAD,
        ),
        (
            _aug("erasing", factor=(0.0, 1.0), scale=(0.02, 0.33), fill_value=None),
            [(3, 5, 6, 2)],
            (0, 1),
            _NO_GRAD,
        ),
        (
            _aug("erasing", _CF, factor=(0.5, 1.0), scale=(0.1, 0.5), fill_value=0.5),
            [(3, 2, 5, 6)],
            (0, 1),
            _NO_GRAD,
        ),
        ({"kind": "mix_up", "alpha": 0.3}, [(4, 3, 4, 2)], (0, 1), _NO_GRAD),
        (
            {"kind": "cut_mix", "factor": (0.0, 1.0), "data_format": _CF},
            [(4, 2, 5, 6)],
            (0, 1),
            _NO_GRAD,
        ),
        (
            {"kind": "shear", "x_factor": (-0.3, 0.3), "y_factor": (0.0, 0.2), "fill_mode": "wrap"},
            [(3, 5, 6, 2)],
            (0, 1),
            _NO_GRAD,
        ),
        (
            {"kind": "rand_augment", "factor": (0.0, 0.5), "num_ops": 3, "value_range": (0.0, 1.0)},
            [(3, 5, 6, 3)],
            (0, 1),
            _NO_GRAD,
        ),
    ],
    "random_crop": [
        ({"height": 3, "width": 4}, [(2, 3, 4, 2), (2, 6, 7, 2)], (0, 1), {"no_grad": (0, 1)}),
        (
            {"height": 3, "width": 4, "data_format": _CF},
            [(2, 2, 3, 4), (2, 2, 5, 9)],
            (0, 1),
            {"no_grad": (0, 1)},
        ),
    ],
}
