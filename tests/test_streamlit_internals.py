"""Guards for every touch of Streamlit's private internals (listed in ui/streamlit_internals.py): each fails
loudly if a Streamlit upgrade changes what it relies on."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from core.config import PROJECT_ROOT
from ui import streamlit_internals

APP = str(PROJECT_ROOT / "app.py")


def test_rerun_waiting_reads_streamlits_pending_request(monkeypatch) -> None:
    """``streamlit_internals.rerun_waiting`` reads a private field of Streamlit's request queue: this fails if it is
    renamed."""
    from streamlit.runtime.scriptrunner_utils.script_requests import RerunData, ScriptRequests

    requests = ScriptRequests()
    context = type("Context", (), {"script_requests": requests})()
    monkeypatch.setattr("streamlit.runtime.scriptrunner_utils.script_run_context.get_script_run_ctx",
                        lambda *args, **kwargs: context)
    assert not streamlit_internals.rerun_waiting()
    requests.request_rerun(RerunData(fragment_id_queue=["explorer"]))  # a control inside a fragment moved
    assert streamlit_internals.rerun_waiting()


def test_streamlit_keeps_keras_and_tensorflow_warm_between_runs(real_data_dir, monkeypatch) -> None:
    """Streamlit calls keras.backend.clear_session() after every run; that emptied TensorFlow's kernel cache, so
    every redraw rebuilt the analysis graph's kernels (45–60 ms of an AlexNet redraw). ui/streamlit_internals.py
    stops it."""
    import keras

    cleared = []
    monkeypatch.setattr(keras.backend, "clear_session", lambda *args, **kwargs: cleared.append(args))
    at = AppTest.from_file(APP, default_timeout=240)
    at.query_params["n"] = "200"
    at.switch_page("pages/class_images.py")
    at.run()
    at.number_input(key="seed").increment().run()
    assert not at.exception and not at.error
    assert cleared == []


def test_the_legacy_pages_flag_is_where_the_quarantine_expects_it() -> None:
    """``disable_legacy_pages`` clears a class-wide flag; a run reads it to choose the legacy ``pages/`` mode."""
    import inspect

    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_runner

    assert hasattr(PagesManager, "uses_pages_directory")
    assert "PagesManager.uses_pages_directory" in inspect.getsource(script_runner.ScriptRunner)
    before = PagesManager.uses_pages_directory
    try:
        PagesManager.uses_pages_directory = True
        streamlit_internals.disable_legacy_pages()
        assert PagesManager.uses_pages_directory is False
    finally:
        PagesManager.uses_pages_directory = before


def test_a_legacy_run_lists_the_entry_file_as_a_page(tmp_path) -> None:
    """``in_legacy_run`` tells the legacy mode by the entry file among the run's pages: Streamlit's legacy runner
    must still register it, and the pages manager must still give each page's ``script_path``."""
    import inspect

    from streamlit.runtime.pages_manager import PagesManager
    from streamlit.runtime.scriptrunner import script_runner

    assert "_create_page(resolved_main_script_path" in inspect.getsource(script_runner._mpa_v1)
    entry = tmp_path / "app.py"
    entry.write_text("")
    manager = PagesManager(str(entry))
    manager._set_pages({"a": {"page_script_hash": "a", "page_name": "app", "icon": "", "script_path": str(entry)}})
    context = type("Context", (), {"pages_manager": manager})()
    import streamlit.runtime.scriptrunner_utils.script_run_context as run_context

    original = run_context.get_script_run_ctx
    run_context.get_script_run_ctx = lambda *args, **kwargs: context
    try:
        assert streamlit_internals.in_legacy_run(entry)
        manager._set_pages({"b": {"page_script_hash": "b", "page_name": "home", "icon": "",
                                  "script_path": str(tmp_path / "pages" / "home.py")}})
        assert not streamlit_internals.in_legacy_run(entry)
    finally:
        run_context.get_script_run_ctx = original


def test_the_run_context_still_has_the_fields_the_quarantine_reads() -> None:
    import dataclasses

    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext

    fields = {field.name for field in dataclasses.fields(ScriptRunContext)}
    assert {"pages_manager", "script_requests", "fragment_ids_this_run"} <= fields
    assert callable(getattr(script_runner, "_clean_problem_modules", None))
    assert streamlit_internals.STREAMLIT_CHECKED  # the version named in the module's docstring


def test_the_links_seeding_snapshot_can_be_retaken_from_the_link_as_it_is_now() -> None:
    """What ``seed_widgets_from_the_link_as_it_is_now`` relies on: widgets seed from ``get_initial_value``, which
    ``set_initial_query_params_from_current`` re-takes from the current parameters."""
    from streamlit.runtime.state import get_session_state  # noqa: F401  (the way in must still exist)
    from streamlit.runtime.state.query_params import QueryParams

    params = QueryParams()
    params.set_initial_query_params("r=0.5&r=0.2")
    params.set_with_no_forward_msg("r", "0.2")
    assert params.get_initial_value("r") == ["0.5", "0.2"]
    params.set_initial_query_params_from_current()
    assert params.get_initial_value("r") == "0.2"


