"""Receptive fields of units: spike-triggered averages (STA) of convolutional channels under noise.

For channel ``c`` of a convolutional layer, its unit at the map's central position sees a patch of the input
(its receptive field, from the layer arithmetic). Under noise stimuli ``x_i``

    STA_c = Σ_i a_c(x_i) · patch(x_i) / Σ_i a_c(x_i)

with ``a_c`` the unit's post-activation output (ReLU in every registered architecture), the activation-weighted
average of what the unit saw (Borji & Lin 2020). Under white noise a linear unit's STA, less the mean patch, is
its weight pattern (Bussgang's theorem for Gaussian noise; nearly so for uniform noise through a ReLU), which gives
the first layer a built-in check. Only sums are kept, in float64, so memory does not grow with N.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from core.config import IMAGE_SHAPE
from core.noise import NoiseSpec, noise_graph

_SPATIAL_LAYERS = ("Conv2D", "MaxPooling2D", "AveragePooling2D")
_PASS_THROUGH = ("Dropout", "BatchNormalization", "InputLayer")
DEFAULT_CHUNK = 1024
#: Noise under which a first-layer unit's STA is its weights (the built-in check). Under the others it is the
#: weights seen through the noise's own correlations or mean image, and the check is expected to fall.
WHITE_NOISE_TYPES = ("uniform", "gaussian")
NOT_WHITE_NOTE = ("not white: a unit's STA is then its weights seen through the noise's own correlations "
                  "(smoothed, or shaped like the data), so the first-layer check is expected to fall")


class STAStopped(RuntimeError):
    """The caller asked the STA pass to stop before it reached N (nothing partial is returned)."""


@dataclass(frozen=True)
class ReceptiveField:
    """Where the central unit of one convolutional layer looks: a ``size`` × ``size`` input patch from (top, left).

    ``top``/``left`` may be negative (or the patch pass the far edge) when the field reaches into the padding;
    those pixels are taken as 0 and ``inside`` says so.
    """

    layer: str  # conv1, conv2, … in the order of the network
    keras_name: str
    channels: int
    size: tuple[int, int]  # (height, width) in input pixels
    top: int
    left: int
    position: tuple[int, int]  # the unit's (row, column) in the layer's output map
    map_shape: tuple[int, int]
    jump: tuple[int, int]  # input pixels between neighbouring units of the map

    @property
    def inside(self) -> bool:
        return (self.top >= 0 and self.left >= 0 and self.top + self.size[0] <= IMAGE_SHAPE[0]
                and self.left + self.size[1] <= IMAGE_SHAPE[1])


@dataclass(frozen=True)
class _Axis:
    """Receptive-field arithmetic along one axis: field size, jump between units, centre of the first unit
    (in input pixels) and the map's length (Dumoulin & Visin's convolution arithmetic)."""

    size: int = 1
    jump: int = 1
    first_centre: float = 0.0
    length: int = IMAGE_SHAPE[0]

    def through(self, kernel: int, stride: int, padding: str, dilation: int = 1) -> _Axis:
        span = (kernel - 1) * dilation + 1
        if padding == "same":
            length = math.ceil(self.length / stride)
            pad_before = max((length - 1) * stride + span - self.length, 0) // 2  # TensorFlow puts the odd pixel after
        elif padding == "valid":
            length = (self.length - span) // stride + 1
            pad_before = 0
        else:
            raise ValueError(f"padding {padding!r} has no receptive-field arithmetic here")
        return _Axis(self.size + (span - 1) * self.jump, self.jump * stride,
                     self.first_centre + ((span - 1) / 2 - pad_before) * self.jump, length)

    def window(self) -> tuple[int, int]:
        """The central unit's index in the map and the first input pixel of its field."""
        position = (self.length - 1) // 2
        return position, round(self.first_centre + position * self.jump - (self.size - 1) / 2)


def _pair(value: Any) -> tuple[int, int]:
    return (int(value), int(value)) if np.isscalar(value) else (int(value[0]), int(value[1]))


def receptive_fields(model: Any) -> list[ReceptiveField]:
    """The receptive field of each convolutional layer's central unit, read from the Keras layers' own kernel
    sizes, strides, dilations and padding, up to the first layer that is not spatial."""
    rows, columns = _Axis(length=IMAGE_SHAPE[0]), _Axis(length=IMAGE_SHAPE[1])
    fields: list[ReceptiveField] = []
    for layer in model.layers:
        kind = type(layer).__name__
        if kind in _PASS_THROUGH:
            continue
        if kind not in _SPATIAL_LAYERS:
            break
        conv = kind == "Conv2D"
        kernel = _pair(layer.kernel_size if conv else layer.pool_size)
        strides = _pair(layer.strides)
        dilation = _pair(layer.dilation_rate) if conv else (1, 1)
        rows = rows.through(kernel[0], strides[0], layer.padding, dilation[0])
        columns = columns.through(kernel[1], strides[1], layer.padding, dilation[1])
        if conv:
            (row, top), (column, left) = rows.window(), columns.window()
            fields.append(ReceptiveField(f"conv{len(fields) + 1}", layer.name, int(layer.filters),
                                         (rows.size, columns.size), top, left, (row, column),
                                         (rows.length, columns.length), (rows.jump, columns.jump)))
    return fields


