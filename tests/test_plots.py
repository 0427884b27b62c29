"""Figure builders: the class-image mosaic puts every image where its title says, and the colour rules hold."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

from core import plots


def ten_images() -> np.ndarray:
    """Image k is filled with k (and one marked pixel), so a misplaced tile is easy to see."""
    images = np.repeat(np.arange(10, dtype=np.float64)[:, None, None], 28, axis=1).repeat(28, axis=2)
    images[:, 3, 5] = -1.0
    return images


def test_mosaic_places_each_tile_and_leaves_gaps_empty() -> None:
    canvas, corners = plots.mosaic(ten_images(), columns=5)
    for index, (left, top) in enumerate(corners):
        tile = canvas[top : top + 28, left : left + 28]
        assert tile[3, 5] == -1.0 and np.all(np.delete(tile.ravel(), 3 * 28 + 5) == index)
    assert np.isnan(canvas).sum() == canvas.size - 10 * 28 * 28  # everything else is background
    assert corners[5][1] > corners[0][1] and corners[1][0] > corners[0][0]  # row-major, two rows


def test_class_images_figure_is_one_heatmap_with_ten_titles_and_pixel_hover() -> None:
    titles = [f"class {k}" for k in range(10)]
    fig = plots.class_images_figure(ten_images() - 4.5, titles, signed=True, colorbar_title="Δ")
    assert len(fig.data) == 1
    heatmap = fig.data[0]
    assert heatmap.zmid == 0.0 and heatmap.zmin == -heatmap.zmax  # diverging, centred at zero
    assert [a.text for a in fig.layout.annotations] == titles
    z, pixel = np.asarray(heatmap.z), np.asarray(heatmap.customdata)
    top, left = np.argwhere(z == -5.5)[0]  # the marked pixel of tile 0 sits at (x 5, y 3) of its own image
    assert tuple(pixel[top, left]) == (5, 3)
    for annotation, (left, _) in zip(fig.layout.annotations, plots.mosaic(ten_images(), 5)[1]):
        assert left <= annotation.x <= left + 27  # each title sits above its own tile
    sent = json.loads(fig.to_json())["data"][0]
    assert sent["z"]["dtype"] == "f4" and sent["customdata"]["dtype"] == "i1"  # packed, and half the bytes of f8


def test_a_phone_gets_three_panels_across_titles_on_two_lines_and_the_colour_bar_underneath() -> None:
    """On a 390-px phone the 2 × 5 grid had ~40-px panels under a full-height colour bar, and titles such as
    "2 (8, too few)" and "1: never predicted" ran into each other."""
    titles = ["0 (12, too few)", "1: never predicted"] + [f"{k} (1,285)" for k in range(2, 10)]
    wide = plots.class_images_figure(ten_images() - 4.5, titles, True, "Δ")
    phone = plots.class_images_figure(ten_images() - 4.5, titles, True, "Δ", height=plots.HALF_WIDTH_GRID, phone=True)
    assert np.asarray(phone.data[0].z).shape[1] == plots.PHONE_COLUMNS * 30 - 2  # three 28-px tiles, 2-px gaps
    assert np.asarray(wide.data[0].z).shape[1] == 5 * 30 - 2
    assert [a.text for a in phone.layout.annotations][:3] == ["0<br>(12, too few)", "1<br>never predicted",
                                                             "2<br>(1,285)"]
    bar = phone.data[0].colorbar
    assert bar.orientation == "h" and bar.yanchor == "top" and bar.y < 0 and bar.title.side == "top"
    assert phone.layout.height == plots.phone_grid_height(10) > 500  # four rows of ~110-px panels, not 250 px
    # Each title line fits over its own panel at a phone's width (~0.6 em a character, Plotly's sans-serif).
    panel = plots._PHONE_WIDTH * 28 / (plots.PHONE_COLUMNS * 30 - 2)
    assert max(len(line) for title in titles for line in plots.title_lines(title)) * 0.6 * 11 < panel


def test_a_phone_gets_example_strips_in_full_rows_of_at_most_four() -> None:
    """Eight examples in one row of a phone's width had titles such as "noise → 0 ✓" over each other."""
    def across(figure) -> int:
        return (np.asarray(figure.data[0].z).shape[1] + 2) // 30

    for count, columns in ((8, 4), (5, 3), (3, 3), (10, 4)):
        images = np.zeros((count, 28, 28))
        phone = plots.stimuli_strip(images, [f"γ = 0.50: the input {k}" for k in range(count)], phone=True)
        assert across(phone) == columns, count
        assert phone.layout.height == plots.phone_grid_height(count, columns, 8)
        assert phone.layout.annotations[0].text == "γ = 0.50<br>the input 0"
        assert across(plots.stimuli_strip(images, [str(k) for k in range(count)])) == count  # one row elsewhere


