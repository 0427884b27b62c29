"""Memory: three visitors wandering through the app at once, replayed from recorded walks; the server's peak RSS.

    NOISELENS_DATA_DIR=../shared/datasets python bench/walks_replay.py [CHECKOUT ...] [--rounds 2] [--quick]

The walks (``bench/walks/walk*.txt``, 154 addresses) are the first two minutes of a soak test's three random
walkers (4 December): every page, both datasets and architectures, every noise type, the gradient grouping,
N up to 200,000. For each checkout (this one by default) and round, a fresh ``streamlit run app.py`` and three
headless Chromium processes open their walk's addresses one after the other, each left after at most 1.5 s and
the page's run (as an impatient visitor does, so runs are cut short and pages overlap). The server's RSS is
sampled every 0.2 s (``bench.load.ServerMeter``). What happens at once depends on timing, so a round's peak
varies: run a few.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.provenance import command_line, core_version, machine_line  # noqa: E402
from core.config import PROJECT_ROOT  # noqa: E402

WALKS = sorted((Path(__file__).resolve().parent / "walks").glob("walk*.txt"))
STATUS = '[data-testid="stStatusWidget"]'


def visit_impatiently(page, link: str) -> None:
    """Open ``link`` and leave after 1.5 s and the page's run (or 45 s), as an impatient visitor does."""
    page.goto(link, timeout=60_000)
    time.sleep(1.5)
    deadline = time.time() + 45
    while time.time() < deadline and page.locator(STATUS).count():
        time.sleep(0.3)


def walk(url: str, addresses: list[str]) -> None:
    """One visitor: each address in turn, in one browser page."""
    from tests.browser import chromium

    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for address in addresses:
            visit_impatiently(page, url + address)


def peak_rss(root: Path, data_dir: str, limit: int | None) -> tuple[float, float, float]:
    """Peak and final RSS (MB) of a fresh server of ``root`` while the walks are replayed, and the seconds taken."""
    from bench.load import ServerMeter
    from tests.browser import streamlit_server

    with streamlit_server(data_dir, root=root) as (url, process):
        meter = ServerMeter(process.pid)
        started = time.perf_counter()
        walkers = [subprocess.Popen([sys.executable, __file__, "--walker", str(path), "--url", url,
                                     *(["--limit", str(limit)] if limit else [])]) for path in WALKS]
        failed = [w.args for w in walkers if w.wait() != 0]
        took = time.perf_counter() - started
        peak = meter.stop()
        if failed:
            raise RuntimeError(f"a walker failed: {failed}")
        return peak, meter.root.memory_info().rss / 2**20, took


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*", type=Path, default=[PROJECT_ROOT])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="smoke run: three addresses per walk, one round")
    parser.add_argument("--walker", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.walker:
        walk(args.url, args.walker.read_text().split()[: args.limit])
        return
    data_dir = os.environ.get("NOISELENS_DATA_DIR", str(PROJECT_ROOT.parent / "shared" / "datasets"))
    print(f"command: {command_line(__file__)}\ncode: {core_version()}\n{machine_line()}", flush=True)
    for round_ in range(1 if args.quick else args.rounds):
        for root in args.checkouts:
            peak, final, took = peak_rss(root.resolve(), data_dir, 3 if args.quick else None)
            print(f"round {round_ + 1}, {root}: server peak RSS {peak:,.0f} MB, {final:,.0f} MB at the end; "
                  f"walks done in {took:.0f} s", flush=True)


if __name__ == "__main__":
    main()
