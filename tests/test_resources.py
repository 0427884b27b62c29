"""Missing data or models give a friendly panel, never a traceback (ui/resources.py)."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.apptest import APP, TIMEOUT, open_page


def test_missing_data_shows_a_friendly_panel(tmp_path, monkeypatch) -> None:
    from core.data import load_dataset

    monkeypatch.setenv("NOISELENS_DATA_DIR", str(tmp_path / "nowhere"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr("core.data._SOURCES", __import__("core.data").data._SOURCES[:2])  # no network here
    from ui import resources

    load_dataset.cache_clear()
    resources.dataset.clear()
    try:
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        at.switch_page("pages/class_images.py")
        at.run()
    finally:
        load_dataset.cache_clear()
        resources.dataset.clear()
    assert not at.exception
    assert "not available" in at.error[0].value
    assert any("NOISELENS_DATA_DIR" in m.value for m in at.markdown)


def test_missing_model_offers_training(temp_cache, real_data_dir) -> None:
    at = open_page("pages/class_images.py")
    assert not at.exception
    assert "not trained yet" in " ".join(w.value for w in at.warning)
