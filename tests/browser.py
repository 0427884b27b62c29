"""A real Streamlit server and headless Chromium, shared by the end-to-end test and bench/dashboard.py."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from core.config import PROJECT_ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google's hosts on this closed network.
LAUNCH_ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def streamlit_server(data_dir: str | Path) -> Iterator[tuple[str, subprocess.Popen]]:
    """``streamlit run app.py`` on a free local port; yields its URL and process, stops it afterwards."""
    port = free_port()
    env = {**os.environ, "NOISELENS_DATA_DIR": str(data_dir)}
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
         str(port), "--server.address", "127.0.0.1"],
        cwd=PROJECT_ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).status == 200:
                    break
            except OSError:
                if time.time() > deadline or process.poll() is not None:
                    raise RuntimeError("streamlit did not start") from None
                time.sleep(0.5)
        yield url, process
    finally:
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
