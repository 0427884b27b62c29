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
