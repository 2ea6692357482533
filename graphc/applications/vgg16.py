"""VGG16

Adapted from Keras's ``keras/src/applications/vgg16.py`` (Apache License 2.0): the same
topology, layer names and weight order, so Keras's weight files load into these models."""

from graphc.applications import _common, _vgg, imagenet_utils

VGG16 = _vgg.application(
    __name__,
    "VGG16",
    (2, 2, 3, 3, 3),
    ("64373286793e3c8b2b4e3219cbf3544b", "6d6bbae143d832006294945121d1f1fc"),
)
preprocess_input = _common.preprocess_input_of("caffe", __name__)
decode_predictions = imagenet_utils.decode_predictions
