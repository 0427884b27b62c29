"""Where a network's forward pass spends its time, block by block, and what the first layer's width costs.

    python bench/layers.py [--repeats 25] [--quick]

Each block (a conv layer with its pooling, then the dense head) runs alone under ``tf.function`` on the real
output of the block before it, a batch of 1,024 uniform-noise stimuli (the dashboard's chunk). The table gives
milliseconds per batch, the block's arithmetic (multiply-adds × 2 per image) and the rate it reaches.

On this 2-core machine the first conv layer stood out: with 32 filters it wrote a 28×28×32 map per image, 3 % of
AlexNet's arithmetic took about a quarter of its time. The second part times the AlexNet-style net with 16 (as
shipped) and 32 first-layer filters, interleaved in one run; the time does not depend on the weights, so the
32-filter net is built untrained.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.provenance import command_line, core_version  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

BATCH = 1024
STIMULI = 10_000  # the dashboard's live N


def layer_flops(layer: Any) -> int:
    """Floating-point operations per image (2 per multiply-add) of a conv or dense layer; 0 for the rest."""
    import keras

    if isinstance(layer, keras.layers.Conv2D):
        _, height, width, filters = layer.output.shape
        kernel_height, kernel_width, channels, _ = layer.kernel.shape
        return 2 * height * width * filters * kernel_height * kernel_width * channels
    if isinstance(layer, keras.layers.Dense):
        return 2 * int(np.prod(layer.kernel.shape))
    return 0


def blocks(model: Any) -> list[list[Any]]:
    """The model cut before each conv layer and before the Flatten: conv → pool blocks, then the dense head."""
    import keras

    cut: list[list[Any]] = []
    for layer in model.layers:
        if not cut or isinstance(layer, (keras.layers.Conv2D, keras.layers.Flatten)):
            cut.append([])
        cut[-1].append(layer)
    return cut


def milliseconds(function: Callable[[Any], Any], argument: Any, repeats: int) -> float:
    """Median wall time of one call; the output is summed in the graph so copying it out is not timed."""
    import tensorflow as tf

    summed = tf.function(lambda x: tf.reduce_sum(function(x)))
    summed(argument).numpy()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        summed(argument).numpy()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1e3


def block_table(model: Any, stimuli: Any, repeats: int) -> list[str]:
    rows = [f"{'block':<40} {'ms/batch':>9} {'MFLOP/image':>12} {'GFLOP/s':>8}"]
    total_ms = 0.0
    x = stimuli
    for block in blocks(model):
        def run(h: Any, block: list[Any] = block) -> Any:
            for layer in block:
                h = layer(h, training=False)
            return h

        ms = milliseconds(run, x, repeats)
        flops = sum(layer_flops(layer) for layer in block)
        total_ms += ms
        name = " → ".join(f"Conv2D({layer.filters})" if hasattr(layer, "filters") else
                          type(layer).__name__.replace("Pooling2D", "Pool") for layer in block)
        rows.append(f"{name:<40} {ms:9.2f} {flops / 1e6:12.2f} {flops * len(x) / ms / 1e6:8.0f}")
        x = run(x)
    rows.append(f"{'sum of blocks':<40} {total_ms:9.2f}")
    return rows


def first_layer_width(pairs: int, repeats: int, stimuli: Any) -> list[str]:
    """The AlexNet-style net with its shipped first-layer width and with 32 filters (the width it had before):
    seconds per 10,000 stimuli, measured in ``pairs`` interleaved pairs of ``repeats`` calls each."""
    from core.models import ARCHITECTURES, build_layers

    (kind, options), *rest = ARCHITECTURES["alexnet"].layers
    widths = (options["filters"], 32)
    nets = {w: build_layers(f"alexnet_first_{w}", ((kind, {**options, "filters": w}), *rest)) for w in widths}
    times: dict[int, list[float]] = {w: [] for w in widths}
    for _ in range(pairs):
        for width, net in nets.items():
            times[width].append(milliseconds(lambda x, net=net: net(x, training=False), stimuli, repeats))
    ratios = [wide / narrow for narrow, wide in zip(times[widths[0]], times[32], strict=True)]
    seconds = {w: statistics.median(t) * STIMULI / len(stimuli) / 1e3 for w, t in times.items()}
    shipped = widths[0]
    return [f"AlexNet-style, {STIMULI:,} stimuli: {shipped} first-layer filters (shipped) {seconds[shipped]:.3f} s, "
            f"32 filters {seconds[32]:.3f} s; ratio {statistics.median(ratios):.2f} (median of {len(ratios)} "
            f"interleaved pairs; parameters {nets[shipped].count_params():,} and {nets[32].count_params():,})"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=25)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: one call of each, one pair, a batch of 16; numbers mean nothing")
    args = parser.parse_args(argv)
    # Tracing each block's graph, not the calls, is what --quick spends its time on: one timed call each is enough.
    repeats, batch, pairs, pair_repeats = (1, 16, 1, 1) if args.quick else (args.repeats, BATCH,
                                                                              max(3, args.repeats // 5), 5)
    print(f"$ {command_line(__file__)}")
    print(f"code: commit {core_version()}")
    import tensorflow as tf

    from core.models import SHIPPED_ARCHITECTURES
    from bench.speed import _load

    stimuli = tf.constant(np.random.default_rng(0).uniform(0, 1, (batch, 28, 28, 1)).astype(np.float32))
    for arch in SHIPPED_ARCHITECTURES:
        model, source = _load(arch, "mnist")
        print(f"\n{arch} ({source}, MNIST), batch of {batch:,} uniform-noise stimuli, median of {repeats}:")
        print("\n".join(block_table(model, stimuli, repeats)))
        whole = milliseconds(lambda x, model=model: model(x, training=False), stimuli, repeats)
        print(f"{'whole model':<40} {whole:9.2f}")
    print()
    print("\n".join(first_layer_width(pairs, pair_repeats, stimuli)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
