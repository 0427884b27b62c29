"""A class opens the shared links at once: ten sessions on a server that has just started, each on another page.

Streamlit reads ``pages/`` as a legacy multipage folder until the first ``st.navigation`` call; sessions that
started before it ran their page without app.py (its own navigation, no dataset or architecture). Every session
here must see app.py's frame from its first frame on (``ui.frame.start_page``).
"""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import parse_qs, urlparse

import pytest

from tests.browser import (LEGACY_NAVIGATION_WATCH, async_chromium, collect_output, frame_problems,
                           streamlit_server, wait_until_idle_async)

pytestmark = pytest.mark.slow  # a fresh server and ten Chromium contexts at once: about two minutes here

VIEWPORT = {"width": 1400, "height": 1000}
SERVER_ERROR = re.compile(r"Traceback|^[A-Za-z_][\w.]*(Error|Exception): ")  # a rich traceback's last line, too
# link -> (page title, Plotly charts when done). Small N: the point is the frame, not the analysis.
LINKS = {
    "/class_images?seed=1&n=1000": ("Classification images", 4),
    "/class_images?seed=2&n=100&r=0.0&estimator=predicted&part=noise": ("Classification images", 4),
    "/class_images?seed=3&n=100&arch=alexnet": ("Classification images", 4),
    "/class_images?seed=4&n=100&dataset=fashion_mnist": ("Classification images", 4),
    "/confusion?seed=5&n=1000": ("Confusion heatmaps", 3),
    "/confusion?seed=6&n=100&r=0.0&part=noise": ("Confusion heatmaps", 2),
    "/compare?seed=7&n=100": ("Compare", 8),
    "/models": ("Models", 2),
    "/models?dataset=fashion_mnist&arch=alexnet": ("Models", 2),
    "/": ("Noise Lens", 1),
}


@pytest.fixture(scope="module")
def fresh_server(real_data_dir):
    """A server of this module's own, so the first sessions it sees are the ones under test."""
    pytest.importorskip("playwright.async_api")
    with streamlit_server(real_data_dir) as (url, process):
        yield url, collect_output(process)


async def open_at_once(url: str, links: dict[str, tuple[str, int]]) -> dict[str, tuple[list[str], float]]:
    """Open every link in its own browser context at the same moment; per link, what is wrong and the seconds to
    the page's last chart."""
    from playwright.async_api import Error as PlaywrightError

    async with async_chromium() as browser:
        contexts = [await browser.new_context(viewport=VIEWPORT) for _ in links]
        pages = []
        for context in contexts:
            await context.add_init_script(LEGACY_NAVIGATION_WATCH)
            pages.append(await context.new_page())

        async def visit(page, link: str, title: str, charts: int) -> tuple[list[str], float]:
            started = time.perf_counter()
            try:
                await page.goto(url + link, timeout=180_000)
                await wait_until_idle_async(page, charts, timeout=480)  # generous: CI machines are shared
            except (AssertionError, PlaywrightError) as error:
                return [str(error).splitlines()[0]], time.perf_counter() - started
            seconds = time.perf_counter() - started
            problems = await frame_problems(page, title, seed=seed_of(link))
            path = urlparse(page.url).path
            if path != urlparse(link).path:
                problems.append(f"address {page.url}")
            return problems, seconds

        results = await asyncio.gather(*(visit(page, link, title, charts)
                                         for page, (link, (title, charts)) in zip(pages, links.items())))
        for context in contexts:
            await context.close()
    return dict(zip(links, results))


def seed_of(link: str) -> int | None:
    seed = parse_qs(urlparse(link).query).get("seed")
    return int(seed[0]) if seed else None


def test_ten_sessions_open_different_links_at_once_on_a_fresh_server(fresh_server, tmp_path) -> None:
    url, server_log = fresh_server
    results = asyncio.run(open_at_once(url, LINKS))
    for link, (problems, seconds) in results.items():
        print(f"{link}: {seconds:.1f} s{'; ' + '; '.join(problems) if problems else ''}")
    wrong = "\n".join(f"{link}: {'; '.join(problems)}" for link, (problems, _) in results.items() if problems)
    log = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in server_log]
    (tmp_path / "server.log").write_text("\n".join(log))
    errors = list(dict.fromkeys(line.strip() for line in log if SERVER_ERROR.search(line)))
    assert not wrong and not errors, f"{wrong}\nserver log ({tmp_path / 'server.log'}):\n" + "\n".join(errors[:20])
