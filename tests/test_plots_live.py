"""The light stand-ins drawn while a run grows (core.plots_live): the same numbers as the final figures."""

from __future__ import annotations

import numpy as np
import pytest

from core import plots, plots_live


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
    html = plots_live.picture_html(shown, 2_048, 10_000)
    sources = re.findall(r'<img decoding="sync" alt="([^"]*)" src="data:image/png;base64,([^"]+)"', html)
    assert len(sources) == 11  # ten panels and the colour ramp
    # each panel named once, by its caption, in a named group (the tiles' alt text repeated the captions)
    assert [alt for alt, _ in sources[:10]] == [""] * 10 and sources[10][0] == "colour scale"
    assert 'digit 0 (n &lt; 1,000 &amp; &quot;so far&quot;)</span></figcaption>' in html
    assert 'role="group" aria-label="classification images so far, 2,048 of 10,000 stimuli"' in html
    low, high = -np.percentile(np.abs(values), 99.5), np.percentile(np.abs(values), 99.5)
    for k, (_, source) in enumerate(sources[:10]):
        pixels = np.asarray(Image.open(io.BytesIO(base64.b64decode(source))).convert("RGB"))
        assert np.array_equal(pixels, picture_rgb(values[k], True, low, high))
    # the final colour bar's ticks, as it writes them (a true minus sign), then the bar's title
    marks = re.findall(r'<span style="position:absolute;font-size:12px[^"]*">([^<]*)</span>', html)
    assert marks == ["−2", "−1", "0", "1", "2", "z-score"] and 2 < high < 3, (marks, high)
    assert "2,048 of 10,000 stimuli" in html and '<progress value="2048" max="10000" aria-label=' in html


@pytest.mark.parametrize("phone", [False, True])
def test_the_partial_picture_is_laid_out_by_the_final_figure_s_numbers(phone: bool) -> None:
    """The partial picture puts its panels where the Plotly figure will: the same height and margins, the mosaic's
    size in image pixels, at the largest scale that fits (beside the colour bar on a wide screen, over it on a
    phone). 140-px panels became 99-148 px and moved 33-56 px at the end of every change (a review); the browser
    test measures the two on screen."""
    from core import plots
    from core.picture import Picture

    shown = Picture(np.zeros((10, 28, 28)), [str(k) for k in range(10)], "z-score", True, None, 1.0,
                    np.zeros(10, bool))
    figure, html = shown.figure(phone=phone), plots_live.picture_html(shown, 100, 1_000, phone=phone)
    height, margin = figure.layout.height, figure.layout.margin
    rows, columns = np.shape(figure.data[0].z)  # the mosaic, in image pixels
    across = 3 if phone else 5
    assert columns == across * 30 - 2 and f"height:{height}px" in html
    room = margin.l + margin.r + (0 if phone else plots_live.COLOUR_BAR_ROOM)
    assert f"--u:min({(height - margin.t - margin.b) / rows:.4f}px, (100cqw - {room}px) / {columns})" in html
    assert (f"grid-template-columns:repeat({across},calc(28 * var(--u)));"
            f"column-gap:calc({plots.MOSAIC_GAP} * var(--u))") in html
    assert f"height:calc({plots.TITLE_BAND} * var(--u))" in html  # each title's band, as the mosaic's


def test_a_phone_sees_the_partial_picture_laid_out_as_its_final_picture() -> None:
    """Three across with titles on two lines, as the Plotly figure draws them on a phone, so the final picture
    does not jump from five columns to three."""
    import re

    from core.picture import Picture

    titles = ["0 (12, too few)", "1: never predicted"] + [f"{k} (<{k}>)" for k in range(2, 10)]
    shown = Picture(np.zeros((10, 28, 28)), titles, "z-score", True, None, 1.0, np.zeros(10, bool))
    wide, phone = plots_live.picture_html(shown, 100, 1_000), plots_live.picture_html(shown, 100, 1_000, phone=True)
    assert "repeat(5," in wide and "repeat(3," in phone
    captions = [re.findall(r"<span[^>]*>(.*?)</span>", caption)
                for caption in re.findall(r"<figcaption[^>]*>(.*?)</figcaption>", phone)]
    assert captions[:3] == [["0", "(12, too few)"], ["1", "never predicted"], ["2", "(&lt;2&gt;)"]]


