"""AppTest helpers shared by the page tests and the tests of the ui modules."""

from __future__ import annotations

import base64
import json

import numpy as np

from streamlit.runtime.media_file_manager import MediaFileManager
from streamlit.testing.v1 import AppTest, app_test

from core.config import PROJECT_ROOT

APP = str(PROJECT_ROOT / "app.py")
TIMEOUT = 240  # the first run imports TensorFlow and traces the analysis graph
PAGES = ["pages/home.py", "pages/lesson.py", "pages/models.py", "pages/class_images.py", "pages/confusion.py",
         "pages/compare.py", "pages/attack.py", "pages/receptive_fields.py", "pages/kernels.py",
         "pages/significance.py", "pages/your_digit.py"]


def open_page(page: str, **query: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    for key, value in query.items():
        at.query_params[key] = value
    at.switch_page(page)
    at.run()
    return at


def figure(at: AppTest, index: int = 0) -> dict:
    return json.loads(at.get("plotly_chart")[index].proto.spec)


def figure_data(at: AppTest, index: int = 0) -> list:
    return figure(at, index)["data"]


def plotly_array(value) -> np.ndarray:
    """A Plotly figure's array as sent to the browser: a list, or base64 with its dtype and shape."""
    if isinstance(value, dict):
        array = np.frombuffer(base64.b64decode(value["bdata"]), value["dtype"])
        return array.reshape([int(d) for d in str(value["shape"]).split(",")]) if "shape" in value else array
    return np.array(value, float)


def assert_clean(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    # every chart says in words what it shows (a screen reader read the ticks and titles as a jumble)
    assert all(chart.proto.alt for chart in at.get("plotly_chart")), \
        [json.loads(chart.proto.spec)["layout"].get("yaxis") for chart in at.get("plotly_chart") if not chart.proto.alt]


class _KeptMediaFiles(MediaFileManager):
    """AppTest's media file manager, kept after the run so a test can press a deferred download button."""

    last: "_KeptMediaFiles | None" = None

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        _KeptMediaFiles.last = self


def keeping_downloads(monkeypatch) -> None:
    """Make ``downloaded`` work for the AppTest runs that follow (AppTest drops its media files with each run)."""
    monkeypatch.setattr(app_test, "MediaFileManager", _KeptMediaFiles)


def downloaded(at: AppTest, key: str) -> bytes:
    """What the download button ``key`` gives when pressed: its ``data`` callable run as Streamlit runs it."""
    button = next(b for b in at.get("download_button") if b.proto.id.endswith(f"-{key}"))
    manager = _KeptMediaFiles.last
    assert manager is not None, "call keeping_downloads(monkeypatch) before the run"
    url = manager.execute_deferred(button.proto.deferred_file_id) if button.proto.deferred_file_id \
        else button.proto.url  # data given as it is, not as a callable
    return manager._storage.get_file(url.rsplit("/", 1)[-1].split(".")[0]).content
