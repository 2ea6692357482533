"""Op specs for the image family (see the options at the top of test_ops.py). The random
ops draw from the context's generator; the registry test seeds it identically for each
evaluation, so in training mode they are fixed linear maps of the image."""

CL, CF = "channels_last", "channels_first"


def _flip(mode, fmt=CL):
    return {"mode": mode, "data_format": fmt}


def _affine(kind, fill="reflect", interp="bilinear", fmt=CL, fill_value=0.0, **ranges):
    return {
        "kind": kind,
        "fill_mode": fill,
        "interpolation": interp,
        "fill_value": fill_value,
        "data_format": fmt,
        **ranges,
    }


SPECS = {
    "random_flip": [
        (_flip("horizontal"), [(6, 3, 4, 2)], (-1, 1)),
        (_flip("vertical"), [(6, 3, 4, 2)], (-1, 1)),
        (_flip("horizontal_and_vertical", CF), [(6, 2, 3, 4)], (-1, 1)),
    ],
    "random_affine": [
        (_affine("rotation", factor=(-0.2, 0.2)), [(2, 5, 6, 2)], (-1, 1)),
        (
            _affine("rotation", "constant", fill_value=0.5, factor=(-0.3, 0.3)),
            [(2, 5, 6, 2)],
            (-1, 1),
        ),
        (_affine("rotation", "wrap", "nearest", factor=(0.1, 0.3)), [(2, 5, 6, 2)], (-1, 1)),
        (_affine("zoom", "nearest", height_factor=(-0.3, 0.3)), [(2, 5, 6, 2)], (-1, 1)),
        (
            _affine("zoom", "reflect", fmt=CF, height_factor=(-0.3, 0.3), width_factor=(0.1, 0.4)),
            [(2, 2, 5, 6)],
            (-1, 1),
        ),
        (
            _affine("translation", "constant", height_factor=(-0.3, 0.3), width_factor=(-0.3, 0.3)),
            [(2, 5, 6, 2)],
            (-1, 1),
        ),
        (
            _affine("perspective", "constant", fill_value=0.5, factor=(0.5, 1.0), scale=0.6),
            [(3, 5, 6, 2)],
            (-1, 1),
        ),
    ],
}
