"""Process-wide settings, as ``keras.config``: the image data format and the fuzz
factor ``epsilon``. Everything that reads them imports them from here."""

from __future__ import annotations

__all__ = [
    "epsilon",
    "image_data_format",
    "set_image_data_format",
    "standardize_data_format",
    "EPSILON",
]

#: Keras's ``backend.epsilon()`` default: the clip of crossentropies, the fuzz factor of
#: constraints, regularizers and ops (one value everywhere, as in Keras).
EPSILON = 1e-7

_DATA_FORMATS = ("channels_first", "channels_last")
_image_data_format = "channels_last"


def epsilon() -> float:
    return EPSILON


def image_data_format() -> str:
    """``"channels_last"`` unless changed by ``set_image_data_format``."""
    return _image_data_format


def set_image_data_format(data_format: str) -> None:
    global _image_data_format
    _image_data_format = _check(data_format)


def standardize_data_format(data_format) -> str:
    """A layer's ``data_format`` argument: None means ``image_data_format()``."""
    if data_format is None:
        return _image_data_format
    return _check(data_format)


def _check(data_format) -> str:
    fmt = str(data_format).lower()
    if fmt not in _DATA_FORMATS:
        raise ValueError(
            "The `data_format` argument must be one of "
            "{'channels_first', 'channels_last'}. "
            f"Received: data_format={data_format}"
        )
    return fmt
