"""How many stimuli, and how much wall time, does each kernel estimator need to converge? Black-box vs Stein.

Run from the project root (long: run it in the background):

    NOISELENS_DATA_DIR=/work/shared/datasets python bench/stein.py [--archs lenet] [--datasets mnist]
        [--noises gaussian] [--reference-samples 1000000] [--quick]

For each architecture × dataset × noise (gaussian and data, σ = 0.2, r = 0), the reference is the black-box
regression kernel of ONE run of ``--reference-samples`` stimuli (seed 0). Two estimators then race to a mean
(over classes) correlation of ``--target`` (0.95) with it, each from its own independent seed:

* black-box: ``class_images(state, "regression", "noise")`` (seed 1), capped at the reference's N;
* gradient (Stein, white-box): ``class_images(state, "gradient", "noise")`` = Σ·E[∇ centred logit] (seed 2).

Each race is one growing ``Analyzer.run``, compared with the reference at snapshots on a 1-1.5-2-3-5-7 grid (10,
15, 20, 30, 50, 70, 100, …; each reached by resuming the run, so each is a snapshot), and stopped at the first that
gets there. Its wall time is then that of one run of as many stimuli from scratch (median of three), warm (every
graph is traced before any timing): what the page or the CLI pays for that kernel; the race's own times, which
also hold a stop at every snapshot, are in the curves. The ratios black-box / gradient of stimuli and of time are
the result (goal: ≥ 100× and ≥ 20×). A count is the first snapshot at or above the target, so it is an upper
bound within a factor 1.4–1.7 (the grid's steps; on the 1-2-5 grid of commit 58d1725 it was 2–2.5, which could
favour either estimator).

Also: template accuracy (``template_classify`` on the real test set) of the gradient kernel at the count where it
got there and at 1,000, beside the black-box kernel's at the reference N (the science table's rows). Printed with
the machine's float32 GEMM speed (start and end), the load average and the network-alone speeds.
Results go to bench/results/stein.json and bench/results/stein.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.provenance import command_line, core_version, gemm_gflops  # noqa: E402

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
SEEDS = {"reference": 0, "blackbox": 1, "gradient": 2, "warm-up": 99}
GRID = (1.0, 1.5, 2.0, 3.0, 5.0, 7.0)  # snapshots per decade: a count is at most this step above the true one
TEMPLATE_N = 1000  # the gradient kernel's template accuracy is also given here
GOALS = {"stimuli": 100.0, "time": 20.0}


def load_average() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def snapshot_points(cap: int, first: int = 10) -> list[int]:
    """Where a race compares its kernel with the reference: the grid from ``first`` up to ``cap``, and ``cap``."""
    points, decade = [], first
    while decade < cap:
        points += [round(decade * step) for step in GRID if decade * step < cap]
        decade *= 10
    return points + [cap]


def mean_correlation(images: np.ndarray, reference: np.ndarray) -> float:
    """Mean over classes of the Pearson correlation of two (10, 28, 28) kernels (as core.analysis.convergence)."""
    pairs = zip(images.reshape(len(images), -1), reference.reshape(len(reference), -1))
    return float(np.mean([np.corrcoef(a, b)[0, 1] for a, b in pairs]))


@dataclass
class Race:
    """One estimator's run towards the target correlation with the reference."""

    estimator: str
    seed: int
    cap: int
    reached: int | None = None  # stimuli at the first snapshot at or above the target; None: not by ``cap``
    # One warm run of as many stimuli as the race used (``reached``, or its last snapshot), from scratch: what a page
    # or the CLI pays for that kernel. The race's own times (``curve``) also hold its stop at every snapshot, which
    # weighs most on the shortest races: LeNet-MNIST's 20 gradient stimuli took 0.07 s in three stages.
    seconds: float | None = None
    # Every timed run's seconds, in order (``seconds`` is their median): a short run's spread shows how much one late
    # thread wake-up on a busy 2-core box moves it.
    run_times: list[float] = field(default_factory=list)
    curve: list[tuple[int, float, float]] = field(default_factory=list)  # (n, correlation, seconds into the race)

    @property
    def best(self) -> float:
        return max((c for _, c, _ in self.curve), default=float("nan"))

    @property
    def used(self) -> int:
        """Stimuli this race used: to the target, or everything up to the cap."""
        return self.curve[-1][0] if self.reached is None else self.reached

    @property
    def spent(self) -> tuple[int, float]:
        """(stimuli, seconds of one run of them) this race used."""
        return self.used, float(self.seconds)


