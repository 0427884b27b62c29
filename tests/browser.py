"""A real Streamlit server and headless Chromium, shared by the end-to-end test and bench/dashboard.py."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

from core.config import PROJECT_ROOT
from core.cpus import environment_for_a_child
from ui.frame import PAGES

_OUTPUT: dict[int, list[str]] = {}  # a running streamlit_server's lines, by its process id
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's hosts on this closed network.
LAUNCH_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(data_dir: str | Path, root: Path = PROJECT_ROOT) -> Iterator[tuple[str, subprocess.Popen]]:
    """``streamlit run app.py`` from ``root`` (this checkout unless another is given, as ``bench/ab.py`` does) on a
    free local port; yields its URL and process, stops it afterwards."""
    port = free_port()
    env = {**environment_for_a_child(), "NOISELENS_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
         str(port), "--server.address", "127.0.0.1"],
        cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    # Read from the first line on: a pipe nobody reads fills at 64 KB and stalls a chatty server mid-test.
    _OUTPUT[process.pid] = _drained(process)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                if time.time() > deadline or process.poll() is not None:
                    said = "\n".join(_OUTPUT[process.pid][-20:])
                    raise RuntimeError(f"streamlit did not start; its last lines:\n{said}") from None
                time.sleep(0.5)
        yield url, process
    finally:
        _OUTPUT.pop(process.pid, None)
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


@contextmanager
def chromium() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def wait_until_idle(page, charts: int = 1, timeout: float = 240) -> None:
    """Wait until the page shows its charts and Streamlit's running indicator is gone."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        drawn = page.locator('[data-testid="stPlotlyChart"] .main-svg').count() > 0 and \
            page.locator('[data-testid="stPlotlyChart"]').count() >= charts
        if (drawn or page.locator('[data-testid="stException"]').count()) and \
                not page.locator('[data-testid="stStatusWidget"]').count():
            return
        time.sleep(0.1)
    raise AssertionError(f"the page did not finish drawing {charts} charts in {timeout} s")


# What the class-image picture shows (its slot is the container keyed "class_picture"): the addresses of a live
# picture's panel PNGs (core.plots_live.picture_html) once the browser has decoded them all, or the final Plotly
# figure's heatmap <image>; null while nothing is painted there. A JavaScript function, for watches that run inside
# the page.
CLASS_PICTURE = """() => {
  const slot = document.querySelector('.st-key-class_picture');
  if (!slot) return null;
  const images = [...slot.querySelectorAll('img')];
  if (images.length) return images.every(i => i.naturalWidth > 0) ? images.map(i => i.currentSrc).join(' ') : null;
  const heatmap = slot.querySelector('.hm image');
  return heatmap ? heatmap.getAttribute('href') : null;
}"""


def svg_texts(chart) -> list[str]:
    """Every text drawn in a Plotly chart: titles, tick labels, values written in the cells."""
    return chart.locator("svg text").evaluate_all("nodes => nodes.map(n => n.textContent)")


def image_titles(page, chart: int = 0) -> list[str]:
    """The titles written above the tiles of a class-image mosaic (Plotly annotations)."""
    return page.locator('[data-testid="stPlotlyChart"]').nth(chart).locator(".annotation-text").evaluate_all(
        "nodes => nodes.map(n => n.textContent)")


def wait_for_change(read, before, timeout: float = 60, poll: float = 0.05, complete=bool):
    """Poll ``read()`` until it differs from ``before`` and is ``complete``; return the new value.

    ``complete`` skips the moment in between, when the old chart is gone and the new one not yet drawn.
    """
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = read()
        if value != before and complete(value):
            return value
        time.sleep(poll)
    raise AssertionError("nothing changed on the page")


# Many sessions at once (tests/test_deep_links.py, bench/load.py): Playwright's async API opens every page at the
# same moment from one thread; its sync API cannot, and is not safe to share between threads.

