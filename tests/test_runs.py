"""The shared run store: one computation per distinct setting, however many sessions ask at once."""

from __future__ import annotations

import threading

import pytest

from core.reverse_correlation import AnalysisSettings, Analyzer
from core.noise import NoiseSpec
from core.runs import RunKey, RunStore


@pytest.fixture(scope="module")
def engine(mnist):
    from core.store import load_model

    model, _ = load_model("lenet", "mnist")
    return Analyzer(model, mnist, "uniform", chunk_size=256)


def count_chunks(engine: Analyzer, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every chunk that goes through the model, by any thread: the analysis passes."""
    counted: list[int] = []
    chunk_sums = engine._chunk_sums

    def counting(settings, start, count, with_model=True):
        if with_model:
            counted.append(count)
        return chunk_sums(settings, start, count, with_model)

    monkeypatch.setattr(engine, "_chunk_sums", counting)
    return counted


def ask_at_once(store: RunStore, engine: Analyzer, keys: list[RunKey], n: int) -> list:
    """One thread per key (a session each), all released together."""
    start, results = threading.Barrier(len(keys)), [None] * len(keys)

    def session(index: int) -> None:
        start.wait()
        results[index] = store.grow(keys[index], engine, n)

    threads = [threading.Thread(target=session, args=(i,)) for i in range(len(keys))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_thirty_sessions_on_one_link_run_the_model_once(engine, monkeypatch) -> None:
    chunks = count_chunks(engine, monkeypatch)
    store = RunStore()
    key = RunKey("lenet", "mnist", "sha", AnalysisSettings(NoiseSpec("uniform", seed=90210), 0.0))
    results = ask_at_once(store, engine, [key] * 30, 1_000)
    assert sum(chunks) == 1_000  # one pass of 1,000 stimuli, not thirty
    assert store.stimuli_computed == 1_000
    assert all(state.n == 1_000 for state in results)
    reference = results[0].sums.noise_weighted
    assert all((state.sums.noise_weighted == reference).all() for state in results)  # the same run for all


def test_different_links_each_run_once(engine, monkeypatch) -> None:
    chunks = count_chunks(engine, monkeypatch)
    store = RunStore()
    keys = [RunKey("lenet", "mnist", "sha", AnalysisSettings(NoiseSpec("uniform", seed=seed), 0.0))
            for seed in (1, 2, 3) for _ in range(4)]  # three links, four sessions each
    results = ask_at_once(store, engine, keys, 500)
    assert sum(chunks) == 3 * 500 and store.stimuli_computed == 3 * 500
    assert len({results[i].sums.noise_weighted.tobytes() for i in range(len(keys))}) == 3


def test_a_waiting_session_follows_the_leaders_progress_and_can_leave(engine) -> None:
    """A session waiting for someone else's run sees its progress, and a rerun of its own (should_stop) lets it
    go with what is stored instead of waiting for the end."""
    store = RunStore()
    key = RunKey("lenet", "mnist", "sha", AnalysisSettings(NoiseSpec("uniform", seed=777), 0.0))
    leader_started, leave = threading.Event(), threading.Event()

    def slow_leader_progress(state) -> None:
        leader_started.set()
        leave.wait(timeout=30)  # holds the run until the follower has seen it and left

    leader = threading.Thread(target=store.grow, args=(key, engine, 2_000, slow_leader_progress))
    leader.start()
    assert leader_started.wait(timeout=60)
    seen: list[int] = []
    state = store.grow(key, engine, 2_000, on_progress=lambda s: seen.append(s.n), should_stop=lambda: bool(seen))
    leave.set()
    leader.join(timeout=120)
    assert seen and 0 < state.n < 2_000 and store.get(key).n == 2_000


def test_the_store_keeps_the_latest_runs_only() -> None:
    store = RunStore(slots=2)
    keys = [RunKey("lenet", "mnist", "sha", AnalysisSettings(NoiseSpec("uniform", seed=s), 0.0)) for s in range(3)]
    for key in keys:
        store.put(key, object())  # type: ignore[arg-type]
    assert store.get(keys[0]) is None and store.get(keys[2]) is not None


def test_the_store_holds_a_lock_only_for_a_kept_run_or_a_session_inside(engine) -> None:
    """Runs cut short before their first chunk (a student who moved on at once) are not kept, and neither are
    their locks: before, each left one behind for the server's lifetime."""
    store = RunStore(slots=2)
    keys = [RunKey("lenet", "mnist", "sha", AnalysisSettings(NoiseSpec("uniform", seed=s), 0.0)) for s in range(5)]
    for key in keys:
        assert store.grow(key, engine, 500, should_stop=lambda: True).n == 0
    assert store.held_locks() == 0
    for key in keys:
        store.grow(key, engine, 300)
    assert store.held_locks() == 2  # the two kept runs'
    results = ask_at_once(store, engine, [keys[0]] * 4, 300)  # evicted earlier: run again, by four sessions
    assert all(state.n == 300 for state in results) and store.held_locks() == 2


@pytest.mark.parametrize("changes", [{}, {"ratio": 0.0, "estimator": "softmax", "part": "noise", "n": 100_000},
                                     {"noise": "gaussian", "sigma": 0.35, "estimator": "gradient", "seed": 2**31 - 1},
                                     {"noise": "pink", "estimator": "regression", "ratio": 0.25, "part": "noise"}])
def test_a_pages_command_line_parses_back_to_its_settings(changes: dict) -> None:
    """Built from a link, a command took the command line's defaults for what the link left out (10,000 pure-noise
    stimuli grouped by prediction, not the page's 1,000 at r = 0.7 by the truth): 79.0 % on the page, 28.8 % in
    the terminal. The page's command spells out every setting; parsed back, it is the page's run."""
    import shlex

    from core.__main__ import build_parser
    from core.link import default_controls
    from core.runs import command_line

    controls = default_controls(**changes)
    record = controls.record("alexnet", "fashion_mnist", controls.n, controls.part)
    words = shlex.split(command_line("analyze", record, "runs/a b", ridge=0.03, smooth=2.0, primary=3.3))
    assert words[:4] == ["python", "-m", "core", "analyze"]
    parsed = vars(build_parser().parse_args(words[3:]))
    assert {key: parsed[key] for key in record} == record
    assert (parsed["ridge"], parsed["smooth"], parsed["primary"], parsed["out"]) == (0.03, 2.0, 3.3, "runs/a b")