def test_on_a_phone_matrices_keep_their_width_and_training_curves_stack() -> None:
    """Beside a 10 × 10 matrix, the colour bar left a phone's cells so narrow that Plotly wrote their numbers at
    6 px; side by side, the loss and accuracy plots crowded a dozen epoch ticks into ~150 px each."""
    matrix = plots.probability_heatmap(np.eye(10), list("abcdefghij"), list("abcdefghij"), "true", "predicted",
                                       phone=True)
    bar = matrix.data[0].colorbar
    assert bar.orientation == "h" and bar.yref == "container" and bar.y == 0 and bar.title.side == "bottom"
    assert matrix.data[0].textfont.size == 11  # 9 px was too small to read the confusions (a phone review)
    assert plots.confusion_heatmap(np.eye(10), list("abcdefghij"), phone=True).data[0].colorbar.orientation == "h"
    assert plots.probability_heatmap(np.eye(10), list("abcdefghij"), list("abcdefghij"), "t", "p").data[0] \
        .colorbar.orientation is None  # beside the matrix on a wide screen
    # Compare's half-width columns on a desktop: its numbers were ~6 px there too
    narrow = plots.probability_heatmap(np.eye(10), list("abcdefghij"), list("abcdefghij"), "t", "p", narrow=True)
    assert narrow.data[0].colorbar.orientation == "h" and narrow.data[0].textfont.size == 11
    history = {"loss": [0.3, 0.1], "val_loss": [0.2, 0.1], "accuracy": [0.9, 0.97], "val_accuracy": [0.95, 0.98]}
    phone = plots.training_figure(history, phone=True)
    assert phone.layout.xaxis.domain == phone.layout.xaxis2.domain  # one above the other
    assert phone.layout.yaxis.domain[0] > phone.layout.yaxis2.domain[1]
    assert phone.layout.xaxis.title.text is None and phone.layout.xaxis2.title.text == "epoch"
    wide = plots.training_figure(history)
    assert wide.layout.yaxis.domain == wide.layout.yaxis2.domain  # side by side


def test_title_lines_split_a_title_at_its_count() -> None:
    assert plots.title_lines("T-shirt/top (8, too few)") == ("T-shirt/top", "(8, too few)")
    assert plots.title_lines("1: never predicted") == ("1", "never predicted")
    assert plots.title_lines("Ankle boot*") == ("Ankle boot*", "")


def test_stimuli_strip_uses_the_fixed_input_scale() -> None:
    strip = plots.stimuli_strip(np.random.default_rng(0).random((8, 28, 28)), [f"#{i}" for i in range(8)])
    assert len(strip.data) == 1 and (strip.data[0].zmin, strip.data[0].zmax) == (0.0, 1.0)
    assert len(strip.layout.annotations) == 8


def test_symmetric_limit_ignores_classes_with_almost_no_weight() -> None:
    images = np.zeros((10, 28, 28))
    images[0] = 100.0  # a class seen once: pure noise, must not wash out the others
    images[1:] = np.linspace(-1, 1, 784).reshape(28, 28)
    weights = np.array([1, *[1000] * 9], dtype=float)
    assert plots.symmetric_limit(images, weights) <= 1.0
    assert plots.symmetric_limit(images) == 100.0


def test_scarce_classes_are_those_under_one_percent_of_the_weight() -> None:
    weights = np.array([5000.0, 4000.0, 900.0, 150.0, 30.0, 10.0, 0.0, 0.0, 0.0, np.nan])
    assert plots.scarce(weights).tolist() == [False, False, False, False, True, True, True, True, True, True]
    assert not plots.scarce(np.zeros(10)).any()  # nothing to compare with: nothing is scarce


