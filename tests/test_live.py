"""The live run: interrupted runs keep their work, Stop shows it, and an empty run is never stored."""

from __future__ import annotations

import pytest

from core.link import Controls
from core.runs import RunKey
from core.store import inspect_model
from ui import live, resources


def test_interrupted_run_keeps_its_work_and_stop_shows_it(real_data_dir) -> None:
    """A rerun (Stop, or a control moved) interrupts between chunks; the partial sums stay and are reused."""
    class Interrupted(Exception):
        pass

    class InterruptingBar:
        calls = 0

        def progress(self, *args, **kwargs) -> None:
            InterruptingBar.calls += 1
            raise Interrupted  # what Streamlit's StopException does at the next st call

        def empty(self) -> None:
            pass

    controls = Controls(n=10_000, ratio=0.0, noise="uniform", sigma=0.2, estimator="softmax",
                        part="noise", seed=4242, z_scores=False)
    sha = inspect_model("lenet", "mnist").metadata["sha256"]
    with pytest.raises(Interrupted):
        live.run_analysis("lenet", "mnist", sha, controls, InterruptingBar())
    assert InterruptingBar.calls == 1  # the first partial progress, drawn while the worker ran
    _, partial = live.run_analysis("lenet", "mnist", sha, controls, stopped=True)
    assert 0 < partial.n < 10_000  # the worker stopped at a chunk's end: what it did is kept
    assert partial.n == resources.runs().stored_stimuli(RunKey("lenet", "mnist", sha, controls.settings))
    _, done = live.run_analysis("lenet", "mnist", sha, controls)
    assert done.n == 10_000 and sorted(done.snapshots)[:3] == [100, 200, 500]


def test_a_run_cut_short_before_its_first_chunk_is_not_kept(real_data_dir, monkeypatch) -> None:
    """A rerun already waiting when the analysis starts ends it at once: an empty state must not be stored,
    or Stop would then try to draw images of zero stimuli."""
    monkeypatch.setattr("ui.streamlit_internals.rerun_waiting", lambda: True)
    controls = Controls(n=20_000, ratio=0.0, noise="uniform", sigma=0.2, estimator="softmax",
                             part="noise", seed=515151, z_scores=False)
    sha = inspect_model("lenet", "mnist").metadata["sha256"]
    _, state = live.run_analysis("lenet", "mnist", sha, controls)
    assert state.n == 0 and resources.runs().get(RunKey("lenet", "mnist", sha, controls.settings)) is None


@pytest.mark.parametrize("n", [live.LIVE_N, 20_000])
def test_partial_pictures_follow_the_growing_run_and_the_last_is_the_full_run(real_data_dir, n: int) -> None:
    """The one live path, at N up to LIVE_N (which once drew only the final picture) as above it: partial states
    come, in order, from the store's copies while the worker adds chunks; the run returned is complete and
    matches what the store keeps."""
    controls = Controls(n=n, ratio=0.0, noise="uniform", sigma=0.2, estimator="predicted", part="noise",
                        seed=616161 + n, z_scores=False)
    sha = inspect_model("lenet", "mnist").metadata["sha256"]
    seen: list[int] = []

    class Bar:
        def progress(self, value: float, text: str) -> None:
            assert text.endswith(f"of {n:,} stimuli")

        def empty(self) -> None:
            pass

    _, state = live.run_analysis("lenet", "mnist", sha, controls, Bar(), on_partial=lambda s: seen.append(s.n))
    assert seen, f"no partial picture while {n:,} stimuli went through the model"
    assert seen == sorted(set(seen)) and 0 < seen[0] < n and seen[-1] < n
    assert state.n == n == resources.runs().stored_stimuli(RunKey("lenet", "mnist", sha, controls.settings))
