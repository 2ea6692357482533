import os

# The `oracle` tests compare with Keras 3 on its torch backend (no TensorFlow here).
os.environ.setdefault("KERAS_BACKEND", "torch")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