def run_times(analyzer: Any, settings: Any, n: int, repeats: int = 7) -> list[float]:
    """Wall times of ``repeats`` runs of ``n`` stimuli from scratch; take their median (the first may meet new chunk
    sizes). Three were too few: AlexNet-MNIST's 70 gradient stimuli took 0.086 s as a median of three in one run of
    this bench, 0.06 s in the next (commit 1b88903, a quiet box), which moved its ratio from 19× to 24×."""
    return [analyzer.run(settings, n).seconds for _ in range(repeats)]


def race(analyzer: Any, settings: Any, estimator: str, reference: np.ndarray, cap: int, target: float,
         seed: int, repeats: int = 7) -> tuple[Race, Any]:
    """Grow one run until its ``estimator`` kernel correlates ``target`` with ``reference``, or ``cap`` stimuli;
    then, unless ``repeats`` is 0, time ``repeats`` runs of as many stimuli from scratch (their median)."""
    from core.analysis import class_images

    record = Race(estimator, seed, cap)
    checking = 0.0  # time spent comparing, taken out of the run's time
    started = time.perf_counter()

    def check(state: Any) -> None:
        nonlocal checking
        if state.n not in state.snapshots or any(n == state.n for n, _, _ in record.curve):
            return
        now = time.perf_counter()
        correlation = mean_correlation(class_images(state, estimator, "noise").images, reference)
        record.curve.append((state.n, correlation, now - started - checking))
        if correlation >= target and record.reached is None:
            record.reached = state.n
        checking += time.perf_counter() - now

    state = None
    for stage in snapshot_points(cap):
        state = analyzer.run(settings, stage, state, on_progress=check,
                             should_stop=lambda: record.reached is not None)
        if record.reached is not None:
            break
    if repeats:
        record.run_times = run_times(analyzer, settings, record.used, repeats)
        record.seconds = statistics.median(record.run_times)
    return record, state


def template_accuracy(state: Any, estimator: str, n: int, data: Any, mean_image: np.ndarray,
                      whitened: bool = False) -> float:
    from core.analysis import class_images, gradient_kernel, template_classify

    sums = state.snapshots[n] if n in state.snapshots else state.sums
    assert sums.n == n, (sums.n, n)
    images = gradient_kernel(state, sums, whitened=True) if whitened else class_images(state, estimator, "noise",
                                                                                         sums)
    return template_classify(images, data.test_images, data.test_labels, mean_image).accuracy


def gradient_speed(analyzer: Any, noise: Any, n: int) -> float:
    """Stimuli per second through the analysis pass with gradients alone (warm, full chunks)."""
    from core.reverse_correlation import GRADIENT_CHUNK, AnalysisSettings

    first = analyzer.run(AnalysisSettings(noise, 0.0, gradients=True), GRADIENT_CHUNK)  # first full chunk
    state = analyzer.run(AnalysisSettings(noise, 0.0, gradients=True), n, first)
    return (n - GRADIENT_CHUNK) / (state.seconds - first.seconds)


