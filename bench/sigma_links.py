"""Memory: links with σ off the slider's steps through one fresh server, the server's RSS before and after.

    NOISELENS_DATA_DIR=../shared/datasets python bench/sigma_links.py [CHECKOUT ...] [--links 30]

For each checkout (this one by default; e.g. git worktrees of two commits), a fresh ``streamlit run app.py`` and
headless Chromium open the Significance page with pink noise twice (warm-up: model, graphs, the covariance at
σ = 0.2 and 0.25), then ``--links`` more links with σ = 0.0513, 0.0526, … (pink noise's covariance is measured
from 4,096 stimuli and tested by simulation). Prints the server's RSS before and after and the growth per link:
a server that keeps something per σ value seen grows by that much for its lifetime (the soak test of
4 December found 15-17 MB per σ, never freed).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psutil  # noqa: E402

from core.config import PROJECT_ROOT  # noqa: E402
from tests.browser import chromium, streamlit_server, wait_until_idle  # noqa: E402


def growth_per_link(root: Path, data_dir: str, links: int) -> tuple[float, float]:
    """RSS (MB) of a fresh server of ``root`` after the warm-up links and after ``links`` more σ values."""
    with streamlit_server(data_dir, root=root) as (url, process), chromium() as browser:
        server = psutil.Process(process.pid)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})

        def visit(sigma: str) -> None:
            page.goto(f"{url}/significance?noise=pink&sigma={sigma}&n=200&r=0&part=noise&estimator=predicted")
            wait_until_idle(page, 1, timeout=180)
            time.sleep(0.5)

        visit("0.2")
        visit("0.25")
        before = server.memory_info().rss / 2**20
        for k in range(links):
            visit(f"{0.0513 + 0.0013 * k:.4f}")
        return before, server.memory_info().rss / 2**20


def main() -> None:
    import os

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkouts", nargs="*", type=Path, default=[PROJECT_ROOT])
    parser.add_argument("--links", type=int, default=30)
    args = parser.parse_args()
    data_dir = os.environ.get("NOISELENS_DATA_DIR", str(PROJECT_ROOT.parent / "shared" / "datasets"))
    for root in args.checkouts:
        before, after = growth_per_link(root, data_dir, args.links)
        print(f"{root}: server RSS {before:,.0f} MB after two warm-up links, {after:,.0f} MB after {args.links} "
              f"more σ values: {(after - before) / args.links:.1f} MB per link")


if __name__ == "__main__":
    main()
