"""Versions of the app timed against each other in one run: a fresh server from each in turn, round after round.

    NOISELENS_DATA_DIR=../shared/datasets python bench/ab.py 5196273 HEAD [--rounds 3] [--changes 5]
        [--link "n=10000&arch=lenet&r=0.0&estimator=softmax&part=noise"]

This machine's speed drifts by tens of per cent within minutes, and the browser shares its cores with the server:
two runs of bench/dashboard.py, one per version, cannot show a 5–10 % effect on the first or the complete
picture (two single runs once suggested 0.1 s that an interleaved comparison did not find). Here every round starts
a fresh server from each version in turn, the order rotating from round to round, and presses the seed's "+" on
the class-image page ``--changes`` times, timed as bench/dashboard.py times them. It prints every round and, per
version, the medians and in how many rounds its median was the lowest.

A version is a git revision, checked out with ``git worktree`` into a temporary folder (with the models it ships
in ``cache/models``), or the path of a checkout ("." for this working tree, edits included).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from bench.dashboard import Redraws, redraws_at  # noqa: E402
from bench.provenance import command_line, machine_line  # noqa: E402
from core.config import DATA_DIR_ENV, PROJECT_ROOT  # noqa: E402
from core.cpus import available_cpus  # noqa: E402
from tests.browser import chromium, streamlit_server  # noqa: E402

PURE_NOISE = "n=10000&arch=lenet&r=0.0&estimator=softmax&part=noise"  # every stimulus through the model


def round_order(versions: Sequence[str], round_index: int) -> list[str]:
    """The versions in this round's order: rotated by the round, so each goes first in turn (a server's exit can
    still be costing the CPU when the next starts), and reversed in every other full rotation, so each also
    follows different versions."""
    shift = round_index % len(versions)
    order = list(versions[shift:]) + list(versions[:shift])
    return order[::-1] if (round_index // len(versions)) % 2 else order


def lowest_in_rounds(medians: dict[str, list[float]]) -> dict[str, int]:
    """Per version, the rounds in which its median was the lowest (``medians``: one per round, same rounds)."""
    wins = dict.fromkeys(medians, 0)
    for round_medians in zip(*medians.values()):
        wins[list(medians)[round_medians.index(min(round_medians))]] += 1
    return wins


def _git(*args: str, cwd: Path = PROJECT_ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=True).stdout.strip()


@contextlib.contextmanager
def checkouts(versions: Sequence[str]) -> Iterator[dict[str, tuple[Path, str]]]:
    """Each version's folder and what it is (a commit, or a path at its commit with edits flagged); worktrees made
    here are removed afterwards."""
    made: list[Path] = []
    found: dict[str, tuple[Path, str]] = {}
    with tempfile.TemporaryDirectory(prefix="noiselens-ab-") as scratch:
        try:
            for index, version in enumerate(versions):
                if Path(version).is_dir():
                    root = Path(version).resolve()
                    dirty = _git("status", "--porcelain", "--untracked-files=no", cwd=root)
                    found[version] = (root, f"{root} at {_git('rev-parse', '--short', 'HEAD', cwd=root)}"
                                            + (" + uncommitted edits" if dirty else ""))
                    continue
                commit = _git("rev-parse", "--short", f"{version}^{{commit}}")
                root = Path(scratch) / f"{index}-{commit}"
                _git("worktree", "add", "--detach", str(root), commit)
                made.append(root)
                found[version] = (root, f"commit {commit}")
            yield found
        finally:
            for root in made:
                subprocess.run(["git", "worktree", "remove", "--force", str(root)], cwd=PROJECT_ROOT,
                               capture_output=True)


def time_version(browser, root: Path, data_dir: str, link: str, changes: int, pause: float) -> Redraws:
    """A fresh server from ``root``; the page at ``link``; ``changes`` new seeds, timed in the page."""
    with streamlit_server(data_dir, root) as (url, server):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            return redraws_at(page, f"{url}/class_images?{link}", changes, pause, psutil.Process(server.pid))
        finally:
            page.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("versions", nargs="+", help='git revisions, or checkout folders ("." for this one)')
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--changes", type=int, default=5, help="new seeds timed per server")
    parser.add_argument("--link", default=PURE_NOISE, help="the class-image page's settings, as in its link")
    parser.add_argument("--pause", type=float, default=1.5, help="seconds a student reads the picture")
    args = parser.parse_args()  # a version named twice is timed against itself: the noise of the comparison
    data_dir = os.environ.get(DATA_DIR_ENV) or str(PROJECT_ROOT.parent / "shared" / "datasets")
    print(f"$ {command_line(__file__)}")
    print(machine_line() + f"; CPUs this run may use: {available_cpus():g}")
    labels = [f"{version}#{index}" if args.versions.count(version) > 1 else version
              for index, version in enumerate(args.versions)]
    first: dict[str, list[float]] = {label: [] for label in labels}
    complete: dict[str, list[float]] = {label: [] for label in labels}
    browser_cpu: dict[str, list[float]] = {label: [] for label in labels}
    with checkouts(list(dict.fromkeys(args.versions))) as found, chromium() as browser:
        roots = {label: found[version][0] for label, version in zip(labels, args.versions)}
        for label, version in zip(labels, args.versions):
            print(f"{label}: {found[version][1]}")
        for round_index in range(args.rounds):
            per_round: dict[str, Redraws] = {}
            for label in round_order(labels, round_index):
                redraws = time_version(browser, roots[label], data_dir, args.link, args.changes, args.pause)
                per_round[label] = redraws
                print(f"round {round_index + 1}, {label}: first picture "
                      f"{', '.join(f'{s:.2f}' for s in redraws.first)} s; complete picture "
                      f"{', '.join(f'{s:.2f}' for s in redraws.complete)} s; browser CPU to the complete picture "
                      f"{', '.join(f'{s:.2f}' for s in redraws.browser_cpu_to_complete)} CPU-s", flush=True)
            for label, redraws in per_round.items():
                first[label].append(statistics.median(redraws.first))
                complete[label].append(statistics.median(redraws.complete))
                browser_cpu[label].append(statistics.median(redraws.browser_cpu_to_complete))
    lowest_first, lowest_complete = lowest_in_rounds(first), lowest_in_rounds(complete)
    print(f"per version, the medians of each round (first picture; complete picture; browser CPU), and the rounds "
          f"(of {args.rounds}) in which its median was the lowest:")
    for label in labels:
        print(f"  {label}: first {', '.join(f'{s:.2f}' for s in first[label])} s, lowest in {lowest_first[label]}; "
              f"complete {', '.join(f'{s:.2f}' for s in complete[label])} s, lowest in {lowest_complete[label]}; "
              f"browser {', '.join(f'{s:.2f}' for s in browser_cpu[label])} CPU-s")
    print(machine_line())


if __name__ == "__main__":
    main()
