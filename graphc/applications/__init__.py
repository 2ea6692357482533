"""graphc.applications: Keras's ``keras.applications`` models, with Keras's constructor
arguments, layer names and weight order, so Keras's weight files load into them.

>>> from graphc import applications
>>> model = applications.MobileNetV2(weights=None, input_shape=(96, 96, 3), alpha=0.35)
>>> model.count_params()
1691208

``weights="imagenet"`` fetches Keras's file into ``~/.keras/models`` when it is not there
and the network answers within a few seconds; otherwise pass the file's local path as
``weights=``. Each module (``graphc.applications.vgg16`` ...) has Keras's
``preprocess_input`` and ``decode_predictions``.
"""

from graphc.applications import (
    convnext,
    densenet,
    efficientnet,
    imagenet_utils,
    inception_v3,
    mobilenet,
    mobilenet_v2,
    mobilenet_v3,
    resnet,
    resnet_v2,
    vgg16,
    vgg19,
    xception,
)
from graphc.applications.convnext import (
    ConvNeXtBase,
    ConvNeXtLarge,
    ConvNeXtSmall,
    ConvNeXtTiny,
    ConvNeXtXLarge,
)
from graphc.applications.densenet import DenseNet121, DenseNet169, DenseNet201
from graphc.applications.efficientnet import (
    EfficientNetB0,
    EfficientNetB1,
    EfficientNetB2,
    EfficientNetB3,
    EfficientNetB4,
    EfficientNetB5,
    EfficientNetB6,
    EfficientNetB7,
)
from graphc.applications.imagenet_utils import WeightsUnavailableError
from graphc.applications.inception_v3 import InceptionV3
from graphc.applications.mobilenet import MobileNet
from graphc.applications.mobilenet_v2 import MobileNetV2
from graphc.applications.mobilenet_v3 import MobileNetV3Large, MobileNetV3Small
from graphc.applications.resnet import ResNet50, ResNet101, ResNet152
from graphc.applications.resnet_v2 import ResNet50V2, ResNet101V2, ResNet152V2
from graphc.applications.vgg16 import VGG16
from graphc.applications.vgg19 import VGG19
from graphc.applications.xception import Xception

# Keras's module aliases: keras.applications.resnet50 is keras.applications.resnet.
resnet50 = resnet

__all__ = [
    "ConvNeXtBase",
    "ConvNeXtLarge",
    "ConvNeXtSmall",
    "ConvNeXtTiny",
    "ConvNeXtXLarge",
    "DenseNet121",
    "DenseNet169",
    "DenseNet201",
    "EfficientNetB0",
    "EfficientNetB1",
    "EfficientNetB2",
    "EfficientNetB3",
    "EfficientNetB4",
    "EfficientNetB5",
    "EfficientNetB6",
    "EfficientNetB7",
    "InceptionV3",
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Large",
    "MobileNetV3Small",
    "ResNet50",
    "ResNet101",
    "ResNet152",
    "ResNet50V2",
    "ResNet101V2",
    "ResNet152V2",
    "VGG16",
    "VGG19",
    "Xception",
    "WeightsUnavailableError",
    "convnext",
    "densenet",
    "efficientnet",
    "imagenet_utils",
    "inception_v3",
    "mobilenet",
    "mobilenet_v2",
    "mobilenet_v3",
    "resnet",
    "resnet50",
    "resnet_v2",
    "vgg16",
    "vgg19",
    "xception",
]