def test_confusion_heatmap_says_its_colours_are_row_fractions() -> None:
    counts = np.diag(np.arange(1, 11))
    figure = plots.confusion_heatmap(counts, [str(d) for d in range(10)])
    assert figure.data[0].colorbar.title.text == "fraction of row"
    assert plots.probability_heatmap(np.eye(10), list("abcdefghij"), list("abcdefghij"), "r", "c") \
        .data[0].colorbar.title.text == "probability"


def test_grid_png_is_a_real_png_of_the_expected_size() -> None:
    png = plots.class_grid_png(ten_images(), [str(k) for k in range(10)], signed=True, scale=2)
    image = Image.open(io.BytesIO(png))
    grid_height = 2 * (56 + 16 + 8) + 8
    assert image.format == "PNG" and image.size == (5 * (56 + 8) + 8, grid_height + 12 + 2 * 16)


def _grid_png(images: np.ndarray, signed: bool = True, **scaling) -> np.ndarray:
    png = plots.class_grid_png(images, [str(k) for k in range(10)], signed=signed, scale=2, label="z-score",
                               **scaling)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


@pytest.mark.parametrize("signed", [True, False])
def test_grid_png_leaves_a_class_never_predicted_blank_as_the_screen_does(signed: bool) -> None:
    """The figure and the live tiles leave an undefined image see-through; the PNG painted it grey (diverging
    scale) or black (grey scale): a review."""
    images = ten_images().astype(float) - 4.5
    images[3] = np.nan
    pixels = _grid_png(images, signed=signed)
    tile = pixels[8 + 16 : 8 + 16 + 56, 8 + 3 * 64 : 8 + 3 * 64 + 56]  # class 3: first row, fourth column
    assert (tile == 255).all()
    assert not (pixels[8 + 16 : 8 + 16 + 56, 8 : 8 + 56] == 255).all()  # class 0 beside it is drawn


def _colour_bar(pixels: np.ndarray) -> np.ndarray:
    """The middle row of the colour scale strip under the grid (scale 2: tiles of 56 px, gaps of 8)."""
    top = 2 * (56 + 16 + 8) + 8
    return pixels[top + 6, 8 + 56 + 8 : 8 + 56 + 8 + 3 * 56 + 2 * 8]


def test_grid_png_carries_its_colour_scale() -> None:
    bar = _colour_bar(_grid_png(ten_images() - 4.5))
    ends = plots._diverging_table()[[0, -1]]  # the scale's own end colours, as Plotly samples them
    assert tuple(bar[0]) == tuple(ends[0]) and tuple(bar[-1]) == tuple(ends[1])
    assert np.abs(bar[len(bar) // 2] - 247).max() <= 12  # zero sits at the middle, in the scale's white
    grey = _colour_bar(_grid_png(ten_images() + 1.0, signed=False))
    assert tuple(grey[0]) == (0, 0, 0) and tuple(grey[-1]) == (255, 255, 255)


def test_grid_png_scales_z_scores_like_the_page() -> None:
    """Chance-level z-scores (|z| < 1) on a scale spanning at least ±3 stay pale, as in the dashboard's figure."""
    faint = np.random.default_rng(0).uniform(-1, 1, (10, 28, 28))
    tile = (slice(8 + 16, 8 + 16 + 56), slice(8, 8 + 56))
    own_scale = _grid_png(faint)[tile]
    from_three = _grid_png(faint, least_limit=3.0)[tile]
    assert np.abs(from_three - 247).max() < np.abs(own_scale - 247).max() / 2


def test_grid_png_leaves_scarce_classes_out_of_the_scale() -> None:
    images = np.random.default_rng(1).uniform(-0.1, 0.1, (10, 28, 28))
    images[9] *= 100  # a class seen twice: pure noise, and huge
    weights = np.array([1000.0] * 9 + [2.0])
    tile = (slice(8 + 16, 8 + 16 + 56), slice(8, 8 + 56))
    assert np.abs(_grid_png(images, weights=weights)[tile] - 247).max() > \
        2 * np.abs(_grid_png(images)[tile] - 247).max()


def test_a_titled_png_keeps_the_picture_and_writes_its_title_and_legend() -> None:
    """The CLI's PNGs carry the settings that made them, and significance.png the meaning of its outlines."""
    from core.plots import class_grid_png, titled_png

    content = class_grid_png(np.zeros((10, 28, 28)), [str(c) for c in range(10)])
    original = np.asarray(Image.open(io.BytesIO(content)).convert("RGB"))
    titled = np.asarray(Image.open(io.BytesIO(titled_png(content, "lenet-mnist, N = 1,000, seed 0",
                                                         [("pixel test", "black")]))).convert("RGB"))
    band = (titled.shape[0] - original.shape[0]) // 2
    assert titled.shape[1] == original.shape[1] and band > 0
    assert np.array_equal(titled[band:band + original.shape[0]], original)
    assert (titled[:band] < 128).any() and (titled[-band:] < 128).any()  # the title's and the legend's ink
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(titled_png(content))).convert("RGB")), original)