@dataclass
class LayerSums:
    """The running sums of one layer: Σ a·patch (C, h, w), Σ a (C), how many stimuli made each unit fire (C),
    and Σ patch (h, w), the plain average the STA is read against."""

    weighted: np.ndarray
    activation: np.ndarray
    fired: np.ndarray
    patch: np.ndarray

    @classmethod
    def empty(cls, field_: ReceptiveField) -> LayerSums:
        return cls(np.zeros((field_.channels, *field_.size)), np.zeros(field_.channels),
                   np.zeros(field_.channels, np.int64), np.zeros(field_.size))


@dataclass
class STAResult:
    """The sums of an STA pass over ``n`` stimuli of ``noise``, per convolutional layer."""

    noise: NoiseSpec
    fields: list[ReceptiveField]
    sums: dict[str, LayerSums]
    n: int = 0
    seconds: float = 0.0
    _averages: dict[str, np.ndarray] = field(default_factory=dict, repr=False)

    def field(self, layer: str) -> ReceptiveField:
        return next(f for f in self.fields if f.layer == layer)

    def sta(self, layer: str) -> np.ndarray:
        """STA_c = Σ a·patch / Σ a, ``(C, h, w)``; NaN for a unit that never fired."""
        sums = self.sums[layer]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(sums.activation[:, None, None] > 0,
                            sums.weighted / sums.activation[:, None, None], np.nan)

    def mean_patch(self, layer: str) -> np.ndarray:
        """The plain average of the patches: what the STA would be if the unit ignored its input."""
        return self.sums[layer].patch / max(self.n, 1)

    def centred_sta(self, layer: str) -> np.ndarray:
        """STA minus the mean patch: the pattern that drives the unit (zero for a unit blind to its field)."""
        return self.sta(layer) - self.mean_patch(layer)[None]

    def firing_rate(self, layer: str) -> np.ndarray:
        """Share of stimuli on which each unit's activation was above zero."""
        return self.sums[layer].fired / max(self.n, 1)


def conv_kernels(model: Any, layer: str = "conv1") -> np.ndarray:
    """A convolutional layer's weights as ``(C, h, w)`` images, for a layer that reads one input channel."""
    name = next(f.keras_name for f in receptive_fields(model) if f.layer == layer)
    kernel = np.asarray(model.get_layer(name).kernel)  # (h, w, in, C)
    if kernel.shape[2] != 1:
        raise ValueError(f"{layer} reads {kernel.shape[2]} channels; its weights are not one image per unit")
    return np.moveaxis(kernel[:, :, 0, :], -1, 0)


def weight_correlations(stas: np.ndarray, kernels: np.ndarray) -> np.ndarray:
    """Pearson correlation of each unit's STA with its weights over the field's pixels; NaN for a silent unit."""
    a = stas.reshape(len(stas), -1)
    b = kernels.reshape(len(kernels), -1)
    a = a - a.mean(axis=1, keepdims=True)
    b = b - b.mean(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (a * b).sum(axis=1) / np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))


