"""Memory over a long, varied day: visitors wandering through every page with random settings; the server's RSS.

    NOISELENS_DATA_DIR=../shared/datasets python bench/soak.py [CHECKOUT] [--minutes 45] [--visitors 3] [--seed 0]
                                                               [--logs DIR] [--replay DIR] [--quick]
                                                               [--ledger FILE [--untraced]]

A teacher's server lives for a school day, and Streamlit Community Cloud stops an app that goes over about 2.7 GB
("690MB minimum, 2.7GBs maximum", its *Status and limitations* page, February 2024). What one link or the bench's
fixed sequence costs says little about that: every model × noise type × grouping a visitor reaches leaves traced
graphs and derived data in the shared caches. Here a fresh ``streamlit run app.py`` is driven for ``--minutes`` by
``--visitors`` headless Chromium processes at once, each opening random addresses (seeded: ``--seed`` repeats the
day) on every page, both datasets and architectures, every noise type and grouping, N up to 50,000, new seeds;
each page is left after at most 1.5 s and its run (an impatient visitor: runs are cut short, pages overlap). The
server's RSS (its process tree) is sampled every 0.2 s; printed every minute, with the peak, the end, the visits
and every page that showed an exception. ``--ledger FILE`` also has the server keep a memory ledger
(``bench/ledger/sitecustomize.py``: RSS split into anonymous and file-backed, glibc's heap in use and kept free,
the bytes Python and NumPy hold by allocation site, TensorFlow's allocator, sessions) every five minutes, printed
at the end with the sites that grew most. Tracing every allocation slows the server (a snapshot holds the GIL
for seconds, and reading it took about a minute of a loaded server's time, so its lines come about six minutes
apart), and the traces cost memory: use a traced run to say *where* memory goes, a
plain run to say *how much*; ``--untraced`` keeps the ledger's cheap figures only (RSS split, glibc's heap,
sessions), every minute, at no cost to the server.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.provenance import command_line, core_version, machine_line  # noqa: E402
from bench.walks_replay import visit_impatiently  # noqa: E402
from core.config import PROJECT_ROOT  # noqa: E402

EXCEPTION = '[data-testid="stException"]'
COMMUNITY_CLOUD_MB = 2.7 * 1024  # Community Cloud's memory ceiling, as its documentation states it (about)

PAGES = ("", "lesson", "class_images", "confusion", "compare", "kernels", "significance", "receptive_fields",
         "attack", "your_digit", "models")


def settings_vocabulary() -> dict[str, tuple]:
    """What a visitor may set, from the app's own link schema: N up to 50,000 (a visitor leaves after 1.5 s and
    the run, so larger N only waits), an off-step r (0.33: the link names the value used) among the steps."""
    from core import link

    # the dataset and the network by code name (as links written before named them: the page rewrites them)
    return {"dataset": tuple(link.DATASET_TITLES), "arch": tuple(link.SHIPPED_ARCHITECTURES),
            "n": tuple(n for n in link.SAMPLE_COUNTS if n <= 50_000), "r": (0, 0.1, 0.33, 0.5, 0.7),
            "noise": tuple(link.NOISE_TYPES), "sigma": (0.05, 0.1, 0.2, 0.3, 0.45), "estimator": tuple(link.ESTIMATORS),
            "part": tuple(link.PARTS), "z": ("true", "false"), "target": tuple(range(10)),
            "gamma": link.ATTACK_GAMMAS, "subset": tuple(link.SUBSETS), "layer": ("conv1", "conv2", "conv3"),
            "ridge": tuple(link.RIDGE_CHOICES), "smooth": tuple(link.SMOOTHING_CHOICES),
            "primary": tuple(link.PRIMARY_CHOICES)}


def random_address(rng: random.Random, vocabulary: dict[str, tuple]) -> str:
    """A page and a random subset of settings (each in about half the addresses, the page's defaults otherwise),
    with a new seed half the time (a new noise stream to run)."""
    page = rng.choice(PAGES)
    query = {name: rng.choice(values) for name, values in vocabulary.items() if rng.random() < 0.5}
    if rng.random() < 0.5:
        query["seed"] = rng.randrange(10**6)
    if page == "lesson":
        query["step"] = rng.randint(1, 6)
    return f"/{page}?" + "&".join(f"{name}={value}" for name, value in query.items())


def logged_visits(log: Path) -> list[dict]:
    """A visitor's log: one record per visit (``visit``)."""
    return [json.loads(line) for line in log.read_text().split("\n") if line]


def addresses_of(seed: int, replay: Path | None) -> Iterator[str]:
    """A visitor's addresses: random ones from ``seed``, or those of an earlier day's visitor log, in order."""
    if replay is not None:
        yield from (visit["address"] for visit in logged_visits(replay))
        return
    rng, vocabulary = random.Random(seed), settings_vocabulary()
    while True:
        yield random_address(rng, vocabulary)


def visit(url: str, addresses: Iterator[str], until: float, log: Path) -> None:
    """One visitor: ``addresses`` in one browser page until the wall-clock time ``until`` (or their end); one JSON
    line per visit in ``log`` (the address, the exception's first line if the page showed one, when it was left)."""
    from tests.browser import chromium

    with chromium() as browser, log.open("w") as out:
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        for address in addresses:
            if time.time() >= until:
                break
            visit_impatiently(page, url + address)
            shown = page.locator(EXCEPTION)
            problem = shown.first.inner_text().splitlines()[0] if shown.count() else None
            out.write(json.dumps({"address": address, "exception": problem, "time": round(time.time(), 1)}) + "\n")
            out.flush()


LEDGER_SECONDS = 300


def keep_a_ledger(ledger: Path, traced: bool = True) -> None:
    """Have the servers this process starts write the memory ledger to ``ledger`` (their environment is ours):
    every five minutes with the traced bytes by site, or every minute without them."""
    ledger.unlink(missing_ok=True)
    os.environ["NOISELENS_LEDGER"] = str(ledger.resolve())
    os.environ["NOISELENS_LEDGER_TRACE"] = "1" if traced else "0"
    os.environ.setdefault("NOISELENS_LEDGER_SECONDS", str(LEDGER_SECONDS if traced else 60))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parent / "ledger"),
                                                              os.environ.get("PYTHONPATH")]))