def test_training_history_is_ticked_in_whole_epochs() -> None:
    """A one-epoch model's charts were ticked 0.5 and 1.5 (Plotly's own choice for a single point)."""
    figure = plots.training_figure({"loss": [0.3], "val_loss": [0.2], "accuracy": [0.9], "val_accuracy": [0.93]})
    assert figure.layout.xaxis.dtick == 1 and figure.layout.xaxis2.dtick == 1
    # ... and its single points inside the plot, not on its edge: loss from zero, accuracy to 100 %
    assert tuple(figure.layout.yaxis.range) == (0, pytest.approx(0.33))
    assert tuple(figure.layout.yaxis2.range) == (pytest.approx(0.85), 1.02)


def test_accuracy_curves_are_drawn_from_just_below_their_lowest_point() -> None:
    """From zero, a shipped model's 91-99 % accuracies were two flat lines along the top of the chart."""
    assert plots.accuracy_floor({"accuracy": [0.913, 0.98], "val_accuracy": [0.95, 0.994]}) == pytest.approx(0.85)
    assert plots.accuracy_floor({"accuracy": [0.05, 0.3]}) == 0.0  # a run that starts at chance: from zero
    assert plots.accuracy_floor({"accuracy": [0.6]}) == pytest.approx(0.55)
    assert plots.accuracy_floor({}) == 0.0


def test_the_convergence_curve_is_ticked_at_its_snapshots() -> None:
    """Plotly's own log ticks read "100, 2, 5, 1000, 2, 5" at small N."""
    figure = plots.convergence_figure(np.array([100, 200, 500, 1_000, 2_000]), np.array([0.2, 0.4, 0.6, 0.8, 1.0]))
    assert list(figure.layout.xaxis.tickvals) == [100, 200, 500, 1_000, 2_000]
    assert list(figure.layout.xaxis.ticktext) == ["100", "200", "500", "1k", "2k"]
    assert [plots.sample_count_label(n) for n in (50_000, 1_000_000, 1_234)] == ["50k", "1M", "1,234"]


def test_a_convergence_chart_of_one_point_says_why() -> None:
    """At N = 100 the chart was a lone dot at 1, with nothing to say that a larger N draws a curve."""
    lone = plots.convergence_figure(np.array([100]), np.array([1.0]))
    assert [a.text for a in lone.layout.annotations] == ["one point only, at the final N: a curve needs N above 100"]
    assert not plots.convergence_figure(np.array([100, 200]), np.array([0.9, 1.0])).layout.annotations


