"""Charts in words (``core.plots_alt``), read from the figures the pages draw."""

from __future__ import annotations

import numpy as np

from core import plots, plots_sta
from core.plots_alt import figure_alt
from core.plots_significance import info_value_figure, outlined_pixels_text
from core.significance import InfoValues

HISTORY = {"loss": [0.29, 0.08, 0.05], "val_loss": [0.06, 0.04, 0.03], "accuracy": [0.912, 0.975, 0.986],
           "val_accuracy": [0.981, 0.987, 0.99]}


def test_a_training_history_reads_as_two_panels_of_curves_each_from_start_to_end() -> None:
    wide = figure_alt(plots.training_figure(HISTORY))
    assert wide == ("Loss: cross-entropy against epoch: training images: from 0.29 at 1 to 0.05 at 3; test images: "
                    "from 0.06 at 1 to 0.03 at 3. Accuracy: images classified right against epoch: training images: "
                    "from 91.2% at 1 to 98.6% at 3; test images: from 98.1% at 1 to 99.0% at 3."), wide
    # on a phone the panels lie one above the other: each still gets its own title
    tall = figure_alt(plots.training_figure(HISTORY, phone=True))
    assert tall.startswith("Loss: cross-entropy against"), tall
    assert ". Accuracy: images classified right against epoch: training" in tall, tall


def test_a_curve_names_its_highest_point_only_where_it_is_neither_end() -> None:
    counts = np.array([100, 200, 500, 1000, 2000])
    rising = figure_alt(plots.convergence_figure(counts, np.array([0.75, 0.9, 0.97, 0.99, 1.0])))
    assert rising == ("Correlation with final images against stimuli so far (log scale): from 0.75 at 100 to 1 at "
                      "2,000."), rising
    dipping = figure_alt(plots.convergence_figure(counts, np.array([0.75, 0.98, 0.97, 0.99, 0.9])))
    assert dipping.endswith("from 0.75 at 100 to 0.9 at 2,000, highest 0.99 first at 1,000."), dipping


def test_bars_read_as_their_labels_write_them_and_a_confusion_matrix_by_its_rows() -> None:
    counts = np.array([5, 0, 1, 0, 0, 0, 0, 0, 0, 4])
    bars = figure_alt(plots.bias_bar(counts, [str(k) for k in range(10)], 10))
    assert bars == ("Bar chart of share of stimuli (%) by predicted class: 0 50.0, 1 0.0, 2 10.0, 3 0.0, 4 0.0, "
                    "5 0.0, 6 0.0, 7 0.0, 8 0.0, 9 40.0."), bars
    confusion = np.diag([9, 8, 7]) + np.array([[0, 1, 0], [4, 0, 0], [0, 0, 0]])
    matrix = figure_alt(plots.confusion_heatmap(confusion, ["a", "b", "c"]))
    assert matrix == ("Heatmap, true class (rows) against predicted class (columns); 3 of 3 rows have their largest "
                      "share on their own class. Largest per row: a → a (90%), b → b (67%), c → c (100%)."), matrix


def test_a_grid_of_tiles_names_them_and_its_colour_scale_and_many_bars_are_summed_up() -> None:
    units = np.random.default_rng(0).normal(size=(32, 5, 5))
    grid = figure_alt(plots_sta.units_figure(units, [str(k) for k in range(32)], colorbar_title="STA (per unit)"))
    assert grid == "32 images: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, …, 31. Colour: STA (per unit), from −1 to 1.", grid
    import plotly.graph_objects as go

    many = figure_alt(go.Figure(go.Bar(x=list(range(50)), y=np.arange(50) % 7)).update_layout(yaxis_title="n"))
    assert many == "Bar chart of n: 50 bars, lowest 0 (0), highest 6 (6).", many


def test_infoval_bars_lie_sideways_on_a_phone_and_the_threshold_line_is_named() -> None:
    info = InfoValues(names=["0", "1", "all classes"], norms=np.ones(3), medians=np.ones(3), mads=np.ones(3),
                      values=np.array([2.5, np.nan, 3.0]))
    for phone in (False, True):
        words = figure_alt(info_value_figure(info, phone=phone))
        assert words.startswith("Bar chart of infoVal (z) by class image: 0 2.5, 1 0, all classes 3. A line marks "
                                "1.96"), words
    assert outlined_pixels_text(["0", "1"], np.array([3, 0]), np.array([12, 0])) == \
        "Pixels outlined per class image (pixel test, cluster test): 0: 3, 12; 1: 0, 0."


def test_a_chart_with_no_values_yet_is_still_described() -> None:
    """A run stopped before its first snapshot drew a convergence chart with no points: its alt was empty, so
    Streamlit dropped it with a warning in the server's log (a review), and a screen reader heard nothing."""
    import plotly.graph_objects as go

    empty = figure_alt(plots.convergence_figure(np.array([]), np.array([])))
    assert empty == "Correlation with final images against stimuli so far (log scale): no values yet."
    assert figure_alt(plots.convergence_figure(np.array([100, 200]), np.full(2, np.nan))) == empty
    assert figure_alt(go.Figure()) == "A chart with no values yet."
