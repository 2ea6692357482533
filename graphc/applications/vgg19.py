"""VGG19

Adapted from Keras's ``keras/src/applications/vgg19.py`` (Apache License 2.0): the same
topology, layer names and weight order, so Keras's weight files load into these models."""

from graphc.applications import _common, _vgg, imagenet_utils

VGG19 = _vgg.application(
    __name__,
    "VGG19",
    (2, 2, 4, 4, 4),
    ("cbe5617147190e668d6c5d5026f83318", "253f8cb515780f3b799900260a226db6"),
)
preprocess_input = _common.preprocess_input_of("caffe", __name__)
decode_predictions = imagenet_utils.decode_predictions
