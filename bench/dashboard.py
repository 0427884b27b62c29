"""Dashboard figures in one run: first render, warm redraws at N = 10,000 (every noise type), server memory.

    NOISELENS_DATA_DIR=../shared/datasets python bench/dashboard.py [--repeats 7] [--quick]

``--quick`` (the test suite's smoke run) does the least that still runs the whole measurement: the network alone
once before and once after, a fresh server's first render, then one page (class images, LeNet, pure noise,
N = 1,000) and the gradient kernel at N = 100, one redraw each, no reading pauses, and the server's RSS. Its
numbers mean nothing.

With gaussian noise among ``--noises`` it also times the gradient (Stein) kernel's page at ``--gradient-n``
(200: where ``bench/stein.py`` found every Gaussian model's gradient kernel converged), for each architecture on
both datasets (MNIST only with ``--quick``), new seeds as above: how soon a converged kernel is on screen (the
issue's goal: under a second), that is the first picture, partial or not, made from at least as many stimuli as
``bench/stein.py`` found that model's kernel needs (``bench/results/stein.json``: 20-70 for three of the four
models, so the first partial picture may already be converged; 200 for AlexNet on Fashion-MNIST).

Redraw times are taken inside the page, from the pointer press on the seed's "+" button to the first frame
painted after each new class-image picture: the first one (partial or not), the first made from all N stimuli
(the light HTML picture drawn the moment the run ends: the *complete* picture) and the final one (the last before
the page is idle: the interactive Plotly figure that replaces it), and after the example-stimuli strip, the page's
last chart, changed (the whole page; minus the complete picture, that is the page's own cost). Polling the page
from Python every 20 ms instead cost about 0.4 s of this 2-core machine's CPU per redraw, and the browser shares
the machine with the server. Ground-truth pictures (the defaults) need no model and are drawn before the model's
pass; the other estimators draw partial pictures as the model's pass goes on.

Beside the times it counts the CPU-seconds each change costs, from the press until the page is idle: the server's
process (its network pass and its drawing) and the browser's Chromium processes; and the CPU-seconds of the engine
alone. On a 2-core machine whose network pass keeps both cores busy, the browser's share is time the pass waits.
The same, from the press to the complete picture (sampled every 20 ms in a thread), divided by the CPUs the bench
may use (its cgroup's quota included), is the least time in which this machine could do that work: the complete
picture cannot come sooner, however the page paces its drawing. The same for the first picture says how much of
its wait is the browser's work (the rerun's widgets, the picture's painting) rather than the network's.

The network alone on the same N stimuli (pure inference, no server, at batches of 1,024 and 4,096: the faster is
the floor) is measured in this process before and after
the browser runs: the floor under every redraw. This machine's speed drifts by ~20 % over a day, so the time on
top of that floor is the figure to compare between runs.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import psutil  # noqa: E402

from bench.provenance import command_line, core_version, machine_line  # noqa: E402
from bench.speed import INFERENCE_BATCH  # noqa: E402
from core.config import DATA_DIR_ENV, PROJECT_ROOT  # noqa: E402
from core.cpus import available_cpus  # noqa: E402
from core.noise import NOISE_TYPES  # noqa: E402
from tests.browser import CLASS_PICTURE, chromium, streamlit_server, wait_until_idle  # noqa: E402

GRADIENT_LABEL = "gradient kernel (Stein, white-box; gaussian noise, r = 0)"
GRADIENT_QUERY = "&noise=gaussian&r=0.0&estimator=gradient&part=noise"

# Arms a watch: the time of the next pointer press, the first painted frame after each new class-image picture
# (live pictures are light HTML of inline PNGs, the final one a Plotly figure: tests.browser.CLASS_PICTURE; on the
# Confusion page, the first chart's heatmap), whether it came from all N stimuli, and the first frame after the
# example-stimuli strip (the page's last chart) shows new pixels: the whole page.
WATCH_REDRAW = """(wholePage) => {
  const classPicture = %s;
  const picture = () => {  // the class images' place, or (other pages) the first chart's heatmap
    if (document.querySelector('.st-key-class_picture')) return classPicture();
    const chart = document.querySelector('[data-testid="stPlotlyChart"]');
    const image = chart && chart.querySelector('.hm image');
    return image ? image.getAttribute('href') : null;
  };
  const strip = () => {
    const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]');
    const image = charts.length && charts[charts.length - 1].querySelector('.hm image');
    return image ? image.getAttribute('href') : null;
  };
  const shown = [picture(), strip()];
  // a live picture made from fewer than N stimuli shows its progress bar short of the end
  const complete = () => {
    const bar = document.querySelector('.st-key-class_picture progress');
    return !bar || Number(bar.value) >= Number(bar.max);
  };
  window.noiseLensPressed = null;
  window.noiseLensPictures = [];
  window.noiseLensWhole = [];
  window.noiseLensShown = [];  // the stimuli behind each picture: its bar's value, or null for the Plotly figure
  window.noiseLensComplete = null;
  // resolved once the first picture (and, for the whole page, the last chart) is painted: the bench awaits this
  // rather than polling the page, which cost the browser about 0.01-0.05 CPU-s a second of the run
  let done;
  window.noiseLensDone = new Promise(resolve => { done = resolve; });
  const settle = () => {
    if (window.noiseLensPictures[0] > 0 && (!wholePage || window.noiseLensComplete > 0)) done();
  };
  document.addEventListener('pointerdown', () => { window.noiseLensPressed = Date.now(); },
                            {capture: true, once: true});
  if (window.noiseLensObserver) window.noiseLensObserver.disconnect();
  const check = () => {
    if (window.noiseLensPressed === null) return;
    const now = picture();
    if (now && now !== shown[0]) {  // a new picture: stamp the next frame
      shown[0] = now;
      const index = window.noiseLensPictures.push(0) - 1;
      window.noiseLensWhole.push(complete());
      const bar = document.querySelector('.st-key-class_picture progress');
      window.noiseLensShown.push(bar ? Number(bar.value) : null);
      requestAnimationFrame(() => { window.noiseLensPictures[index] = Date.now(); settle(); });
    } else if (now === null) {  // PNGs not decoded yet: look again when they are
      for (const image of document.querySelectorAll('.st-key-class_picture img')) {
        if (!image.noiseLensWatched) {
          image.noiseLensWatched = true;
          image.decode().then(check, () => {});
        }
      }
    }
    const last = strip();
    if (window.noiseLensComplete === null && last && last !== shown[1]) {
      window.noiseLensComplete = 0;
      requestAnimationFrame(() => { window.noiseLensComplete = Date.now(); settle(); });
    }
  };
  const observer = new MutationObserver(check);
  window.noiseLensObserver = observer;
  observer.observe(document.body, {subtree: true, childList: true, attributes: true});
}""" % CLASS_PICTURE


# Waits in the page, without polling it, for the watch's promise; throws after ``timeout`` milliseconds.
AWAIT_DONE = """(timeout) => Promise.race([window.noiseLensDone, new Promise((_, fail) =>
  setTimeout(() => fail(new Error(`no picture within ${timeout} ms of the press`)), timeout))])"""


def rss_mb(process: psutil.Process) -> float:
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)]) / 2**20


@dataclass
class Redraws:
    """Seconds from each press: to the first picture (partial or not), the first made from all N stimuli (the
    light HTML drawn the moment the run ends), the final picture (the interactive Plotly figure that replaces it),
    the whole page."""

    first: list[float] = field(default_factory=list)
    complete: list[float] = field(default_factory=list)
    final: list[float] = field(default_factory=list)
    whole: list[float] = field(default_factory=list)
    pictures: list[int] = field(default_factory=list)  # pictures drawn per change, partial ones included
    # seconds from the press to the first picture made from at least ``need`` stimuli (``timed_redraws``' need)
    enough: list[float] = field(default_factory=list)
    # CPU-seconds per change, from the press until the page is idle: the server's process (its network pass and
    # its drawing) and the browser's processes (every Chromium process this bench started)
    server_cpu: list[float] = field(default_factory=list)
    browser_cpu: list[float] = field(default_factory=list)
    # the same from the press to the complete picture: the work the machine did before it could show it
    server_cpu_to_complete: list[float] = field(default_factory=list)
    browser_cpu_to_complete: list[float] = field(default_factory=list)
    # and to the first picture: in the half-CPU emulation the browser's share of it is what keeps it over 0.5 s
    server_cpu_to_first: list[float] = field(default_factory=list)
    browser_cpu_to_first: list[float] = field(default_factory=list)


def cpu_seconds(processes: list[psutil.Process]) -> float:
    """User + system CPU time of ``processes`` (those that are gone count nothing)."""
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


class CpuTrace:
    """The cumulative CPU-seconds of the server and of the browser, sampled every ``every`` seconds in a thread
    with the wall-clock time (the clock of the page's ``Date.now()``), so the CPU spent between two instants the
    page stamped (the press, the complete picture) can be read after the change. A sample costs about 0.2 ms."""

    def __init__(self, server: psutil.Process, browsers: list[psutil.Process], every: float = 0.02) -> None:
        self._processes, self._every = ([server], browsers), every
        self._samples: list[tuple[float, float, float]] = []
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _take(self) -> None:
        self._samples.append((time.time(), *(cpu_seconds(group) for group in self._processes)))

    def _sample(self) -> None:
        while True:
            self._take()
            if self._done.wait(self._every):
                return

    def __enter__(self) -> "CpuTrace":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self._take()

    def between(self, start: float, end: float) -> tuple[float, float]:
        """CPU-seconds of the server and of the browser from ``start`` to ``end`` (epoch seconds), interpolated
        between samples."""
        return cpu_between(self._samples, start, end)

    def spent(self) -> tuple[float, float]:
        """CPU-seconds of the server and of the browser over the whole trace."""
        return self.between(self._samples[0][0], self._samples[-1][0])


def cpu_between(samples: list[tuple[float, float, float]], start: float, end: float) -> tuple[float, float]:
    """From ``(time, server CPU, browser CPU)`` samples, cumulative and in time order: the CPU of each between
    ``start`` and ``end``, read off the straight line between the samples around each."""
    times, server, browser = (np.asarray(column, float) for column in zip(*samples))
    return tuple(float(np.interp(end, times, cpu) - np.interp(start, times, cpu)) for cpu in (server, browser))


def browser_processes() -> list[psutil.Process]:
    """The Chromium processes this bench started (Playwright's driver starts them)."""
    return [child for child in psutil.Process().children(recursive=True) if "chrom" in child.name().lower()]


def timed_redraws(page, button: str, repeats: int, charts: int = 4, whole_page: bool = True,
                  pause: float = 1.5, server: psutil.Process | None = None, need: int | None = None) -> Redraws:
    """Press ``button`` ``repeats`` times; time the pictures and (``whole_page``) the page's last chart, and
    (``server`` given) the CPU the server and the browser spend on each change.

    The final picture is the last one drawn before the page is idle again. ``pause``: seconds a student reads the
    picture before the next move. ``need``: also time the first picture made from at least this many stimuli
    (without it, from all of them: the complete picture)."""
    redraws = Redraws()
    for _ in range(repeats):
        page.evaluate(WATCH_REDRAW, whole_page)
        trace = CpuTrace(server, browser_processes()) if server is not None else contextlib.nullcontext()
        with trace:
            page.locator(f'[data-testid="{button}"]').first.click()
            page.evaluate(AWAIT_DONE, 120_000)
            wait_until_idle(page, charts=charts)
        pressed, pictures, whole, complete, shown = page.evaluate(
            "[window.noiseLensPressed, window.noiseLensPictures, window.noiseLensWhole, window.noiseLensComplete, "
            "window.noiseLensShown]")
        completed = first_with(pictures, shown, whole, None)  # the first picture from all N stimuli
        redraws.enough.append((first_with(pictures, shown, whole, need) - pressed) / 1000)
        if server is not None:
            spent = trace.spent()
            redraws.server_cpu.append(spent[0])
            redraws.browser_cpu.append(spent[1])
            to_complete = trace.between(pressed / 1000, completed / 1000)
            redraws.server_cpu_to_complete.append(to_complete[0])
            redraws.browser_cpu_to_complete.append(to_complete[1])
            to_first = trace.between(pressed / 1000, pictures[0] / 1000)
            redraws.server_cpu_to_first.append(to_first[0])
            redraws.browser_cpu_to_first.append(to_first[1])
        redraws.first.append((pictures[0] - pressed) / 1000)
        redraws.complete.append((completed - pressed) / 1000)
        redraws.final.append((max(pictures) - pressed) / 1000)
        redraws.pictures.append(len(pictures))
        if whole_page:
            redraws.whole.append((complete - pressed) / 1000)
        time.sleep(pause)
    return redraws


def first_with(pictures: list[int], shown: list[int | None], whole: list[bool], need: int | None) -> int:
    """The time of the first picture made from at least ``need`` stimuli (``shown``: each picture's count, None
    for the final figure, made from all of them; ``whole``: made from all N), or of the first complete one."""
    enough = (lambda n: False) if need is None else (lambda n: n is not None and n >= need)
    return next(t for t, n, w in zip(pictures, shown, whole) if w or enough(n))


def redraws_at(page, address: str, repeats: int, pause: float, server: psutil.Process | None = None,
               need: int | None = None) -> Redraws:
    """Open ``address`` (a class-image page), let a student read it for ``pause`` seconds, then time ``repeats``
    new seeds: a new noise stream, so all N stimuli really go through the model."""
    page.goto(address)
    wait_until_idle(page, charts=4)
    time.sleep(pause)
    return timed_redraws(page, "stNumberInputStepUp", repeats, pause=pause, server=server, need=need)


STEIN_RESULTS = Path(__file__).resolve().parent / "results" / "stein.json"


def stein_converged(arch: str, dataset: str, results: Path = STEIN_RESULTS) -> int | None:
    """The gradient stimuli ``bench/stein.py`` found this model's kernel needs, with gaussian noise, to correlate
    0.95 with its million-stimulus black-box reference; None if it never got there or was not measured."""
    if not results.exists():
        return None
    for record in json.loads(results.read_text())["records"]:
        if (record["arch"], record["dataset"], record["noise"]) == (arch, dataset, "gaussian"):
            return record["gradient"]["reached"]
    return None


def cpu_bound(server_cpu: list[float], browser_cpu: list[float], floor: float | None = None) -> str:
    """The CPU the server and the browser spent from the press to a picture (medians), and the least time that
    work takes on the CPUs this bench may use (over ``floor``, the network alone, where given): the picture
    cannot come sooner, however it is paced."""
    server, browser = statistics.median(server_cpu), statistics.median(browser_cpu)
    cpus = available_cpus()
    least = (server + browser) / cpus
    return (f"server {server:.2f} + browser {browser:.2f} CPU-s, on {cpus:g} CPUs at least {least:.2f} s"
            + (f" = {least / floor:.2f} ×" if floor else ""))


def summary(seconds: list[float]) -> str:
    return f"median {statistics.median(seconds):.2f} s, all {', '.join(f'{s:.2f}' for s in seconds)}"


def network_seconds(archs: tuple[str, ...], n: int, batches: tuple[int, ...],
                    repeats: int = 3) -> dict[str, dict[int, float]]:
    """Seconds the network alone needs for ``n`` stimuli at each batch size (median of ``repeats``), with the
    machine to itself. The floor is the fastest batch: on some CPUs 1,024 beats 4,096 by 10–20 %."""
    from bench.speed import InferenceBench
    from core.store import load_model

    floors: dict[str, dict[int, float]] = {}
    for arch in archs:
        model = load_model(arch, "mnist")[0]
        floors[arch] = {}
        for batch in batches:
            bench = InferenceBench(model, batch)
            floors[arch][batch] = statistics.median(n / bench.rate(n) for _ in range(repeats))
    return floors


def engine_seconds(archs: tuple[str, ...], noises: list[str], n: int, batches: tuple[int, ...],
                   repeats: int = 3) -> dict[tuple[str, str], tuple[float, float, float]]:
    """Seconds and CPU-seconds the page's own engine needs for ``n`` pure-noise stimuli of each noise type, with
    no server and no browser (medians of ``repeats`` new seeds, after a warm-up): the network plus noise
    generation, sums and the page's chunking. What is left above it is the server's and the browser's.

    The network alone (the faster batch) is timed before each engine run, the two in turns: against the floor,
    timed apart before and after the browser runs, LeNet's engine on uniform noise read 1.12 ×
    (``dashboard_14ec948.log``); in turns 1.01 × and 1.04 × (``engine_beside_network_oneoff.log``,
    ``dashboard_5151148.log``)."""
    from bench.speed import InferenceBench
    from core.reverse_correlation import AnalysisSettings, Analyzer
    from core.data import load_dataset
    from core.noise import NoiseSpec
    from core.pacing import CHUNK_SECONDS
    from core.store import load_model
    from ui.resources import CHUNK

    data, seconds = load_dataset("mnist"), {}
    for arch in archs:
        model = load_model(arch, "mnist")[0]
        alone = [InferenceBench(model, batch) for batch in batches]
        for noise in noises:
            engine = Analyzer(model, data, noise, chunk_size=CHUNK, chunk_seconds=CHUNK_SECONDS)
            engine.run(AnalysisSettings(NoiseSpec(noise, 0.2, 10**6)), n)  # trace, and learn the chunk size
            runs = []
            for k in range(repeats):
                network = min(n / bench.rate(n) for bench in alone)
                cpu = time.process_time()  # every thread of this process: TensorFlow's pool included
                run = engine.run(AnalysisSettings(NoiseSpec(noise, 0.2, 10**6 + 1 + k)), n)
                runs.append((run.seconds, time.process_time() - cpu, network))
            seconds[arch, noise] = tuple(statistics.median(r[i] for r in runs) for i in range(3))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quick", action="store_true",
                        help="smoke run for the tests: one page (LeNet, N = 1,000), one redraw, no pauses; the "
                             "numbers mean nothing")
    parser.add_argument("--archs", nargs="+", choices=("lenet", "alexnet"), default=["lenet", "alexnet"],
                        help="architectures to time (default both)")
    parser.add_argument("--noises", nargs="+", choices=NOISE_TYPES, default=list(NOISE_TYPES),
                        help="noise types to time (default all; the defaults' uniform noise is timed with uniform)")
    parser.add_argument("--gradient-n", type=int, default=200,
                        help="N of the gradient (Stein) kernel's redraws, gaussian noise (0: none; default 200, where "
                             "bench/stein.py found every Gaussian model's gradient kernel converged)")
    parser.add_argument("--class-images-only", action="store_true",
                        help="time only the class-image page: no seed seen before, Confusion or Compare page")
    args = parser.parse_args()
    quick = args.quick
    archs, n, datasets = (("lenet",), 1_000, ("mnist",)) if quick else (tuple(args.archs), 10_000,
                                                                       ("mnist", "fashion_mnist"))
    repeats = 1 if quick else args.repeats
    pause = 0.0 if quick else 1.5  # seconds a student reads the picture before the next move
    # The network alone: batches of 1,024 (the page's chunks) and 4,096 (the speed benchmark's), or all N at once
    # when N is smaller; the faster is the floor.
    from ui.resources import CHUNK

    batches, floor_repeats = tuple(sorted({min(n, CHUNK), min(n, INFERENCE_BATCH)})), 1 if quick else 3
    data_dir = os.environ.get(DATA_DIR_ENV) or str(PROJECT_ROOT.parent / "shared" / "datasets")
    print(f"$ {command_line(__file__)}")
    print(f"code: commit {core_version()}")
    print(machine_line())
    floor_before = network_seconds(archs, n, batches, floor_repeats)
    medians: dict[tuple[str, str], Redraws] = {}
    with streamlit_server(data_dir) as (url, server), chromium() as browser:
        process = psutil.Process(server.pid)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        started = time.perf_counter()
        page.goto(f"{url}/class_images?n=1000")
        wait_until_idle(page, charts=4)
        print(f"first render (fresh server, class images, N = 1,000): {time.perf_counter() - started:.1f} s")

        defaults = "defaults (r = 0.7, ground truth: no model needed, whole input)"
        # label: (noise type, the link's settings); the Gaussian family draws 4× the random words of 8-bit uniform
        # noise, plus filtering
        settings = {defaults: ("uniform", ""),
                    "pure noise (r = 0, softmax, noise part)": ("uniform", "&r=0.0&estimator=softmax&part=noise")}
        settings.update({f"{noise} noise (r = 0, softmax, noise part)":
                         (noise, f"&noise={noise}&r=0.0&estimator=softmax&part=noise") for noise in NOISE_TYPES
                         if noise != "uniform"})
        if quick:  # one redraw: of the setting that sends the N stimuli through the model
            settings = {label: kept for label, kept in settings.items() if label.startswith("pure noise")}
        settings = {label: query for label, (noise, query) in settings.items() if noise in args.noises}
        for arch in archs:
            for label, query in settings.items():
                redraws = redraws_at(page, f"{url}/class_images?n={n}&arch={arch}{query}", repeats, pause, process)
                medians[arch, label] = redraws
                print(f"{arch}, {label}: redraw after a new seed at N = {n:,}: first picture "
                      f"{summary(redraws.first)}; complete picture {summary(redraws.complete)}; final (interactive) "
                      f"picture {summary(redraws.final)}; whole page "
                      f"{summary(redraws.whole)}; pictures per change {redraws.pictures}")
        gradient: dict[tuple[str, str], tuple[Redraws, int | None]] = {}
        gradient_n = 100 if quick else args.gradient_n
        pages = [(a, d) for d in datasets for a in archs] if gradient_n > 0 and "gaussian" in args.noises else []
        for arch, dataset in pages:
            need = stein_converged(arch, dataset)
            redraws = redraws_at(page, f"{url}/class_images?n={gradient_n}&arch={arch}&dataset={dataset}"
                                       f"{GRADIENT_QUERY}", repeats, pause, process, need=need)
            gradient[arch, dataset] = redraws, need
            print(f"{arch}-{dataset}, {GRADIENT_LABEL}: redraw after a new seed at N = {gradient_n:,}: first picture "
                  f"{summary(redraws.first)}; "
                  + ("" if need is None else f"from >= {need} stimuli (bench/stein.py's converged count) "
                                             f"{summary(redraws.enough)}; ")
                  + f"complete picture {summary(redraws.complete)}; final (interactive) "
                  f"picture {summary(redraws.final)}; whole page {summary(redraws.whole)}")
        if quick or args.class_images_only:
            print(f"server RSS after the class-image redraw: {rss_mb(process):.0f} MB")
        else:
            seen = timed_redraws(page, "stNumberInputStepDown", min(3, repeats))  # the run store answers
            print(f"{archs[-1]}, {label}: redraw at N = {n:,} for a seed seen before: picture {summary(seen.first)}")
            # noise averages: their fed-back softmax changes with the seed (digit-like ones saturate)
            for arch in archs:
                page.goto(f"{url}/confusion?n={n}&arch={arch}&part=noise")
                wait_until_idle(page, charts=3)
                time.sleep(pause)
                fed_back = timed_redraws(page, "stNumberInputStepUp", repeats, charts=3, whole_page=False)
                print(f"{arch}, confusion page, fed-back matrix of ground-truth noise images (r = 0.7): redraw "
                      f"after a new seed at N = {n:,}: {summary(fed_back.first)}")

            print(f"server RSS after the class-image and confusion redraws: {rss_mb(process):.0f} MB")
            for dataset in datasets:
                page.goto(f"{url}/compare?n={n}&dataset={dataset}")
                wait_until_idle(page, charts=8)
            print(f"server RSS with {' and '.join(datasets)} and their models loaded (compare page, N = {n:,}): "
                  f"{rss_mb(process):.0f} MB (goal <= 1536 MB)")
    floor_after = network_seconds(archs, n, batches, floor_repeats)
    floor = {arch: min((floor_before[arch][b] + floor_after[arch][b]) / 2 for b in batches) for arch in archs}
    print(f"network alone on {n:,} stimuli (pure inference, no server), before / after the browser runs, by batch: "
          + "; ".join(f"{a} " + ", ".join(f"batch {b:,} {floor_before[a][b]:.2f} / {floor_after[a][b]:.2f} s"
                                          for b in batches) + f" (floor: the faster, {floor[a]:.2f} s)"
                      for a in archs))
    engine = engine_seconds(archs, ["uniform"] if quick else args.noises, n, batches, floor_repeats)
    print(f"the page's engine alone on {n:,} pure-noise stimuli (network, noise, sums, the page's chunks; no server, "
          "no browser), its CPU-seconds, and / the network alone timed beside it (the faster batch, in turns with "
          "the engine; the floor above was timed apart): " + "; ".join(
              f"{a} {k} {s:.2f} s ({cpu:.2f} CPU-s) = {s / alone:.2f} × {alone:.2f} s" for (a, k), (s, cpu, alone)
              in engine.items()))
    print("medians after a new seed: first picture (goal <= 0.5 s); complete picture, from all N stimuli / network "
          "alone (goal <= 1.15); its interactive Plotly figure / network alone; the page's own cost after the "
          "complete picture (whole page - complete picture):")
    for (arch, label), redraws in medians.items():
        complete, final = statistics.median(redraws.complete), statistics.median(redraws.final)
        own = statistics.median(w - c for w, c in zip(redraws.whole, redraws.complete))
        print(f"  {arch}, {label}: first {statistics.median(redraws.first):.2f} s; complete {complete:.2f} s = "
              f"{complete / floor[arch]:.2f} × {floor[arch]:.2f} s; interactive {final:.2f} s = "
              f"{final / floor[arch]:.2f} ×; page's own cost {own:.2f} s; CPU per change, press to idle: server "
              f"{statistics.median(redraws.server_cpu):.2f} s, browser {statistics.median(redraws.browser_cpu):.2f} s; "
              f"press to complete picture: "
              f"{cpu_bound(redraws.server_cpu_to_complete, redraws.browser_cpu_to_complete, floor[arch])}; press "
              f"to first picture: {cpu_bound(redraws.server_cpu_to_first, redraws.browser_cpu_to_first)}")
    for (arch, dataset), (redraws, need) in gradient.items():
        where = ("not measured by bench/stein.py: the complete picture" if need is None else
                 f"the first picture from >= {need:,} stimuli, where bench/stein.py found it converged")
        print(f"  {arch}-{dataset}, {GRADIENT_LABEL}, N = {gradient_n:,}: converged kernel on screen ({where}) "
              f"{statistics.median(redraws.enough):.2f} s (goal: under a second); complete picture "
              f"{statistics.median(redraws.complete):.2f} s, interactive {statistics.median(redraws.final):.2f} s, "
              f"first {statistics.median(redraws.first):.2f} s; press to complete picture: "
              f"{cpu_bound(redraws.server_cpu_to_complete, redraws.browser_cpu_to_complete)}")
    print(machine_line().replace("machine:", "machine at the end:"))


if __name__ == "__main__":
    main()
