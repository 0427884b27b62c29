"""Noise Lens core: data, models and white-noise analysis, with no Streamlit in it."""

import os

# TensorFlow's C++ start-up chatter hides real messages in the CLI and the test log.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
