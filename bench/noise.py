"""What generating the noise costs, against the network's own pass: seconds per 10,000 stimuli of each type.

    NOISELENS_DATA_DIR=../shared/datasets python bench/noise.py [--repeats 7] [--quick]

Each type is drawn by the graph the engine uses (``core.noise.noise_graph``, traced, in chunks of 1,024, the
dashboard's), from new seeds; the network alone is pure LeNet and AlexNet inference on the same count
(``bench.speed.InferenceBench``). For pink and data noise it also times the exact float64 product that the exact
float32 one replaced (white values on a 2⁻¹⁶ grid times the matrix in whole numbers of at most 2²⁰), so the
saving is measured in the same run. Measurements are interleaved and repeated; medians are printed. This machine
is noisy (±20 % from one run to the next), so compare the ratios, not the seconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from bench.provenance import command_line, core_version, machine_line  # noqa: E402
from core.noise import NOISE_TYPES, noise_graph, pink_matrix, training_statistics  # noqa: E402

CHUNK = 1024


def float64_product_graph(matrix: np.ndarray) -> Any:
    """The correlation step before the float32 one: one exact float64 product (kept here only to time it)."""
    import tensorflow as tf

    exponent = 20 - int(np.frexp(float(np.abs(matrix).max()))[1])
    integers = tf.constant(np.rint(np.ldexp(np.asarray(matrix, np.float64), exponent)))

    def generate(start: Any, count: Any, seed: Any, sigma: Any) -> Any:
        white = tf.raw_ops.StatelessRandomNormalV2(
            shape=tf.stack([count, 784]), key=tf.reshape(tf.cast(seed, tf.uint64), [1]),
            counter=tf.stack([tf.cast(start, tf.uint64) * 196, tf.constant(0, tf.uint64)]),
            alg=tf.random.Algorithm.PHILOX.value)
        grid = tf.round(tf.clip_by_value(white, -8.0, 8.0) * 2.0**16)
        shaped = tf.cast(tf.matmul(tf.cast(grid, tf.float64), integers) * 2.0 ** -(16 + exponent), tf.float32)
        return tf.clip_by_value(0.5 + sigma * shaped, 0.0, 1.0)

    return generate


def seconds_for(generate: Any, n: int, seed: int) -> float:
    started = time.perf_counter()
    for start in range(0, n, CHUNK):
        generate(np.int64(start), np.int32(min(CHUNK, n - start)), np.int64(seed), np.float32(0.2)).numpy()
    return time.perf_counter() - started


def main() -> None:
    import tensorflow as tf

    from bench.speed import InferenceBench
    from core.data import load_dataset
    from core.store import load_model

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="smoke run: N = 1,024, one repeat; numbers mean nothing")
    args = parser.parse_args()
    n, repeats = (CHUNK, 1) if args.quick else (10_000, args.repeats)
    print(f"$ {command_line(__file__)}")
    print(f"code: commit {core_version()}")
    print(machine_line())
    train = load_dataset("mnist").train_images
    signature = [tf.TensorSpec([], tf.int64), tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int64),
                 tf.TensorSpec([], tf.float32)]
    graphs = {kind: noise_graph(kind, train) for kind in NOISE_TYPES}
    graphs["pink, one float64 product (before)"] = float64_product_graph(pink_matrix())
    graphs["data, one float64 product (before)"] = float64_product_graph(training_statistics(train)[1])
    graphs = {name: tf.function(graph, input_signature=signature) for name, graph in graphs.items()}
    networks = {arch: InferenceBench(load_model(arch, "mnist")[0], min(n, 4096)) for arch in ("lenet", "alexnet")}
    for graph in graphs.values():
        seconds_for(graph, CHUNK, 0)  # trace
    times: dict[str, list[float]] = defaultdict(list)
    for repeat in range(repeats):  # interleaved, so a drift of the machine's speed touches every type alike
        for name, graph in graphs.items():
            times[name].append(seconds_for(graph, n, 1 + repeat))
        for arch, network in networks.items():
            times[f"network alone, {arch}"].append(n / network.rate(n))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"seconds per {n:,} stimuli (median of {repeats}), and against the network alone:")
    for name, seconds in median.items():
        ratios = "" if name.startswith("network") else "; " + ", ".join(
            f"{100 * seconds / median[f'network alone, {arch}']:.0f} % of {arch}" for arch in networks)
        print(f"  {name}: {seconds:.3f} s{ratios}")
    for kind in ("pink", "data"):
        before = median[f"{kind}, one float64 product (before)"]
        print(f"  {kind}: the exact float32 product takes {median[kind] / before:.2f} × the "
              f"time of the float64 product")
    print(machine_line().replace("machine:", "machine at the end:"))


if __name__ == "__main__":
    main()