def ledger_report(ledger: Path) -> list[str]:
    """The ledger as a table in MB, then the allocation sites whose traced bytes grew most by its last line."""
    lines = [json.loads(row) for row in ledger.read_text().splitlines()] if ledger.exists() else []
    if not lines:
        return [f"memory ledger: nothing written to {ledger}"]
    columns = [c for c in ("rss", "rss_anon", "rss_file", "malloc_in_use", "malloc_free_kept", "traced",
                           "tracemalloc_itself", "tf_current") if any(c in line for line in lines)]  # untraced: no
    report = ["memory ledger (MB): minute  " + "  ".join(columns) + "  sessions"]
    for line in lines:
        report.append(f"  {line['minute']:6.1f}  " + "  ".join(f"{line.get(c, 0) / 2**20:,.0f}" for c in columns)
                      + f"  {line.get('sessions', '?')} ({line.get('connected', '?')} connected)")
    if "grew_most" not in lines[-1]:
        return report
    report.append(f"grew most from minute {lines[0]['minute']:.1f} to {lines[-1]['minute']:.1f} (traced MB, site):")
    report += [f"  {size / 2**20:8,.1f}  {site}" for site, size in lines[-1]["grew_most"]]
    return report


def soak(root: Path, data_dir: str, minutes: float, visitors: int, seed: int, logs: Path,
         replay: Path | None = None) -> None:
    """Drive a fresh server of ``root``; print its RSS every minute, then the peak, the end and the visits.
    ``replay``: a folder of an earlier run's visitor logs, whose walks are repeated instead of new ones."""
    from bench.load import ServerMeter
    from tests.browser import streamlit_server

    with streamlit_server(data_dir, root=root) as (url, process):
        meter = ServerMeter(process.pid)
        started = time.time()
        until = started + minutes * 60
        walkers = [subprocess.Popen([sys.executable, __file__, "--visitor", str(seed * 100 + i), "--url", url,
                                     "--until", str(until), "--log", str(logs / f"visitor{i}.jsonl"),
                                     *(["--replay", str(replay / f"visitor{i}.jsonl")] if replay else [])])
                   for i in range(visitors)]
        minute = 0
        while any(w.poll() is None for w in walkers):
            time.sleep(1)
            if time.time() - started >= (minute + 1) * 60:
                minute += 1
                print(f"{minute:3d} min: server RSS {meter.rss() / 2**20:,.0f} MB "
                      f"(peak so far {meter.peak_rss / 2**20:,.0f} MB)", flush=True)
        failed = [w.args for w in walkers if w.returncode != 0]
        end = meter.rss() / 2**20
        peak = meter.stop()
        alive = process.poll() is None
    visits = [visit for path in sorted(logs.glob("visitor*.jsonl")) for visit in logged_visits(path)]
    problems = [v for v in visits if v["exception"]]
    print(f"after {(time.time() - started) / 60:.1f} min, {visitors} visitor(s), {len(visits)} visits: server peak RSS "
          f"{peak:,.0f} MB, {end:,.0f} MB at the end (Community Cloud's ceiling about {COMMUNITY_CLOUD_MB:,.0f} MB); "
          f"server {'alive' if alive else 'GONE'}; pages with an exception: {len(problems)}")
    for problem in problems:
        print(f"  {problem['address']}: {problem['exception']}")
    if failed:
        raise SystemExit(f"a visitor failed: {failed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkout", nargs="?", type=Path, default=PROJECT_ROOT)
    parser.add_argument("--minutes", type=float, default=45)
    parser.add_argument("--visitors", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0, help="the day's random walks (the same seed, the same walks)")
    parser.add_argument("--logs", type=Path, help="folder for each visitor's visits (default: a temporary one)")
    parser.add_argument("--replay", type=Path,
                        help="an earlier run's --logs folder: its visitors' walks again, in order, on this server "
                             "(two versions compared on the same day)")
    parser.add_argument("--quick", action="store_true", help="smoke run: one visitor for half a minute")
    parser.add_argument("--ledger", type=Path, help="have the server keep a memory ledger in this file (slower)")
    parser.add_argument("--untraced", action="store_true",
                        help="the ledger without tracemalloc: RSS and glibc's heap every minute, at no cost")
    parser.add_argument("--visitor", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("--until", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--log", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.visitor is not None:
        visit(args.url, addresses_of(args.visitor, args.replay), args.until, args.log)
        return
    import tempfile

    data_dir = os.environ.get("NOISELENS_DATA_DIR", str(PROJECT_ROOT.parent / "shared" / "datasets"))
    minutes, visitors = (0.5, 1) if args.quick else (args.minutes, args.visitors)
    if args.replay is not None:
        visitors = len(list(args.replay.glob("visitor*.jsonl")))
    print(f"command: {command_line(__file__)}\nserver code: {args.checkout.resolve()} at "
          f"{core_version(args.checkout.resolve())}\n{machine_line()}", flush=True)
    with tempfile.TemporaryDirectory() as temporary:
        logs = args.logs or Path(temporary)
        logs.mkdir(parents=True, exist_ok=True)
        if args.ledger:
            keep_a_ledger(args.ledger, traced=not args.untraced)
        soak(args.checkout.resolve(), data_dir, minutes, visitors, args.seed, logs, args.replay)
    if args.ledger:
        print("\n".join(ledger_report(args.ledger)), flush=True)
    print(machine_line(), flush=True)


if __name__ == "__main__":
    main()