class STAEngine:
    """The compiled noise → convolutional layers → sums graph for one model and noise type."""

    def __init__(self, model: Any, noise_kind: str, train_images: np.ndarray | None = None,
                 chunk_size: int = DEFAULT_CHUNK, layers: Sequence[str] | None = None):
        """``layers`` (e.g. ``["conv1"]``) limits the pass to those layers: the network runs only as deep as the
        last of them."""
        import tensorflow as tf

        if chunk_size < 1:
            raise ValueError("chunk size must be at least 1")
        self.chunk_size = chunk_size
        self.noise_kind = noise_kind
        every = receptive_fields(model)
        unknown = set(layers or ()) - {f.layer for f in every}
        if unknown:
            raise ValueError(f"no layer {', '.join(sorted(unknown))}; "
                             f"this model has {', '.join(f.layer for f in every)}")
        self.fields = [f for f in every if layers is None or f.layer in layers]
        if not self.fields:
            raise ValueError("the model has no convolutional layer to take receptive fields of")
        last = max(model.layers.index(model.get_layer(f.keras_name)) for f in self.fields)
        body = model.layers[: last + 1]
        by_name = {f.keras_name: f for f in self.fields}
        generate = noise_graph(noise_kind, train_images)
        margin = max(0, *(-f.top for f in self.fields), *(-f.left for f in self.fields),
                     *(f.top + f.size[0] - IMAGE_SHAPE[0] for f in self.fields),
                     *(f.left + f.size[1] - IMAGE_SHAPE[1] for f in self.fields))

        def chunk(start: Any, count: Any, seed: Any, sigma: Any) -> dict[str, Any]:
            images = tf.reshape(generate(start, count, seed, sigma), [-1, *IMAGE_SHAPE, 1])
            padded = tf.pad(tf.cast(images[..., 0], tf.float64), [[0, 0], [margin, margin], [margin, margin]])
            x, out = images, {}
            for layer in body:
                x = layer(x, training=False)
                here = by_name.get(layer.name)
                if here is None:
                    continue
                (height, width), top, left = here.size, here.top + margin, here.left + margin
                patch = tf.reshape(padded[:, top : top + height, left : left + width], [-1, height * width])
                activation = tf.cast(x[:, here.position[0], here.position[1], :], tf.float64)  # (B, C)
                out[here.layer] = (tf.matmul(activation, patch, transpose_a=True),  # float64: order-free sums
                                   tf.reduce_sum(activation, axis=0),
                                   tf.reduce_sum(tf.cast(activation > 0, tf.int64), axis=0),
                                   tf.reduce_sum(patch, axis=0))
            return out

        self._chunk = tf.function(chunk, autograph=False,  # Python loops over the layers only: nothing to convert
                                  input_signature=[tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.int32),
                                                   tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.float32)])

    def start(self, noise: NoiseSpec) -> STAResult:
        if noise.kind != self.noise_kind:
            raise ValueError(f"this engine draws {self.noise_kind} noise, not {noise.kind}")
        return STAResult(noise, self.fields, {f.layer: LayerSums.empty(f) for f in self.fields})

    def run(self, noise: NoiseSpec, n_samples: int, on_progress: Callable[[int], None] | None = None,
            should_stop: Callable[[], bool] | None = None) -> STAResult:
        """The sums over stimuli 0 … N−1 of the noise stream, chunk by chunk; raises ``STAStopped`` when
        ``should_stop`` says so between chunks."""
        import time

        if n_samples < 1:
            raise ValueError(f"the number of samples must be at least 1, got {n_samples}")
        result = self.start(noise)
        started = time.perf_counter()
        while result.n < n_samples:
            if should_stop is not None and should_stop():
                raise STAStopped(f"stopped after {result.n:,} of {n_samples:,} stimuli")
            count = min(self.chunk_size, n_samples - result.n)
            out = self._chunk(np.int64(result.n), np.int32(count), np.int64(noise.seed), np.float32(noise.sigma))
            for f in self.fields:
                weighted, activation, fired, patch = (value.numpy() for value in out[f.layer])
                sums = result.sums[f.layer]
                sums.weighted += weighted.reshape(sums.weighted.shape)
                sums.activation += activation
                sums.fired += fired
                sums.patch += patch.reshape(sums.patch.shape)
            result.n += count
            if on_progress is not None:
                on_progress(result.n)
        result.seconds = time.perf_counter() - started
        return result


# --- Downloads ----------------------------------------------------------------------------------


def units_csv(result: STAResult, layer: str, correlations: np.ndarray | None = None) -> str:
    """One row per unit: its firing rate, Σ a, the STA's contrast, the correlation with its weights, and its
    centred STA pixel by pixel (row-major)."""
    import pandas as pd

    centred = result.centred_sta(layer)
    contrast = np.sqrt(np.mean(centred.reshape(len(centred), -1) ** 2, axis=1))  # NaN for a silent unit
    table = pd.DataFrame({"unit": np.arange(len(centred)), "firing_rate": result.firing_rate(layer),
                          "activation_sum": result.sums[layer].activation, "sta_contrast": contrast})
    if correlations is not None:
        table["weight_correlation"] = correlations
    height, width = centred.shape[1:]
    pixels = pd.DataFrame(centred.reshape(len(centred), -1),
                          columns=[f"p_{r}_{c}" for r in range(height) for c in range(width)])
    return pd.concat([table, pixels], axis=1).to_csv(index=False, float_format="%.6g")


def check_csv(result: STAResult, correlations: np.ndarray) -> str:
    """The built-in check's bars: one row per first-layer unit, its firing rate and the correlation of its STA with
    its weights (no pixels: the STAs' own CSV has them)."""
    import pandas as pd

    return pd.DataFrame({"unit": np.arange(len(correlations)), "firing_rate": result.firing_rate("conv1"),
                         "weight_correlation": correlations}).to_csv(index=False, float_format="%.6g")


def npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array, np.float32))
    return buffer.getvalue()