APP_PAGES = tuple(title for _, title, _ in PAGES)  # app.py's links, in order
# Installed with context.add_init_script, before the page's first byte: records every moment Streamlit's legacy
# pages/ navigation shows in the sidebar (its nav element, or a link to the support modules "app" or "glue"), and
# any page title drawn while app.py's navigation is missing (a page run without app.py), however briefly.
# MutationObserver sees every added node, even one removed in the same frame.
LEGACY_NAVIGATION_WATCH = """(() => {
  const seen = window.noiseLensLegacyNavigation = [];
  const note = (what) => { if (!seen.includes(what)) seen.push(what); };
  const check = (node) => {
    const element = node.nodeType === 1 ? node : node.parentElement;
    if (!element || element.closest('[data-testid="stPlotlyChart"]')) return;
    if (element.closest('[data-testid^="stSidebarNav"]')
        || (node.nodeType === 1 && node.querySelector('[data-testid^="stSidebarNav"]'))) note('stSidebarNav');
    if (node.nodeType === 1 && (node.matches('h1') || node.querySelector('h1'))
        && !document.querySelector('.st-key-app-navigation')) note('title without app.py navigation');
    const links = node.nodeType === 1 ? [...node.querySelectorAll('a')] : [];
    if (element.closest('a')) links.push(element.closest('a'));
    for (const link of links) {
      const text = link.textContent.trim();
      if (/^(app|glue)$/i.test(text) && link.closest('[data-testid="stSidebar"]')) note('sidebar link: ' + text);
    }
  };
  new MutationObserver((records) => {
    for (const record of records) {
      if (record.type === 'characterData') check(record.target);
      for (const node of record.addedNodes) check(node);
    }
  }).observe(document, {subtree: true, childList: true, characterData: true});
})();"""
# The condition of ``wait_until_idle``, evaluated inside the page.
IDLE = """(charts) => {
  const drawn = document.querySelector('[data-testid="stPlotlyChart"] .main-svg') !== null
    && document.querySelectorAll('[data-testid="stPlotlyChart"]').length >= charts;
  return (drawn || document.querySelector('[data-testid="stException"]') !== null)
    && document.querySelector('[data-testid="stStatusWidget"]') === null;
}"""


@asynccontextmanager
async def async_chromium() -> AsyncIterator[object]:
    """Headless Chromium driven through Playwright's async API."""
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Chromium not found at {CHROMIUM}: apt-get install chromium")
    async with async_playwright() as driver:
        browser = await driver.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


async def wait_until_idle_async(page, charts: int = 1, timeout: float = 240) -> None:
    """``wait_until_idle`` for a page of the async API; the browser polls, so many pages can wait at once."""
    from playwright.async_api import TimeoutError as PlaywrightTimeout

    try:
        await page.wait_for_function(IDLE, arg=charts, polling=250, timeout=timeout * 1000)
    except PlaywrightTimeout:
        raise AssertionError(f"the page did not finish drawing {charts} charts in {timeout} s") from None


async def frame_problems(page, title: str, seed: int | None = None) -> list[str]:
    """What is wrong with the frame of an async page that has finished drawing: its title, app.py's navigation
    links, the sidebar's selectors, exception boxes, the link's seed in the Seed control (``seed``), and any
    moment of legacy navigation (needs ``LEGACY_NAVIGATION_WATCH``). Empty when all is right."""
    problems = []
    heading = await page.locator("h1").first.inner_text() if await page.locator("h1").count() else None
    if heading is None or title not in heading:
        problems.append(f"title {heading!r}, expected {title!r}")
    links = await page.locator(".st-key-app-navigation a p").all_inner_texts()
    if tuple(text.strip() for text in links) != APP_PAGES:
        problems.append(f"navigation links {links}")
    labels = {text.strip() for text in
              await page.locator('[data-testid="stSidebar"] [data-testid="stWidgetLabel"]').all_inner_texts()}
    if not {"Dataset", "Architecture"} <= labels:
        problems.append(f"sidebar selectors {sorted(labels)}")
    for box in await page.locator('[data-testid="stException"]').all_inner_texts():
        problems.append(f"exception box: {box.strip().splitlines()[0][:300] if box.strip() else ''}")
    if seed is not None:
        field = page.get_by_label("Seed", exact=True)
        shown = await field.first.input_value() if await field.count() else None
        if shown != str(seed):
            problems.append(f"Seed control shows {shown!r}, the link says {seed}")
    seen = await page.evaluate("window.noiseLensLegacyNavigation || null")
    if seen is None:
        problems.append("legacy-navigation watch not installed")
    elif seen:
        problems.append(f"legacy navigation appeared: {seen}")
    return problems


def _drained(process: subprocess.Popen) -> list[str]:
    """The lines ``process`` prints, appended as they come by a thread of their own."""
    lines: list[str] = []

    def read() -> None:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))

    threading.Thread(target=read, daemon=True).start()
    return lines


def collect_output(process: subprocess.Popen) -> list[str]:
    """The lines a ``streamlit_server`` process has printed so far, and goes on printing."""
    return _OUTPUT[process.pid]