def test_the_charts_while_a_run_grows_are_light_html_of_the_same_numbers() -> None:
    """The bias bars carry each class's share; the convergence curve is an SVG (inside an <img>, which the page's
    sanitiser keeps) with one point per snapshot, the last at 1 at the top of the scale."""
    import base64
    import re

    import numpy as np

    bars = plots_live.bias_html(np.array([5, 0, 15, 0, 0, 0, 0, 0, 80, 0]), [f"c<{k}>" for k in range(10)], 100)
    assert bars.count("background:#4575b4") == 10 and "80.0%" in bars and "c&lt;8&gt;" in bars
    assert 'role="img" aria-label="share of the stimuli given each class: c&lt;0&gt; 5.0%, c&lt;1&gt; 0.0%' in bars
    heights = [float(h) for h in re.findall(r"height:([\d.]+)px;background", bars)]
    assert heights[8] == max(heights) and heights[1] == 0 and heights[2] == 3 * heights[0]
    html = plots_live.convergence_html(np.array([100, 200, 500, 1000]), np.array([0.2, 0.5, np.nan, 1.0]))
    svg = base64.b64decode(re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', html).group(1)).decode()
    points = re.search(r'points="([^"]+)"', svg).group(1).split()
    assert len(points) == 3 and "1,000" in svg  # the NaN snapshot is left out; the axis says how far the run is
    ys = [float(p.split(",")[1]) for p in points]
    assert ys[0] > ys[1] > ys[2]  # SVG y grows downwards: the correlation rises towards 1
    # The axis runs from the first snapshot to the last, as in the Plotly chart (not from n = 1); a first snapshot
    # without a correlation still starts it, so the axis does not jump when that snapshot gets one.
    late = plots_live.convergence_html(np.array([100, 200, 500, 1000]), np.array([np.nan, 0.5, 0.8, 1.0]))
    late_svg = base64.b64decode(re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', late).group(1)).decode()
    late_xs = [float(p.split(",")[0]) for p in re.search(r'points="([^"]+)"', late_svg).group(1).split()]
    xs = [float(p.split(",")[0]) for p in points]
    assert xs[0] == 44.0 and xs[-1] == 588.0  # the plot area's left and right edges
    assert len(late_xs) == 3 and late_xs[0] == xs[1] > xs[0] and late_xs[-1] == xs[-1]


def test_a_class_never_predicted_is_blank_while_the_run_grows_as_in_the_final_figure() -> None:
    """The final Plotly figure leaves an undefined (all-NaN) class image see-through; the live tiles drew it grey,
    so the picture changed at the switch (a review)."""
    import base64
    import io
    import re

    import numpy as np
    from PIL import Image

    from core.picture import Picture

    values = np.random.default_rng(1).normal(size=(10, 28, 28))
    values[3] = np.nan
    shown = Picture(values, [str(k) for k in range(10)], "z-score", True, None, 1.0, np.zeros(10, bool))
    sources = re.findall(r'src="data:image/png;base64,([^"]+)"', plots_live.picture_html(shown, 100, 1_000))
    alphas = [np.asarray(Image.open(io.BytesIO(base64.b64decode(source))).convert("RGBA"))[..., 3]
              for source in sources[:10]]
    assert np.all(alphas[3] == 0) and all(np.all(alpha == 255) for k, alpha in enumerate(alphas) if k != 3)


@pytest.mark.parametrize("phone", [False, True])
@pytest.mark.parametrize(("spread", "signed"), [(0.03, True), (4.0, True), (0.3, False)])
def test_the_partial_picture_s_colour_bar_is_ticked_where_the_figure_s_is(phone: bool, spread: float,
                                                                           signed: bool) -> None:
    """The live colour bar wrote only the scale's ends ("0.055"), the figure's Plotly ticks ("0.04", "0.02", …): the
    labels changed as the figure replaced it. Both now write ``plots.colour_ticks``, at the same places on the
    bar."""
    import re

    from core.picture import Picture

    values = np.random.default_rng(5).normal(0.5 if not signed else 0.0, spread, size=(10, 28, 28))
    shown = Picture(values, [str(k) for k in range(10)], "Δ", signed, None, 0.0, np.zeros(10, bool))
    bar = shown.figure(phone=phone).data[0].colorbar
    low, high = plots.colour_range(values, signed)
    assert list(bar.tickvals) == plots.colour_ticks(low, high, plots.phone_colour_bar_length() if phone else
                                                    plots.upright_colour_bar_length(shown.figure().layout.height),
                                                    not phone)
    html = plots_live.picture_html(shown, 100, 1_000, phone=phone)
    written = re.findall(r'<span style="position:absolute;font-size:12px[^"]*">([^<]*)</span>', html)
    assert [w for w in written if w != "Δ"] == list(bar.ticktext) and len(bar.ticktext) >= 3
    # each at its value's place along the bar: from the top on a wide screen, from the left on a phone
    places = [float(at) for at in re.findall(r"top:([\d.]+)px\">[^<]*</span>" if not phone else
                                              r"\+ ([\d.]+) \* \(\(100cqw", html)]
    fractions = [(tick - low) / (high - low) for tick in bar.tickvals]
    if phone:
        assert places == pytest.approx(fractions, abs=1e-4)
    else:
        length = plots.upright_colour_bar_length(shown.figure().layout.height)
        top = plots.FIGURE_MARGIN + plots.COLOUR_BAR_PAD
        assert places[:len(fractions)] == pytest.approx([top + (1 - f) * length - 7 for f in fractions], abs=0.06)


def test_colour_ticks_follow_plotly_s_rule() -> None:
    """Steps of 2, 5 or 10 × 10^k, about one tick per 40 px upright and 80 px lying, as Plotly chose them on screen
    (−0.04 … 0.04 beside a 360-px grid, −0.05, 0, 0.05 under a phone's); labels as Plotly writes them."""
    def labels(low: float, high: float, length: float, upright: bool = True) -> list[str]:
        ticks = plots.colour_ticks(low, high, length, upright)
        return [plots.tick_text(tick, ticks) for tick in ticks]

    assert labels(-0.055, 0.055, 360) == ["−0.04", "−0.02", "0", "0.02", "0.04"]
    assert labels(-0.055, 0.055, 320, upright=False) == ["−0.05", "0", "0.05"]
    assert labels(0.13, 0.74, 360) == ["0.2", "0.3", "0.4", "0.5", "0.6", "0.7"]
    assert labels(-6.3, 6.3, 360) == ["−6", "−4", "−2", "0", "2", "4", "6"]
    assert labels(0.0, 1.0, 360) == ["0", "0.2", "0.4", "0.6", "0.8", "1"]
    assert plots.colour_ticks(0.5, 0.5, 360) == []  # a flat picture: no scale to tick


def test_the_partial_picture_writes_its_text_in_the_figures_grey() -> None:
    """The partial picture's titles and scale were in the page's near-black, the figure's in the grey the app gives
    Plotly's text (ui.frame.PLOT_TEXT_CONTRAST_CSS): every title and label darkened for a few seconds and greyed at
    the end of a change."""
    import re

    from core.picture import Picture
    from ui.frame import PLOT_TEXT_CONTRAST_CSS

    shown = Picture(np.random.default_rng(1).normal(size=(10, 28, 28)), [str(k) for k in range(10)], "z", True,
                    None, 0.0, np.zeros(10, bool))
    for phone in (False, True):
        html = plots_live.picture_html(shown, 100, 1_000, phone=phone)
        titles = re.findall(r'<figcaption style="([^"]*)"', html)  # (their lines' spans inherit it)
        scale = re.findall(r'<span style="(position:absolute;font-size:12px[^"]*)"', html)  # ticks and title
        assert len(titles) == 10 and len(scale) >= 4
        assert all(f"color:{plots.PLOT_TEXT_COLOUR}" in style for style in titles + scale)
    assert f"fill: {plots.PLOT_TEXT_COLOUR} !important" in PLOT_TEXT_CONTRAST_CSS
