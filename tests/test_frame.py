"""The app's frame: a page opened by its link gets app.py's navigation and sidebar, also in a run Streamlit began
in its legacy pages/ mode (ui/frame.py). The browser version, with many sessions at once: test_deep_links.py."""

from __future__ import annotations

from streamlit.runtime.pages_manager import PagesManager

from tests.apptest import open_page
from ui.frame import PAGES


def test_a_page_opened_directly_gets_the_apps_navigation_and_sidebar(real_data_dir) -> None:
    """AppTest starts every run with the legacy flag set (as a server does for its first sessions): the page must
    reroute through app.py, not draw itself alone."""
    at = open_page("pages/confusion.py", n="100", seed="77")
    assert not at.exception
    assert PagesManager.uses_pages_directory is False
    links = [link.proto.label for link in at.sidebar.get("page_link")]
    assert links == [title for _, title, _ in PAGES]
    assert links[:4] == ["Home", "Lesson", "Models", "Classification images"]
    assert [choice.key for choice in at.sidebar.radio] == ["dataset", "arch"]
    assert at.title[0].value == "Confusion heatmaps" and at.number_input(key="seed").value == 77


def test_every_chart_s_toolbar_keeps_four_buttons_for_the_keyboard(real_data_dir) -> None:
    """Eight toolbar buttons per chart were eight stops of the Tab key each (32 to pass Classification images' four
    charts); zoom in / out, pan and autoscale repeat the zoom box and its reset, and go. (The browser test of the
    keyboard counts what is left on screen: tests/test_e2e.py.)"""
    import json

    at = open_page("pages/class_images.py", n="100")
    charts = at.get("plotly_chart")
    assert len(charts) == 4
    for chart in charts:
        config = json.loads(chart.proto.config)
        assert config["displaylogo"] is False
        assert set(config["modeBarButtonsToRemove"]) == {"pan2d", "zoomIn2d", "zoomOut2d", "autoScale2d"}
