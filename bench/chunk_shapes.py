"""Memory: what chunks of many sizes cost a traced analysis graph, against the same chunks on ``CHUNK_LADDER``.

    NOISELENS_DATA_DIR=../shared/datasets python bench/chunk_shapes.py [--chunks 300] [--quick]

A live run sizes each chunk to the speed measured so far (``Analyzer(chunk_seconds=…)``). TensorFlow keeps cached
kernels and buffers per batch shape a graph meets, for the process's lifetime, so a chunk of a size not seen
before costs memory that stays. For each model and pass (forward; forward + gradients), a fresh Python process
builds one analyzer, runs ``--chunks`` chunks whose sizes are drawn as a time budget would give them (256-1,024
stimuli forward, 50-256 with gradients), and prints its RSS growth; once with the sizes as drawn ("any size"),
once moved down onto the ladder. The two growths are measured in this run, one process after the other.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.provenance import command_line, core_version, machine_line  # noqa: E402

BUDGETS = {False: (256, 1024), True: (50, 256)}  # stimuli a 0.2-s budget gives, without and with gradients

CHILD = r"""
import json, sys
import numpy as np
from core.reverse_correlation import AnalysisSettings, Analyzer, on_chunk_ladder
from core.data import load_dataset
from core.noise import NoiseSpec
from core.store import load_model

arch, gradients, on_ladder, chunks, low, high = json.loads(sys.argv[1])
def rss_mb():
    return int(open("/proc/self/status").read().split("VmRSS:")[1].split()[0]) / 1024
analyzer = Analyzer(load_model(arch, "mnist")[0], load_dataset("mnist"), "gaussian", chunk_size=high)
settings = AnalysisSettings(NoiseSpec("gaussian", 0.2, 1), gradients=gradients)
analyzer._chunk_sums(settings, 0, high)  # traced, with one shape
before = rss_mb()
sizes = np.random.default_rng(0).integers(low, high + 1, size=chunks)
shapes = set()
for size in sizes:
    count = on_chunk_ladder(int(size)) if on_ladder else int(size)
    shapes.add(count)
    analyzer._chunk_sums(settings, 0, count)
print(json.dumps({"growth": rss_mb() - before, "shapes": len(shapes)}))
"""


def growth(arch: str, gradients: bool, on_ladder: bool, chunks: int) -> dict:
    """RSS growth (MB) and distinct chunk sizes of one fresh process."""
    low, high = BUDGETS[gradients]
    done = subprocess.run([sys.executable, "-c", CHILD, json.dumps([arch, gradients, on_ladder, chunks, low, high])],
                          cwd=Path(__file__).resolve().parents[1], capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=300)
    parser.add_argument("--quick", action="store_true", help="smoke test: LeNet forward, 5 chunks")
    args = parser.parse_args()
    chunks = 5 if args.quick else args.chunks
    print(f"command: {command_line(__file__)}\ncode: {core_version()}\n{machine_line()}")
    print(f"{chunks} chunks per process, sizes drawn from the same seed; RSS growth after the first chunk\n")
    print(f"{'model':8s} {'pass':22s} {'any size':>18s} {'on the ladder':>18s} {'ratio':>6s}")
    for arch in ["lenet"] if args.quick else ["lenet", "alexnet"]:
        for gradients in [False] if args.quick else [False, True]:
            free, ladder = (growth(arch, gradients, on_ladder, chunks) for on_ladder in (False, True))
            kind = "forward + gradients" if gradients else "forward"
            print(f"{arch:8s} {kind:22s} {free['growth']:7.0f} MB ({free['shapes']:3d} sizes) "
                  f"{ladder['growth']:7.0f} MB ({ladder['shapes']:3d} sizes) "
                  f"{free['growth'] / max(ladder['growth'], 1.0):5.1f}×", flush=True)


if __name__ == "__main__":
    main()
