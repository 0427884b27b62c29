"""Missing data or models give a friendly panel, never a traceback; an engine evicted from the shared cache is freed
(ui/resources.py)."""

from __future__ import annotations

import pytest
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


def test_a_data_folder_passed_over_is_named_on_the_page(tmp_path, monkeypatch, real_data_dir) -> None:
    """A mistyped NOISELENS_DATA_DIR fell through to Keras's cache without a word (a review): the page warns."""
    from core.data import load_dataset

    (tmp_path / "keras" / "datasets").mkdir(parents=True)
    (tmp_path / "keras" / "datasets" / "fashion-mnist").symlink_to(real_data_dir / "fashion-mnist")
    monkeypatch.setenv("NOISELENS_DATA_DIR", str(tmp_path / "typo"))
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr("core.data._SOURCES", __import__("core.data").data._SOURCES[:2])  # no network here
    from ui import resources

    def page() -> None:
        from ui import resources

        resources.data_or_stop("fashion_mnist")

    load_dataset.cache_clear()
    resources.dataset.clear()
    try:
        at = AppTest.from_function(page, default_timeout=TIMEOUT).run()
    finally:
        load_dataset.cache_clear()
        resources.dataset.clear()
    assert not at.exception
    assert "read from the Keras cache, not from the folder asked for: NOISELENS_DATA_DIR=" in at.warning[0].value


def test_missing_model_offers_training(temp_cache, real_data_dir) -> None:
    at = open_page("pages/class_images.py")
    assert not at.exception
    assert "not trained yet" in " ".join(w.value for w in at.warning)


@pytest.mark.slow  # traces a model's gradient graphs twice (15-30 s)
def test_an_evicted_engine_is_freed_after_the_heap_was_frozen(mnist) -> None:
    """The heap is frozen once a shared engine has traced its graphs (Streamlit's collection after every run then
    skips them), and a frozen object is freed by reference counting only. An engine's graphs hold reference
    cycles, so an engine frozen while in the cache and evicted later stayed alive for the server's lifetime: the
    next settling must collect it. Settling is once per engine and graph variant, and again for an engine rebuilt
    under the same setting."""
    import gc
    import weakref

    from core.reverse_correlation import AnalysisSettings, Analyzer
    from core.noise import NoiseSpec
    from core.store import load_model
    from ui import resources

    model, _ = load_model("lenet", "mnist")
    settings = AnalysisSettings(NoiseSpec("gaussian", seed=3), gradients=True)  # such a run puts it in a cycle
    try:
        cached = Analyzer(model, mnist, "gaussian", chunk_size=100)
        cached.run(settings, 100)
        resources.settle_heap(cached, (False, True, True))
        evicted = weakref.ref(cached)
        del cached  # evicted from the shared cache: nothing refers to it any more, but its graphs form cycles
        rebuilt = Analyzer(model, mnist, "gaussian", chunk_size=100)  # the same setting, built again
        rebuilt.run(settings, 100)
        frozen = gc.get_freeze_count()
        resources.settle_heap(rebuilt, (False, True, True))
        assert evicted() is None
        assert gc.get_freeze_count() != frozen  # a new engine is settled even under a key seen before
        frozen = gc.get_freeze_count()
        resources.settle_heap(rebuilt, (False, True, True))
        assert gc.get_freeze_count() == frozen  # once per engine and variant
    finally:
        gc.unfreeze()


def test_a_visitors_own_model_keeps_engines_for_its_last_two_noise_types(mnist) -> None:
    """One engine per noise type came to ~85 MB for each model a visitor trained (a reviewer), four models a tab,
    every tab a session: a visitor's model keeps the engines of its last two noise types."""
    from types import SimpleNamespace

    from core.store import load_model
    from ui.session_models import ANALYZERS_PER_MODEL, SessionModel

    own = SessionModel("lenet", "mnist", SimpleNamespace(model=load_model("lenet", "mnist")[0]))
    first = own.analyzer("uniform", lambda: mnist, 1024)
    assert own.analyzer("uniform", lambda: mnist, 1024) is first  # kept while in use
    for noise in ("gaussian", "pink", "uniform", "base"):
        own.analyzer(noise, lambda: mnist, 1024)
    assert ANALYZERS_PER_MODEL == 2 and sorted(own._analyzers) == ["base", "uniform"]


def test_a_model_replaced_while_compare_loads_it_is_a_note_not_an_error_box(real_data_dir, monkeypatch) -> None:
    """The pages' model cache refuses a model that is not the hash it is keyed by (a publish landing between the
    page's look and the load); Compare called it unguarded and would have shown Streamlit's error box (a review)."""
    from core.store import ModelChanging
    from ui import resources

    real = resources.model

    def replaced_for_alexnet(arch: str, dataset_name: str, sha256: str):
        if arch == "alexnet":
            raise ModelChanging(f"{arch}-{dataset_name} was replaced while it loaded")
        return real(arch, dataset_name, sha256)

    monkeypatch.setattr(resources, "model", replaced_for_alexnet)
    at = open_page("pages/compare.py", n="200")
    assert not at.exception
    notes = [info.value for info in at.info if "being replaced on the server" in info.value]
    assert len(notes) == 2  # AlexNet on both datasets; the LeNets drawn
    assert len(at.get("plotly_chart")) == 4
