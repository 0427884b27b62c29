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


def test_a_partial_picture_is_light_html_of_the_panels_decoded_before_it_is_painted() -> None:
    """The partial pictures' HTML: each panel's PNG inline (no second request whose wait would blank the picture),
    one pixel per image pixel in the picture's own colours, decoded synchronously; titles escaped; the scale's
    ends; how far the run is."""
    import base64
    import io
    import re

    import numpy as np
    from PIL import Image

    from core.picture import Picture
    from core.plots import picture_rgb

    values = np.random.default_rng(3).normal(size=(10, 28, 28))
    titles = [f'digit {k} (n < 1,000 & "so far")' for k in range(10)]
    shown = Picture(values, titles, "z-score", True, None, 1.0, np.zeros(10, bool))  # the 99.5th percentile binds
    html = live.picture_html(shown, 2_048, 10_000)
    sources = re.findall(r'<img decoding="sync" alt="([^"]*)" src="data:image/png;base64,([^"]+)"', html)
    assert len(sources) == 11  # ten panels and the colour ramp
    assert sources[0][0] == "digit 0 (n &lt; 1,000 &amp; &quot;so far&quot;)"
    low, high = -np.percentile(np.abs(values), 99.5), np.percentile(np.abs(values), 99.5)
    for k, (_, source) in enumerate(sources[:10]):
        pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(source))).convert("RGB"))
        assert np.array_equal(pixels, picture_rgb(values[k], True, low, high))
    assert f"<span>{low:.3g}</span>" in html and f"<span>{high:.3g}</span>" in html
    assert "2,048 of 10,000 stimuli" in html and '<progress value="2048" max="10000"' in html


def test_a_phone_sees_the_partial_picture_laid_out_as_its_final_picture() -> None:
    """Three across with titles on two lines, as the Plotly figure draws them on a phone, so the final picture
    does not jump from five columns to three."""
    import re

    import numpy as np

    from core import plots
    from core.picture import Picture

    titles = ["0 (12, too few)", "1: never predicted"] + [f"{k} (<{k}>)" for k in range(2, 10)]
    shown = Picture(np.zeros((10, 28, 28)), titles, "z-score", True, None, 1.0, np.zeros(10, bool))
    wide, phone = live.picture_html(shown, 100, 1_000), live.picture_html(shown, 100, 1_000, phone=True)
    assert "repeat(5," in wide and "repeat(3," in phone
    captions = re.findall(r"<figcaption[^>]*>(.*?)</figcaption>", phone)
    assert captions[:3] == ["0<br>(12, too few)", "1<br>never predicted", "2<br>(&lt;2&gt;)"]
    assert f"min-height:{plots.phone_grid_height(10)}px" in phone  # the final figure's room: no jump


def test_the_charts_while_a_run_grows_are_light_html_of_the_same_numbers() -> None:
    """The bias bars carry each class's share; the convergence curve is an SVG (inside an <img>, which the page's
    sanitiser keeps) with one point per snapshot, the last at 1 at the top of the scale."""
    import base64
    import re

    import numpy as np

    bars = live.bias_html(np.array([5, 0, 15, 0, 0, 0, 0, 0, 80, 0]), [f"c<{k}>" for k in range(10)], 100)
    assert bars.count("background:#4575b4") == 10 and "80.0%" in bars and "c&lt;8&gt;" in bars
    heights = [float(h) for h in re.findall(r"height:([\d.]+)px;background", bars)]
    assert heights[8] == max(heights) and heights[1] == 0 and heights[2] == 3 * heights[0]
    html = live.convergence_html(np.array([100, 200, 500, 1000]), np.array([0.2, 0.5, np.nan, 1.0]))
    svg = base64.b64decode(re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html).group(1)).decode()
    points = re.search(r'points="([^"]+)"', svg).group(1).split()
    assert len(points) == 3 and "1,000" in svg  # the NaN snapshot is left out; the axis says how far the run is
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] > ys[1] > ys[2]  # SVG y grows downwards: the correlation rises towards 1
    # The axis runs from the first snapshot to the last, as in the Plotly chart (not from n = 1); a first snapshot
    # without a correlation still starts it, so the axis does not jump when that snapshot gets one.
    late = live.convergence_html(np.array([100, 200, 500, 1000]), np.array([np.nan, 0.5, 0.8, 1.0]))
    late_svg = base64.b64decode(re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', late).group(1)).decode()
    late_xs = [float(p.split(",")[0]) for p in re.search(r'points="([^"]+)"', late_svg).group(1).split()]
    xs = [float(p.split(",")[0]) for p in points]
    assert xs[0] == 44.0 and xs[-1] == 588.0  # the plot area's left and right edges
    assert len(late_xs) == 3 and late_xs[0] == xs[1] > xs[0] and late_xs[-1] == xs[-1]
