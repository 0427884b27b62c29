"""Dashboard figures in one run: first render, warm redraw at N = 10,000, server memory with everything loaded.

    NOISELENS_DATA_DIR=../shared/datasets python bench/dashboard.py
"""

from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from core.config import DATA_DIR_ENV, PROJECT_ROOT  # noqa: E402
from tests.browser import chromium, streamlit_server, subplot_titles, wait_for_change, wait_until_idle  # noqa: E402


def rss_mb(process: psutil.Process) -> float:
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


def main() -> None:
    data_dir = os.environ.get(DATA_DIR_ENV) or str(PROJECT_ROOT.parent / "shared" / "datasets")
    print(f"command: NOISELENS_DATA_DIR={data_dir} python bench/dashboard.py")
    with streamlit_server(data_dir) as (url, server), chromium() as browser:
        process = psutil.Process(server.pid)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        page.goto(f"{url}/class_images?n=1000")
        wait_until_idle(page, charts=4)
        first = time.perf_counter() - started
        print(f"first render (fresh server, class images, N = 1,000): {first:.1f} s")

        page.goto(f"{url}/class_images?n=10000&r=0.0&estimator=softmax&part=noise")
        wait_until_idle(page, charts=4)
        redraws = []
        seed = page.locator('[data-testid="stNumberInputStepUp"]').first
        for _ in range(5):
            before = subplot_titles(page)
            clicked = time.perf_counter()
            seed.click()  # a new seed: a new noise stream, so 10,000 stimuli are really computed
            wait_for_change(lambda: subplot_titles(page), before, poll=0.02,
                            complete=lambda titles: len(titles) == 10)
            redraws.append(time.perf_counter() - clicked)
            wait_until_idle(page, charts=4)
        print(f"redraw after a control change at N = 10,000 (new seed, cold run, warm cache): "
              f"median {statistics.median(redraws):.2f} s, all {', '.join(f'{r:.2f}' for r in redraws)}")
        redraws = []
        for _ in range(3):  # seeds already computed: the run store answers
            before = subplot_titles(page)
            clicked = time.perf_counter()
            page.locator('[data-testid="stNumberInputStepDown"]').first.click()
            wait_for_change(lambda: subplot_titles(page), before, poll=0.02,
                            complete=lambda titles: len(titles) == 10)
            redraws.append(time.perf_counter() - clicked)
            wait_until_idle(page, charts=4)
        print(f"redraw at N = 10,000 for settings seen before: median {statistics.median(redraws):.2f} s")

        print(f"server RSS after class images: {rss_mb(process):.0f} MB")
        for dataset in ("mnist", "fashion_mnist"):
            page.goto(f"{url}/compare?n=10000&dataset={dataset}")
            wait_until_idle(page, charts=8)
        print(f"server RSS with both datasets and all four models loaded (compare page, N = 10,000): "
              f"{rss_mb(process):.0f} MB (goal <= 1536 MB)")


if __name__ == "__main__":
    main()