def test_class_bias_labels_stay_level() -> None:
    """Inside the bars Plotly turned the labels of narrow bars on end and left the wide ones level; outside it shrank
    them to the bars' width (8-10 px on a phone)."""
    bar = plots.bias_bar(np.array([5, 900, 95, 0, 0, 0, 0, 0, 0, 0]), [str(c) for c in range(10)], 1_000).data[0]
    assert bar.textangle == 0 and bar.textposition == "outside" and bar.text[1] == "90.0"
    assert bar.constraintext == "none" and bar.textfont.size == 11
    # a class chosen 3 times in 10,000 is not "0.0", as if never (a review); live, the same with its %
    few = np.array([3, 0, 9_997, 0, 0, 0, 0, 0, 0, 0])
    assert list(plots.bias_bar(few, [str(c) for c in range(10)], 10_000).data[0].text[:3]) == ["<0.1", "0.0", "100.0"]
    from core.plots_live import bias_html

    live = bias_html(few, [str(c) for c in range(10)], 10_000)
    assert ">&lt;0.1%<" in live


def test_training_curves_keep_their_colours_whatever_the_history_holds() -> None:
    """Live, the history lacked a series and every later trace took the next colour: training accuracy was drawn
    in the colour the finished chart gives test loss."""
    full = {"loss": [0.5, 0.3], "val_loss": [0.4, 0.35], "accuracy": [0.8, 0.9], "val_accuracy": [0.85, 0.88]}
    live = {key: values for key, values in full.items() if key != "val_loss"}
    colours = {figure: {trace.meta: trace.line.color for trace in plots.training_figure(history).data}
               for figure, history in (("full", full), ("live", live))}
    assert colours["live"] == {name: colour for name, colour in colours["full"].items() if name != "test loss"}
    assert colours["full"]["training accuracy"] == colours["full"]["training loss"] != colours["full"]["test loss"]


def test_the_training_legend_has_one_entry_per_colour_and_the_loss_axis_a_title() -> None:
    """Four legend entries in two colours read as a puzzle, and the loss axis had no title (a review)."""
    figure = plots.training_figure({"loss": [0.5, 0.3], "val_loss": [0.4, 0.35], "accuracy": [0.8, 0.9],
                                    "val_accuracy": [0.85, 0.88]})
    assert [trace.name for trace in figure.data if trace.showlegend] == ["training images", "test images"]
    assert {trace.legendgroup for trace in figure.data} == {"training", "test"}
    assert figure.layout.yaxis.title.text == "cross-entropy"
    assert figure.layout.yaxis2.title.text == "images classified right"  # it had none (a teacher's review)
    # live, before the first test loss, test accuracy carries the test entry (it had none: a review)
    live = plots.training_figure({"loss": [0.5], "accuracy": [0.8], "val_accuracy": [0.85]})
    assert [trace.name for trace in live.data if trace.showlegend] == ["training images", "test images"]


def test_a_rows_largest_value_never_reads_as_a_tie_with_a_smaller_one() -> None:
    """Two cells of a fed-back row read 0.27 (Lesson, step 5) while the count beside the matrix had the network
    choose one of them: the row gets a decimal more, and only that row; equal values and empty rows stay as they are."""
    matrix = np.full((3, 4), 0.1)
    matrix[0, :2] = 0.274, 0.266  # both 0.27
    matrix[1] = 0.25  # a true tie
    matrix[2] = np.nan  # a confusion row with no image
    assert plots.cell_numbers(matrix) == [["0.274", "0.266", "0.100", "0.100"], ["0.25"] * 4, [""] * 4]
    # a phone's 26-px cells: no leading zero, and nothing where the value reads as zero, so the type can be 11 px
    assert plots.cell_numbers([[0.61, 0.004, 0.27, 1.0, np.nan]], short=True) == [[".61", "", ".27", "1.00", ""]]
    assert plots.cell_numbers(matrix, short=True)[0] == [".274", ".266", ".100", ".100"]
    # and the caption says why that row has three decimals (it looked like a mistake, a review); no row, no word
    assert "gets more decimals" in plots.tie_note(matrix) and plots.tie_note(matrix[1:]) == ""
    phone = plots.probability_heatmap(np.diag([0.61] * 10), list("abcdefghij"), list("abcdefghij"), "t", "p",
                                      phone=True)
    assert list(phone.data[0].text[0][:2]) == [".61", ""]
    assert plots.cell_numbers([[0.27041, 0.26962, 0.27]])[0][:2] == ["0.2704", "0.2696"]
    figure = plots.probability_heatmap(matrix, list("abc"), list("abcd"), "r", "c")
    assert figure.data[0].texttemplate == "%{text}" and figure.data[0].text[0][0] == "0.274"