def measure(arch: str, dataset: str, noise_kind: str, model: Any, data: Any, args: argparse.Namespace) -> dict:
    from core.analysis import class_images
    from core.reverse_correlation import AnalysisSettings, Analyzer
    from core.noise import NoiseSpec

    def settings(role: str, gradients: bool = False) -> AnalysisSettings:
        return AnalysisSettings(NoiseSpec(noise_kind, args.sigma, SEEDS[role]), 0.0, gradients=gradients)

    analyzer = Analyzer(model, data, noise_kind)
    # Warm: trace both graphs, compute Σ, and meet the chunk sizes of a race once (TensorFlow's CPU kernels set
    # themselves up per batch shape: a run's first chunk of a new size was twice as slow as the next). The warm-up
    # walks the same snapshot grid, to 50,000 black-box stimuli by default: the grid's steps up there cut chunks
    # of sizes the reference run never has.
    for gradients, n in ((False, args.warm_up), (True, max(args.warm_up // 25, 200))):
        race(analyzer, settings("warm-up", gradients), "gradient" if gradients else "regression",
             np.random.default_rng(0).standard_normal((10, 28, 28)), n, 2.0, SEEDS["warm-up"], repeats=0)
    n_ref = args.reference_samples
    reference_state = analyzer.run(settings("reference"), n_ref)
    reference = class_images(reference_state, "regression", "noise").images
    # Network alone: the reference run is the forward pass's speed; a short run the gradient pass's.
    speeds = {"forward": n_ref / reference_state.seconds,
              "gradient": gradient_speed(analyzer, NoiseSpec(noise_kind, args.sigma, SEEDS["warm-up"]),
                                         args.speed_samples)}
    print(f"    reference: black-box regression kernel, N = {n_ref:,}, seed {SEEDS['reference']}, "
          f"{reference_state.seconds:.1f} s", flush=True)
    print(f"    network alone: {speeds['forward']:,.0f} stimuli/s forward (the reference run), "
          f"{speeds['gradient']:,.0f} stimuli/s with gradients", flush=True)

    gradient, gradient_state = race(analyzer, settings("gradient", True), "gradient", reference,
                                    args.gradient_cap, args.target, SEEDS["gradient"], args.repeats)
    print(f"    gradient: {_reached(gradient)}", flush=True)
    blackbox, _ = race(analyzer, settings("blackbox"), "regression", reference, n_ref, args.target,
                       SEEDS["blackbox"], args.repeats)
    print(f"    black-box: {_reached(blackbox)}", flush=True)

    if gradient_state.n < TEMPLATE_N:  # on to 1,000 for the template row (untimed: the race is over)
        gradient_state = analyzer.run(gradient_state.settings, TEMPLATE_N, gradient_state)
    mean_image = analyzer.mean_image
    templates = {"blackbox_at_reference": template_accuracy(reference_state, "regression", n_ref, data, mean_image),
                 f"gradient_at_{TEMPLATE_N}": template_accuracy(gradient_state, "gradient", TEMPLATE_N, data,
                                                                mean_image),
                 f"whitened_gradient_at_{TEMPLATE_N}": template_accuracy(gradient_state, "gradient", TEMPLATE_N,
                                                                         data, mean_image, whitened=True)}
    if gradient.reached is not None:
        templates["gradient_at_reached"] = template_accuracy(gradient_state, "gradient", gradient.reached, data,
                                                             mean_image)
    return {"arch": arch, "dataset": dataset, "noise": noise_kind, "sigma": args.sigma,
            "reference_samples": n_ref, "reference_seconds": round(reference_state.seconds, 2),
            "speeds": {k: round(v, 1) for k, v in speeds.items()}, "load": load_average(),
            "gradient": asdict(gradient), "blackbox": asdict(blackbox), "templates": templates,
            **ratios(blackbox, gradient)}


def ratios(blackbox: Race, gradient: Race) -> dict[str, Any]:
    """Black-box / gradient, in stimuli and seconds. A black-box that never got there gives a lower bound (its
    whole run); a gradient that never got there gives no ratio."""
    if gradient.reached is None:
        return {"stimuli_ratio": None, "time_ratio": None, "bound": "gradient not reached"}
    stimuli, seconds = blackbox.spent
    return {"stimuli_ratio": stimuli / gradient.reached, "time_ratio": seconds / gradient.seconds,
            "bound": "exact" if blackbox.reached is not None else "lower bound (black-box not reached)"}


def _reached(record: Race) -> str:
    if record.reached is None:
        return (f"not reached by {record.used:,} stimuli ({record.seconds:.1f} s in one run; best correlation "
                f"{record.best:.3f})")
    return (f"{record.reached:,} stimuli, {record.seconds:.2f} s in one run, {record.curve[-1][2]:.2f} s in the race "
            f"(correlation {record.curve[-1][1]:.3f})")


def _repeats(records: list[dict]) -> str:
    """How many timed runs each median is of (results from before commit 698cce8 kept only the median of three)."""
    counts = {len(rec[which].get("run_times") or []) or 3 for rec in records for which in ("gradient", "blackbox")}
    return " or ".join(str(c) for c in sorted(counts))


def _spread(race_: dict) -> str:
    times = race_.get("run_times") or []
    return f"{min(times):.3f}–{max(times):.3f} s" if times else "not kept"


def _science_regression(rec: dict) -> float | None:
    """The science table's black-box regression accuracy for the same configuration, if it has one at this N."""
    path = RESULTS / "science.json"
    if not path.exists():
        return None
    for row in json.loads(path.read_text()).get("records", []):
        if (row.get("arch"), row.get("dataset"), row.get("noise")) == (rec["arch"], rec["dataset"], rec["noise"]):
            found = row.get("results", {}).get(f"regression@{rec['reference_samples']}")
            return None if found is None else found.get("accuracy")
    return None


def _ratio_cell(value: float | None, rec: dict) -> str:
    if value is None:
        return "—"
    return ("≥ " if rec["bound"].startswith("lower") else "") + f"{value:,.0f}×"


def report(records: list[dict], header: str, target: float) -> str:
    def count(race_: dict) -> str:
        return f"{race_['reached']:,}" if race_["reached"] is not None else \
            f"not reached by {race_['curve'][-1][0]:,} (best r {max(c for _, c, _ in race_['curve']):.3f})"

    def seconds(race_: dict) -> str:
        return f"{race_['seconds']:.2f}" if race_["reached"] is not None else f"({race_['seconds']:.1f})"

    out = [header, "",
           f"Stimuli and wall time each estimator needed to reach a mean correlation of {target} with the reference "
           "(black-box regression kernel, seed 0); a count is the first snapshot (10, 15, 20, 30, 50, 70, 100, …) "
           f"at or above it; its time is one run of that many stimuli from scratch (median of {_repeats(records)}), "
           "warm. Times in brackets: one run of all the stimuli of a race that never got there.", "",
           "| arch | dataset | noise | black-box stimuli | black-box s | gradient stimuli | gradient s | "
           "stimuli ratio | time ratio | forward /s | gradient /s |",
           "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for rec in records:
        out.append(f"| {rec['arch']} | {rec['dataset']} | {rec['noise']} σ={rec['sigma']:g} | "
                   f"{count(rec['blackbox'])} | {seconds(rec['blackbox'])} | {count(rec['gradient'])} | "
                   f"{seconds(rec['gradient'])} | {_ratio_cell(rec['stimuli_ratio'], rec)} | "
                   f"{_ratio_cell(rec['time_ratio'], rec)} | {rec['speeds']['forward']:,.0f} | "
                   f"{rec['speeds']['gradient']:,.0f} |")
    met = [r for r in records if r["stimuli_ratio"] is not None and r["stimuli_ratio"] >= GOALS["stimuli"]
           and r["time_ratio"] >= GOALS["time"]]
    out += ["", f"Goal (≥ {GOALS['stimuli']:.0f}× fewer stimuli and ≥ {GOALS['time']:.0f}× less wall time): met in "
                f"{len(met)} of {len(records)} configurations."]
    out += ["", "Template accuracy (%) on the real test set (core template_classify), noise part, r = 0: rows for "
                "the science table (bench/results/science.md; its regression row at the same N comes from the "
                "same seed-0 run, shown for comparison).", "",
            "| dataset | arch | noise | estimator | N | acc | science.md |", "|---|---|---|---|---:|---:|---:|"]
    for rec in records:
        noise = f"{rec['noise']} σ={rec['sigma']:g}"
        science = _science_regression(rec)
        rows = [("regression (black-box)", rec["reference_samples"], rec["templates"]["blackbox_at_reference"],
                 "—" if science is None else f"{100 * science:.1f}")]
        if rec["gradient"]["reached"] is not None:
            rows.append((f"gradient (Stein), at {target}", rec["gradient"]["reached"],
                         rec["templates"]["gradient_at_reached"], ""))
        rows += [("gradient (Stein)", TEMPLATE_N, rec["templates"][f"gradient_at_{TEMPLATE_N}"], ""),
                 ("whitened gradient E[∇]", TEMPLATE_N, rec["templates"][f"whitened_gradient_at_{TEMPLATE_N}"], "")]
        for estimator, n, accuracy, science_cell in rows:
            out.append(f"| {rec['dataset']} | {rec['arch']} | {noise} | {estimator} | {n:,} | "
                       f"{100 * accuracy:.1f} | {science_cell} |")
    out += ["", "Correlation with the reference at each snapshot (stimuli: correlation, seconds into the run):", ""]
    for rec in records:
        for name in ("gradient", "blackbox"):
            points = ", ".join(f"{n:,}: {c:.3f} ({t:.2f} s)" for n, c, t in rec[name]["curve"])
            out.append(f"- {rec['arch']} / {rec['dataset']} / {rec['noise']}, {name}: {points}")
    out += ["", "The timed runs' spread (fastest–slowest of the runs whose median is in the table):", ""]
    out += [f"- {rec['arch']} / {rec['dataset']} / {rec['noise']}: gradient {_spread(rec['gradient'])}, black-box "
            f"{_spread(rec['blackbox'])}" for rec in records]
    return "\n".join(out)


def header(saved: dict) -> str:
    """The report's first lines: the command, the code, and the machine's speed and load at start and end."""
    end = (f"{saved['gemm_end']:.1f} at the end; load average {saved['load_start']} at the start, "
           f"{saved['load_end']} at the end" if "gemm_end" in saved
           else f"(run in progress); load average {saved['load_start']} at the start")
    minutes = f"{saved['minutes']:.1f} min" if "minutes" in saved else "in progress"
    return (f"# Noise Lens: black-box vs gradient (Stein) kernel\n\n`{saved['command']}` (code: commit "
            f"{saved['code']}); {minutes}. float32 GEMM {saved['gemm_start']:.1f} GFLOP/s at the start, {end} "
            "(2 shared cores).")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: reference N = 5,000, lenet on MNIST, gaussian noise, target 0.8")
    parser.add_argument("--archs", nargs="+", default=None, help="default: the shipped architectures")
    parser.add_argument("--datasets", nargs="+", default=None, help="default: mnist fashion_mnist")
    parser.add_argument("--noises", nargs="+", default=None, help="default: gaussian data")
    parser.add_argument("--reference-samples", type=int, default=None,
                        help="N of the reference black-box run, and the black-box race's cap (default 1,000,000)")
    parser.add_argument("--gradient-cap", type=int, default=None,
                        help="stimuli after which the gradient race gives up (default 20,000)")
    parser.add_argument("--target", type=float, default=None, help="mean correlation to reach (default 0.95)")
    parser.add_argument("--sigma", type=float, default=0.2)
    parser.add_argument("--repeats", type=int, default=7,
                        help="timed runs from scratch per estimator, the time is their median (default 7)")
    parser.add_argument("--speed-samples", type=int, default=None,
                        help="stimuli of the network-alone speed run with gradients (the forward speed is the "
                             "reference run's)")
    parser.add_argument("--warm-up", type=int, default=None,
                        help="stimuli of the untimed warm-up race (a twenty-fifth of them, at least 200, with "
                             "gradients)")
    parser.add_argument("--out", default=None, help="results file stem (default bench/results/stein[_quick])")
    parser.add_argument("--report-only", metavar="JSON", default=None,
                        help="rebuild the markdown report from a saved results file, without running anything")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error("--repeats: at least one timed run")
    if args.report_only:
        saved = json.loads(Path(args.report_only).read_text())
        text = report(saved["records"], header(saved), saved["target"])
        Path(args.report_only).with_suffix(".md").write_text(text + "\n")
        print(text)
        return 0
    from core.models import SHIPPED_ARCHITECTURES
    from core.noise import SIGMA_NOISE_TYPES

    args.reference_samples = args.reference_samples or (5_000 if args.quick else 1_000_000)
    args.gradient_cap = args.gradient_cap or (500 if args.quick else 20_000)
    args.target = args.target or (0.8 if args.quick else 0.95)
    args.speed_samples = args.speed_samples or (512 if args.quick else 2_048)
    args.warm_up = args.warm_up or (500 if args.quick else 50_000)
    archs = args.archs or (["lenet"] if args.quick else list(SHIPPED_ARCHITECTURES))
    datasets = args.datasets or (["mnist"] if args.quick else ["mnist", "fashion_mnist"])
    noises = args.noises or (["gaussian"] if args.quick else ["gaussian", "data"])
    if not set(noises) <= SIGMA_NOISE_TYPES:
        parser.error(f"the gradient estimator needs Gaussian-family noise: {', '.join(sorted(SIGMA_NOISE_TYPES))}")
    stem = Path(args.out) if args.out else RESULTS / ("stein_quick" if args.quick else "stein")
    stem.parent.mkdir(parents=True, exist_ok=True)

    command, version = command_line(__file__), core_version()
    gemm_start, load_start = gemm_gflops(), load_average()
    print(f"$ {command}\ncode: commit {version}", flush=True)
    print(f"float32 GEMM {gemm_start:.1f} GFLOP/s; load average {load_start}", flush=True)
    print(f"reference N {args.reference_samples:,}; target {args.target}; gradient cap {args.gradient_cap:,}; "
          f"σ {args.sigma:g}, r = 0, noise part", flush=True)
    from core.data import load_dataset
    from core.store import CacheDamagedError, ModelMissingError, load_model

    records: list[dict] = []
    started = time.perf_counter()

    def save(extra: dict) -> str:
        """Both files after every configuration, so a run stopped part-way still has its table."""
        saved = {"command": command, "code": version, "target": args.target, "gemm_start": round(gemm_start, 1),
                 "load_start": load_start, **extra, "records": records}
        stem.with_suffix(".json").write_text(json.dumps(saved, indent=1) + "\n")
        text = report(records, header(saved), args.target)
        stem.with_suffix(".md").write_text(text + "\n")
        return text

    for dataset in datasets:
        data = load_dataset(dataset)
        for arch in archs:
            try:
                model = load_model(arch, dataset)[0]
            except (ModelMissingError, CacheDamagedError) as err:
                print(f"  skipped {arch}-{dataset}: {err}", flush=True)
                continue
            for noise in noises:
                print(f"  {arch} / {dataset} / {noise} σ={args.sigma:g} (load {load_average()})", flush=True)
                rec = measure(arch, dataset, noise, model, data, args)
                records.append(rec)
                print(f"    ratios black-box / gradient: stimuli {_ratio_cell(rec['stimuli_ratio'], rec)}, "
                      f"time {_ratio_cell(rec['time_ratio'], rec)} ({rec['bound']})", flush=True)
                save({})
    if not records:
        print("no model available: nothing measured")
        return 1
    gemm_end, load_end = gemm_gflops(), load_average()
    minutes = (time.perf_counter() - started) / 60
    text = save({"gemm_end": round(gemm_end, 1), "load_end": load_end, "minutes": round(minutes, 1)})
    print("\n" + text)
    print(f"\nwritten: {stem.with_suffix('.json')}, {stem.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