def test_the_link_can_be_changed_without_sending_it_and_sent_with_the_next_change(monkeypatch) -> None:
    """What ``stage_in_the_link`` relies on: changes without a message, then one message carrying them all."""
    from streamlit.runtime.state.query_params import QueryParams

    params = QueryParams()
    sent = []
    monkeypatch.setattr(QueryParams, "_send_query_param_msg", lambda self: sent.append(dict(self._query_params)))
    params.set_with_no_forward_msg("n", "10000")
    params.set_with_no_forward_msg("z", "true")
    params.discard_param_no_forward_msg("z")
    assert sent == []
    params.set_corrected_value("step", 3, "int_value")  # a bound widget's new value
    assert sent == [{"n": "10000", "step": "3"}]


def test_the_link_can_be_rewritten_and_sent_whatever_is_bound_to_it(monkeypatch) -> None:
    """What ``rewrite_the_link_in_place`` relies on: a bound parameter set without the check ``st.query_params``
    makes, the seeding snapshot re-taken, and one message sending the address."""
    import inspect

    from streamlit.runtime.state.query_params import QueryParams

    assert list(inspect.signature(QueryParams._send_query_param_msg).parameters) == ["self"]
    params = QueryParams()
    params.set_initial_query_params("dataset=fashion_mnist&n=200")
    params.bind_widget("dataset", "widget-id", "string_value", "page-hash")
    sent = []
    monkeypatch.setattr(QueryParams, "_send_query_param_msg", lambda self: sent.append(dict(self._query_params)))
    params.set_with_no_forward_msg("dataset", "Fashion-MNIST")
    params.set_initial_query_params_from_current()
    params._send_query_param_msg()
    assert params.get_initial_value("dataset") == "Fashion-MNIST" and sent == [{"dataset": "Fashion-MNIST"}]


def test_the_run_keeps_the_address_as_the_browser_sent_it(monkeypatch) -> None:
    """What ``link_as_the_browser_sent_it`` relies on: the run's context takes the rerun's query string after
    Streamlit has filtered ``st.query_params`` for a page change, and keeps it as ``query_string``."""
    import dataclasses
    import inspect
    import re

    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext

    assert "query_string" in {field.name for field in dataclasses.fields(ScriptRunContext)}
    source = inspect.getsource(script_runner.ScriptRunner)
    filtered = source.index("populate_from_query_string")
    kept = re.search(r"ctx\.reset\(\s*query_string=rerun_data\.query_string", source)
    assert kept is not None and filtered < kept.start()
    context = type("Context", (), {"query_string": "n=5000&r=0"})
    monkeypatch.setattr("streamlit.runtime.scriptrunner_utils.script_run_context.get_script_run_ctx", lambda: context)
    assert streamlit_internals.link_as_the_browser_sent_it() == {"n": ["5000"], "r": ["0"]}


def test_the_run_knows_whether_the_browsers_back_or_forward_started_it(monkeypatch) -> None:
    """What ``came_by_back_or_forward`` relies on: the run's context takes the rerun's ``is_history_navigation``."""
    import dataclasses
    import inspect
    import re

    from streamlit.runtime.scriptrunner import script_runner
    from streamlit.runtime.scriptrunner_utils.script_run_context import ScriptRunContext

    assert "is_history_navigation" in {field.name for field in dataclasses.fields(ScriptRunContext)}
    source = inspect.getsource(script_runner.ScriptRunner)
    assert re.search(r"is_history_navigation=rerun_data\.is_history_navigation", source)
    for flag in (True, False):
        context = type("Context", (), {"is_history_navigation": flag})
        monkeypatch.setattr("streamlit.runtime.scriptrunner_utils.script_run_context.get_script_run_ctx",
                            lambda context=context: context)
        assert streamlit_internals.came_by_back_or_forward() is flag


def test_the_frontend_pushes_addresses_and_names_its_page_links_as_the_page_change_script_expects() -> None:
    """What ``ONE_ENTRY_PER_PAGE_CHANGE`` relies on: the browser's code changes the address with
    ``window.history.pushState`` and its page links are ``a[data-testid="stPageLink-NavLink"]``."""
    from pathlib import Path

    import streamlit

    scripts = Path(streamlit.__file__).parent / "static"
    app = next(text for text in (path.read_text(errors="ignore") for path in scripts.rglob("index.*.js"))
               if "handlePageInfoChanged" in text)
    assert "window.history.pushState(" in app and "window.history.replaceState(" in app
    assert any("stPageLink-NavLink" in path.read_text(errors="ignore") for path in scripts.rglob("PageLink.*.js"))


def test_the_canvas_and_streamlit_build_the_toolbar_the_page_moves_out_of_the_way() -> None:
    """What ``CANVAS_TOOLBAR_OUT_OF_THE_WAY`` relies on: Streamlit attaches an open shadow root to a host
    ``stBidiComponentIsolated`` for a v2 component, and the canvas's CSS there hides its toolbar at opacity 0 over
    the square's top (``.dc-toolbar``), shows it when ``.dc-root`` is hovered and keeps it when pinned."""
    import importlib.util
    from pathlib import Path

    import streamlit

    scripts = Path(streamlit.__file__).parent / "static"
    bidi = "".join(path.read_text(errors="ignore") for path in scripts.rglob("BidiComponent.*.js"))
    assert "attachShadow({mode:`open`})" in bidi and "stBidiComponentIsolated" in bidi
    canvas = Path(importlib.util.find_spec("streamlit_drawable_canvas").origin).parent / "frontend" / "build"
    css = "".join(path.read_text() for path in canvas.glob("*.css"))
    assert ".dc-toolbar{opacity:0;" in css and "top:-1rem" in css
    assert ".dc-root:hover>.dc-toolbar" in css and "[data-pinned=true]" in css