def test_colour_bar_titles_sit_beside_the_bar_where_the_toolbar_cannot_cover_them() -> None:
    images = plots.class_images_figure(ten_images() - 4.5, [str(c) for c in range(10)], True, "covariance")
    matrix = plots.probability_heatmap(np.eye(10), list("abcdefghij"), list("abcdefghij"), "true", "predicted")
    assert images.data[0].colorbar.title.side == "right" == matrix.data[0].colorbar.title.side
    assert images.data[0].colorbar.title.text == "covariance"


def test_line_chart_legends_sit_under_the_axis_title_clear_of_the_toolbar() -> None:
    """Across the top, the legends of the attack, ridge and γ-sweep charts ran under Plotly's toolbar (shown while
    the pointer is over a chart, always on a touch screen): at 1280 pixels it hid the attack chart's last entry."""
    from core.digit import FlipSweep
    from core.plots_digit import sweep_figure
    from core.plots_readout import ridge_curve
    from core.plots_significance import info_value_figure
    from core.significance import InfoValues

    gammas = np.linspace(0.0, 1.0, 11)
    probabilities = np.tile(np.eye(10)[3], (11, 1))
    probabilities[6:] = np.eye(10)[7]
    figures = {
        "training": plots.training_figure({"loss": [0.3, 0.1], "val_loss": [0.2, 0.1], "accuracy": [0.9, 0.97],
                                           "val_accuracy": [0.95, 0.98]}),
        "ridge": ridge_curve([0.0, 0.1, 1.0], {"raw_template": [0.4] * 3, "whitened_template": [0.4] * 3,
                                               "readout": [0.3, 0.2, 0.1]}, 0.1, model_accuracy=0.99),
        "sweep": sweep_figure(FlipSweep(gammas, probabilities, 7), [str(k) for k in range(10)], 0.5),
        "infoval": info_value_figure(InfoValues([str(k) for k in range(10)] + ["all classes"], np.ones(11),
                                                np.ones(11), np.ones(11), np.linspace(0.5, 12.0, 11))),
    }
    for name, figure in figures.items():
        legend = figure.layout.legend
        assert (legend.yref, legend.y, legend.yanchor, legend.orientation) == ("container", 0, "bottom", "h"), name


def test_reference_line_labels_stay_off_the_curves() -> None:
    """"chance" sat above its line on the right, on a linear read-out that falls to chance at strong ridges; "flips
    at γ" sat beside the top of its line, on the answer's own curve, still near 1 just before the flip."""
    from core.digit import FlipSweep
    from core.plots_digit import sweep_figure
    from core.plots_readout import ridge_curve

    ridge = ridge_curve([0.0, 1.0, 10.0], {"raw_template": [0.4] * 3, "whitened_template": [0.4] * 3,
                                           "readout": [0.2, 0.15, 0.096]}, 1.0)
    chance = next(note for note in ridge.layout.annotations if note.text == "chance")
    assert (chance.x, chance.xref, chance.xanchor, chance.yanchor) == (0, "x domain", "left", "top")  # under, left
    # "the network" lay on "λ chosen" at the top right when λ was the largest (a class review): left, under its line
    chosen_last = ridge_curve([0.0, 1.0, 10.0], {"readout": [0.2, 0.15, 0.096]}, 10.0, model_accuracy=0.99)
    network = next(note for note in chosen_last.layout.annotations if note.text == "the network")
    chosen = next(note for note in chosen_last.layout.annotations if note.text == "λ chosen")
    assert (network.x, network.xanchor, network.yanchor) == (0, "left", "top") and chosen.x == 2
    gammas = np.linspace(0.0, 1.0, 11)
    probabilities = np.tile(np.eye(10)[3], (11, 1))
    probabilities[6:] = np.eye(10)[7]
    sweep = sweep_figure(FlipSweep(gammas, probabilities, 7), [str(k) for k in range(10)], 0.5)
    flip = next(note for note in sweep.layout.annotations if note.text.startswith("flips at"))
    assert (flip.y, flip.yref, flip.yanchor) == (1, "y domain", "bottom")  # above the plotting area
