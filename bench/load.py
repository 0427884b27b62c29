"""Load: K browsers open a link at the same moment on a server that has just started (a class opening the link).

    NOISELENS_DATA_DIR=../shared/datasets python bench/load.py [--k 10 30] [--page class_images|lesson|your_digit]
                                                               [--quick]
                                                               [--out bench/results/load.log]

Each scenario starts a fresh ``streamlit run app.py`` and one headless Chromium context per session, all on the
Classification images page at N = 1,000: once every session on the same link (the teacher's), once each on its own
seed. With ``--page lesson`` every session opens the Lesson's first step (``/lesson?step=1``: the original figure
and its fed-back matrix), the link a teacher sends a class; its steps fix the seed, so there is no own-seed
scenario. With ``--page your_digit`` every session opens ``/your_digit``, waits for the canvas and draws the same
stroke (a 1): each session then runs the network on its own drawing and its own γ sweep, work no other session
shares; the page is done when it shows its three charts and says 1. Per scenario it reports

- errors: sessions with an exception box, the wrong frame (not app.py's navigation, no Dataset / Architecture
  selectors, Streamlit's legacy ``pages/`` navigation seen at any moment, the Seed control not the link's seed),
  fewer than the page's charts (four; two on the Lesson's step 1; three on Your digit) when it stopped running, or
  (Your digit) not the answer the stroke should get;
- the time from navigation start to the first frame painted with the class-image picture (the page's first
  Plotly chart; on Your digit the 28 × 28 strip of the drawing, so the time includes waiting for the canvas and
  drawing), measured inside each page (``performance.now()``), p50 and p95 over the sessions;
- the server's CPU-seconds per session (user + system of the server's process tree, from just after it started
  to every session done, divided by K); for the same link also the CPU each extra session adds over K = 1, as a
  share of the first session's, which pays for importing TensorFlow, loading the model and tracing its graph;
- the server's peak RSS (the process tree, sampled every 0.2 s).

The browser shares the machine's cores with the server, as a class's browsers do not: with 30 pages it competes
for the CPU, so times are upper bounds of what one student sees.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from bench.provenance import ROOT, command_line, core_version, gemm_gflops  # noqa: E402
from core.config import DATA_DIR_ENV, PROJECT_ROOT  # noqa: E402
from tests.browser import (LEGACY_NAVIGATION_WATCH, async_chromium, collect_output, frame_problems,  # noqa: E402
                           streamlit_server, wait_until_idle_async)



@dataclass(frozen=True)
class LoadPage:
    """The page a class opens: its title, its Plotly charts when it is done, the teacher's link, and a link per
    session with its own seed (None: the page fixes the seed); on a page with a canvas, the stroke every student
    draws (points in canvas pixels) and the sentence the page must then show."""

    title: str
    charts: int
    same_link: str
    own_seed: str | None
    stroke: tuple[tuple[int, int], ...] | None = None
    says: str | None = None


LOAD_PAGES = {
    # class images, class bias, convergence, example stimuli
    "class_images": LoadPage("Classification images", 4, "/class_images?seed=7&n=1000",
                             "/class_images?seed={seed}&n=1000"),  # session i: seed 100 + i
    # the original figure: the class images and their fed-back matrix
    "lesson": LoadPage("Lesson", 2, "/lesson?step=1", None),
    # what the model sees, the softmax beside the template match, the γ sweep; a vertical stroke is a 1
    # (as in tests/test_digit.py's browser test)
    "your_digit": LoadPage("Your digit", 3, "/your_digit", None, stroke=((150, 40), (140, 250)), says="it says 1"),
}
CANVAS = "canvas.upper-canvas"  # streamlit-drawable-canvas's drawing layer (Fabric.js)
VIEWPORT = {"width": 1400, "height": 1000}
GOAL_RSS_MB = 1536
GOAL_EXTRA_CPU = 0.10  # of the first session's CPU
# Stamps (performance.now(), ms from navigation start) the first frame painted after the class-image picture's
# pixels, the first chart's heatmap image, appear.
FIRST_PICTURE_WATCH = """(() => {
  window.noiseLensFirstPicture = null;
  const observer = new MutationObserver(() => {
    if (window.noiseLensFirstPicture !== null) return;
    const chart = document.querySelector('[data-testid="stPlotlyChart"]');
    if (!chart || !chart.querySelector('.hm image')) return;
    window.noiseLensFirstPicture = 0;
    observer.disconnect();
    requestAnimationFrame(() => { window.noiseLensFirstPicture = performance.now(); });
  });
  observer.observe(document, {subtree: true, childList: true, attributes: true});
})();"""
ANSI = re.compile(r"\x1b\[[0-9;]*m")
EXCEPTION_LINE = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception)): ?(.*)")


@dataclass
class Outcome:
    """What one scenario measured."""

    name: str
    k: int
    first_picture: list[float] = field(default_factory=list)  # seconds, sessions that drew it
    errors: list[str] = field(default_factory=list)  # one line per session that went wrong
    last_done: float = 0.0  # seconds until every session was done
    cpu_seconds: float = 0.0  # the server's, whole scenario
    peak_rss_mb: float = 0.0
    server_exceptions: Counter = field(default_factory=Counter)

    @property
    def failed_sessions(self) -> int:
        return len(self.errors)


class ServerMeter:
    """CPU time and peak RSS of a server's process tree; RSS sampled in a thread every 0.2 s."""

    def __init__(self, pid: int) -> None:
        self.root = psutil.Process(pid)
        self.peak_rss = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _tree(self) -> list[psutil.Process]:
        try:
            return [self.root, *self.root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []

    def cpu_seconds(self) -> float:
        """User + system seconds of the live processes, plus those of children that have exited."""
        total = 0.0
        for process in self._tree():
            try:
                times = process.cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system + times.children_user + times.children_system
        return total

    def rss(self) -> int:
        """The process tree's resident memory now, in bytes."""
        rss = 0
        for process in self._tree():
            try:
                rss += process.memory_info().rss
            except psutil.NoSuchProcess:
                pass
        return rss

    def _sample(self) -> None:
        while not self._done.wait(0.2):
            self.peak_rss = max(self.peak_rss, self.rss())

    def stop(self) -> float:
        """Stop sampling; the peak RSS in MB."""
        self._done.set()
        self._thread.join()
        return self.peak_rss / 2**20


def seed_of(link: str) -> int | None:
    """The seed a link sets, which the Seed control must show; None for a link without one."""
    found = re.search(r"seed=(\d+)", link)
    return int(found.group(1)) if found else None


async def open_page(browser):
    """A student's browser: its own context (cookies, cache), with the watches installed before any byte."""
    context = await browser.new_context(viewport=VIEWPORT)
    await context.add_init_script(LEGACY_NAVIGATION_WATCH)
    await context.add_init_script(FIRST_PICTURE_WATCH)
    return await context.new_page()


async def draw(page, points: tuple[tuple[int, int], ...], timeout: float) -> None:
    """A stroke with the mouse through ``points`` (canvas pixels), once the canvas is there.

    Every step gets the session's whole budget: Your digit loads Plotly's code for its first chart (the ten class
    images) while the canvas is up, and with thirty browsers on two cores that held a page's main thread for 20-30
    seconds, past Playwright's 30-second default for a step."""
    canvas = page.locator(CANVAS)
    await canvas.wait_for(timeout=timeout * 1000)
    await canvas.scroll_into_view_if_needed(timeout=timeout * 1000)
    box = await canvas.bounding_box(timeout=timeout * 1000)
    await page.mouse.move(box["x"] + points[0][0], box["y"] + points[0][1])
    await page.mouse.down()
    for x, y in points[1:]:
        await page.mouse.move(box["x"] + x, box["y"] + y, steps=12)
    await page.mouse.up()


async def session(page, url: str, link: str, timeout: float, target: LoadPage) -> tuple[float | None, list[str]]:
    """One student opens the link (and draws, on a canvas page) and waits until the page is done: the seconds
    from navigation start to the first picture, and what went wrong."""
    from playwright.async_api import Error as PlaywrightError

    try:
        started = time.perf_counter()
        await page.goto(url + link, timeout=timeout * 1000)
        if target.stroke:
            await draw(page, target.stroke, timeout)
        left = max(1.0, timeout - (time.perf_counter() - started))
        await wait_until_idle_async(page, target.charts, timeout=left)
    except (AssertionError, PlaywrightError) as error:
        return None, [f"not done: {str(error).splitlines()[0]}"]
    problems = await frame_problems(page, target.title, seed_of(link))
    charts = await page.locator('[data-testid="stPlotlyChart"]').count()
    if charts < target.charts:
        problems.append(f"{charts} of {target.charts} charts")
    if target.says and target.says not in await page.inner_text("body"):
        problems.append(f"the page does not say {target.says!r}")
    painted = await page.evaluate("window.noiseLensFirstPicture")
    return (painted / 1000 if painted else None), problems


async def scenario(browser, data_dir: str, name: str, links: list[str], timeout: float,
                   target: LoadPage) -> Outcome:
    """A fresh server, ``len(links)`` sessions opening their links at the same moment; the pages stay open until
    the last is done, as a class's do."""
    outcome = Outcome(name, len(links))
    pages = [await open_page(browser) for _ in links]
    try:
        with streamlit_server(data_dir) as (url, server):
            log = collect_output(server)
            meter = ServerMeter(server.pid)
            cpu_before = meter.cpu_seconds()
            started = time.perf_counter()
            results = await asyncio.gather(*(session(page, url, link, timeout, target)
                                             for page, link in zip(pages, links)))
            outcome.last_done = time.perf_counter() - started
            outcome.cpu_seconds = meter.cpu_seconds() - cpu_before
            outcome.peak_rss_mb = meter.stop()
            await asyncio.sleep(0.5)  # the last log lines
    finally:
        for page in pages:
            await page.context.close()
    for line in log:
        match = EXCEPTION_LINE.match(ANSI.sub("", line))
        if match:
            outcome.server_exceptions[f"{match.group(1)}: {match.group(2)[:90]}"] += 1
    for index, (painted, problems) in enumerate(results):
        if painted is not None:
            outcome.first_picture.append(painted)
        if problems:
            outcome.errors.append(f"session {index} ({links[index]}): " + "; ".join(p[:160] for p in problems))
    return outcome


def dirty_app_files() -> str:
    """Uncommitted edits to the code the server runs (core_version watches core/ only)."""
    try:
        status = subprocess.run(["git", "status", "--porcelain", "--", "app.py", "core", "ui", "pages", ".streamlit"],
                                cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return ", ".join(line[3:] for line in status.splitlines()) or "none"


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


class Log:
    """Print, and keep the same lines in the --out file as they come."""

    def __init__(self, path: str | None) -> None:
        self.file = open(path, "w", encoding="utf-8") if path else None  # noqa: SIM115

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)
        if self.file:
            self.file.write(text + "\n")
            self.file.flush()


def extra_session_cpu(outcome: Outcome, baseline: Outcome) -> float:
    """Server CPU-seconds each session after the first added, on the same link."""
    return (outcome.cpu_seconds - baseline.cpu_seconds) / (outcome.k - 1)


def report(log: Log, outcomes: list[Outcome], baseline: Outcome | None) -> None:
    everything = ([baseline] if baseline and all(o is not baseline for o in outcomes) else []) + outcomes
    log()
    log(f"{'scenario (fresh server)':<22}{'K':>3}  {'wrong':>6}  {'first picture p50 / p95':>23}  {'all done':>8}  "
        f"{'CPU/session':>11}  {'extra session CPU':>23}  {'peak RSS':>8}")
    for outcome in everything:
        extra = "—"
        if baseline and outcome is not baseline and outcome.name == baseline.name and outcome.k > 1:
            added = extra_session_cpu(outcome, baseline)
            extra = f"{added:.2f} s = {added / baseline.cpu_seconds:.1%} of 1st"
        first = outcome.first_picture
        picture = f"{seconds(percentile(first, 50))} / {seconds(percentile(first, 95))} s"
        log(f"{outcome.name:<22}{outcome.k:>3}  {f'{outcome.failed_sessions}/{outcome.k}':>6}  {picture:>23}  "
            f"{f'{outcome.last_done:.1f} s':>8}  {f'{outcome.cpu_seconds / outcome.k:.2f} s':>11}  {extra:>23}  "
            f"{f'{outcome.peak_rss_mb:,.0f} MB':>8}")
    log("wrong: sessions with an error; first picture: over the sessions that drew it (linear interpolation), "
        "'—' if none did")
    log()
    largest = max(outcome.k for outcome in outcomes)
    wrong = sum(outcome.failed_sessions for outcome in outcomes if outcome.k == largest)
    log(f"goal: 0 sessions wrong at K = 30 — at K = {largest}: {wrong} wrong "
        f"({'met' if wrong == 0 else 'NOT met'}{'' if largest == 30 else '; K = 30 not run'})")
    peak = max(outcome.peak_rss_mb for outcome in everything)
    log(f"goal: peak RSS ≤ {GOAL_RSS_MB:,} MB — highest {peak:,.0f} MB ({'met' if peak <= GOAL_RSS_MB else 'NOT met'})")
    if baseline:
        shares = [(extra_session_cpu(outcome, baseline) / baseline.cpu_seconds, outcome.k)
                  for outcome in outcomes if outcome.name == baseline.name and outcome.k > 1]
        met = all(share <= GOAL_EXTRA_CPU for share, _ in shares)
        log(f"goal: same link, CPU per extra session ≤ {GOAL_EXTRA_CPU:.0%} of the first's "
            f"({baseline.cpu_seconds:.1f} s) — " + ", ".join(f"K = {k}: {share:.1%}" for share, k in shares)
            + f" ({'met' if met else 'NOT met'})")
    else:
        log("goal: same link, CPU per extra session: not measured (no K = 1 run)")


async def run(args, log: Log) -> None:
    data_dir, target = args.data_dir, LOAD_PAGES[args.page]
    ks = [2] if args.quick else args.k
    baseline, outcomes = None, []
    async with async_chromium() as browser:
        def timeout(k: int) -> float:
            return 180 + 15 * k

        async def play(name: str, links: list[str]) -> Outcome:
            log(f"- {name}, K = {len(links)} (load average {psutil.getloadavg()[0]:.1f}) ...")
            outcome = await scenario(browser, data_dir, name, links, timeout(len(links)), target)
            log(f"  {outcome.failed_sessions} of {outcome.k} sessions wrong; first picture "
                + ", ".join(f"{s:.1f}" for s in sorted(outcome.first_picture)) + " s; "
                f"server CPU {outcome.cpu_seconds:.1f} s; peak RSS {outcome.peak_rss_mb:,.0f} MB; "
                f"all done in {outcome.last_done:.1f} s")
            for error in outcome.errors:
                log(f"    {error}")
            for line, count in outcome.server_exceptions.most_common():
                log(f"    server log: {count} × {line}")
            return outcome

        if not args.quick:
            baseline = await play("same link", [target.same_link])
        for k in ks:  # K = 1 of the same link is the baseline, run once
            outcomes.append(baseline if k == 1 and baseline else await play("same link", [target.same_link] * k))
            if target.own_seed is not None:
                outcomes.append(await play("own seed per session",
                                           [target.own_seed.format(seed=100 + i) for i in range(k)]))
    report(log, outcomes, baseline)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[10, 30], help="sessions per scenario (default 10 30)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: K = 2, each scenario once, no K = 1 run; the numbers mean little")
    parser.add_argument("--page", choices=list(LOAD_PAGES), default="class_images",
                        help="the page the class opens (default class_images; lesson: the Lesson's step 1; "
                             "your_digit: every session draws a 1)")
    parser.add_argument("--out", help="also write the report to this file")
    args = parser.parse_args()
    args.data_dir = str(os.environ.get(DATA_DIR_ENV) or PROJECT_ROOT.parent / "shared" / "datasets")
    log = Log(args.out)
    log(f"$ {command_line(__file__)}")
    log(f"code: commit {core_version()}; uncommitted edits to app files: {dirty_app_files()}")
    log(f"page: {args.page} ({LOAD_PAGES[args.page].same_link})")
    log(f"machine: {psutil.cpu_count()} cores, float32 GEMM (numpy, 2048²) {gemm_gflops():.1f} GFLOP/s; load average "
        f"{', '.join(f'{x:.1f}' for x in psutil.getloadavg())} (other work may share the cores)")
    started = time.perf_counter()
    asyncio.run(run(args, log))
    log(f"\ntotal {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
