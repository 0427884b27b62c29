"""Every touch of Streamlit's private internals, in one place. Checked against Streamlit 1.67.0.

Each touch has a guard test in ``tests/test_streamlit_internals.py`` that fails loudly if an upgrade changes it:

1. ``PagesManager.uses_pages_directory`` (``streamlit.runtime.pages_manager``): a class-wide flag, set when the
   first session starts if a ``pages/`` folder sits beside the entry file, cleared by the first ``st.navigation``
   call. While it is set, every run of every session executes the page file directly (Streamlit's legacy
   ``pages/`` mode: its own sidebar, no app.py, no shared controls). On a fresh server, sessions that start
   before the first ``st.navigation`` call all fell into it. ``disable_legacy_pages`` clears it as soon as any of
   our code is imported; ``in_legacy_run`` tells, per run, whether this run was started in legacy mode anyway.
2. ``ScriptRunContext.pages_manager.get_pages()``: the pages of this session's run, read by ``in_legacy_run``.
3. ``ScriptRunContext.script_requests._state``: whether a rerun (a moved control, Stop) is waiting. Streamlit does
   not interrupt a fragment's run for the fragment's own widgets, so a long analysis asks between chunks.
4. ``ScriptRunContext.fragment_ids_this_run``: whether this run is a fragment's, to end it with a
   fragment-scoped ``st.rerun``.
5. ``script_runner._clean_problem_modules``: replaced so Streamlit stops calling ``keras.backend.clear_session()``
   after every run, which emptied TensorFlow's kernel cache (45–60 ms of every AlexNet redraw).
6. The CSS of ``steady_redraws_css`` is written against Streamlit's DOM (``data-testid="stElementContainer"``,
   ``data-stale``); the end-to-end test watches it.
7. ``QueryParams.set_initial_query_params_from_current`` (reached through ``get_session_state().query_params()``):
   on a session's first run a link-bound widget seeds itself from the link as it arrived, not as the script left
   it; Streamlit itself re-takes that snapshot after a page change. ``seed_widgets_from_the_link_as_it_is_now``.
8. The script in ``FIT_THE_SIDEBAR`` finds Streamlit's page links in the sidebar (``data-testid="stSidebar"``,
   ``"stPageLink-NavLink"``) and its collapse button (``"stSidebarCollapseButton"``), knows that the sidebar lies
   over the page below Streamlit's 768-px ``md`` breakpoint and is off screen when closed; ``ui.frame.TOUCH_SCREEN_CSS``
   shows that button, which Streamlit shows on hover only. The end-to-end tests tap a page link on a phone and on
   a tablet.
9. ``ui.frame.PAGE_TOP_CSS`` and ``NARROW_SIDES_CSS`` set the padding of Streamlit's main block
   (``data-testid="stMainBlockContainer"``); the end-to-end test measures the class images on laptop screens.
10. ``ui.frame.TOUCH_SCREEN_CSS`` and ``PHONE_CONTROLS_CSS`` name Streamlit's radio options (``"stRadioGroup"``,
   ``"stRadioOption"``), a table's element (``"stElementContainer"`` holding ``"stDataFrame"``, whose toolbar sits
   44 px above it) and its columns (``"stColumn"``, stacked below 640 px); the phone's end-to-end tests measure each.
11. ``QueryParams.set_with_no_forward_msg`` and ``discard_param_no_forward_msg`` (the object of 7):
   ``stage_in_the_link`` changes the link without sending it, so the next change Streamlit sends (a bound widget's)
   carries both, and the browser's history gets one entry, not one per change: the Lesson's Back button took two or
   three presses a step.
12. ``ScriptRunContext.query_string`` (``link_as_the_browser_sent_it``): the address of the run as it came, set
   after Streamlit filtered ``st.query_params`` for a page change; and ``ScriptRunContext.is_history_navigation``
   (``came_by_back_or_forward``): whether the browser's Back or Forward started the run. The end-to-end test
   presses Back to a page.
13. ``ONE_ENTRY_PER_PAGE_CHANGE`` knows that Streamlit's frontend changes the address with ``history.pushState``
   (and ``replaceState`` while the browser's Back or Forward is being followed), names its page links
   ``"stPageLink-NavLink"`` and follows a click on one in a listener below the document (so the document's own
   listener can keep the current page's link, or a double click's second, from running a page change); the
   end-to-end tests count the history's entries after a page link and press Back, click the current page's link
   and double-click another's, and run the script alone against a stand-in page.
14. ``CANVAS_TOOLBAR_OUT_OF_THE_WAY`` knows that Streamlit 1.67 renders a v2 component (Your digit's drawing canvas,
   streamlit-drawable-canvas 0.13) in an open shadow root it attaches to a host ``data-testid=
   "stBidiComponentIsolated"`` inside the keyed element, and the canvas's own CSS there (``.dc-root``,
   ``.dc-toolbar``, ``data-pinned``). The guard test reads both builds; the end-to-end test draws where the hidden
   toolbar lay.
15. ``ui.frame.CAPTION_CONTRAST_CSS`` names Streamlit's caption (``"stCaptionContainer"``, drawn at 60 % opacity)
   and ``PLOT_TEXT_CONTRAST_CSS`` knows the grey its Plotly theme writes chart text in (``rgb(128, 132, 149)``,
   inline); ``FOCUS_RING_CSS`` names radio options, toggles (``"stCheckbox"``) and page links, and it and
   ``TOUCH_SCREEN_CSS`` the buttons of ``st.pills`` (``"stButtonGroup"``, the Lesson's predictions);
   ``NEXT_STEP_AT_ITS_TOP`` knows a keyed radio's inputs (``.st-key-step input``). The end-to-end tests measure the
   two contrasts on every page, Tab to each ringed kind, follow the keyboard after the Lesson's bottom Next, ring a
   prediction chosen by keyboard and measure the pills on a phone.
16. ``QueryParams._send_query_param_msg`` (the object of 7): ``rewrite_the_link_in_place`` sends the address
   after changing parameters a widget is bound to, which ``st.query_params`` refuses on any run but a session's
   first; after Back or Forward the browser then replaces its entry. The end-to-end test presses Back to an old
   link.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

STREAMLIT_CHECKED = "1.67.0"

# Streamlit dims every element the running script has not redrawn yet, fading it over 1 s from 0.5 s into the
# run. A live redraw takes about a second, so the picture dimmed and snapped back on every move of a control. From
# 1 s on, slow runs still dim; live ones stay steady. The dimming is a step, not a fade: a fading element is
# animated frame by frame from the press on (delay included), which cost the browser 0.07-0.14 CPU-s of a
# 10,000-stimulus change, taken from the network's pass when both share the CPU (bench/results/dashboard.log).
def steady_redraws_css(never_dimmed_key: str) -> str:
    """The rule above; the container keyed ``never_dimmed_key`` (the analysis controls, redrawn at the end of a live
    run by ui.controls.controls_drawn_after: until then they hold the values the student chose) never dims."""
    return ('[data-testid="stElementContainer"][data-stale="true"] '
            '{ transition-delay: 1s !important; transition-duration: 0s !important; } '
            f'.st-key-{never_dimmed_key} [data-testid="stElementContainer"][data-stale="true"] '
            '{ opacity: 1 !important; }')


# Below 768 px (Streamlit's ``md`` breakpoint) the sidebar lies over the page; above it, docked, it takes 300 px of
# the width. Streamlit's own menu closes it after a tap; its page links, which draw our menu (``ui.frame.navigation``),
# do not, so on a phone the student had to close it by hand after every page change. On a tablet held upright
# (820 px) it stayed docked and left the page 456 px, into which the wide layout was squeezed: the Lesson's text in a
# 122-px strip, its heatmap's numbers at 5 px, the kernels' metrics cut to "13…". Where it is in the way (over the
# page, or leaving it less than ``PAGE_LEAST_WIDTH``), it starts closed and closes after a page link. One listener per
# browser tab (the flag), in the capture phase, before the link's own handler starts the page change.
PAGE_LEAST_WIDTH = 640  # px: Streamlit's own width for stacking columns; the wide layout needs at least this
FIT_THE_SIDEBAR = """<script>
if (!window.noiseLensFitsTheSidebar) {
  window.noiseLensFitsTheSidebar = true;
  const sidebar = () => document.querySelector('[data-testid="stSidebar"]');
  const open = () => (sidebar()?.getBoundingClientRect().right || 0) > 0;
  const inTheWay = () => window.innerWidth < 768 || window.innerWidth - (sidebar()?.offsetWidth || 0) < %d;
  const close = () => document.querySelector('[data-testid="stSidebarCollapseButton"] button')?.click();
  if (open() && inTheWay()) close();
  document.addEventListener("click", (event) => {
    const link = event.target.closest('[data-testid="stSidebar"] a[data-testid="stPageLink-NavLink"]');
    if (link && inTheWay()) close();
  }, true);
}
</script>""" % PAGE_LEAST_WIDTH


# A page link's click made three entries in the browser's history: Streamlit sends the old page's address without
# the parameters bound to its widgets, this app writes the settings back (ui.link_sync.carry_settings_to_this_page)
# and the new page's address comes, in either order; each was pushed. So the browser's Back showed the old page,
# then the new one, with the default settings (a teacher's review). From a click on a link to another page, the
# first address pushed makes the entry and the others replace it, until the new page's address has come and
# ``PAGE_CHANGE_QUIET_MS`` pass without another (or ``PAGE_CHANGE_MOST_MS`` in all, or the student clicks or types
# again): one entry per page change, holding the new page and its settings. The current page's own link in the
# sidebar does nothing, nor does a link clicked again before its page has come; after Back or Forward, what the
# app sends replaces the entry until the student clicks (a second reader's findings, below).
PAGE_CHANGE_QUIET_MS = 2_000
PAGE_CHANGE_MOST_MS = 30_000
ONE_ENTRY_PER_PAGE_CHANGE = """<script>
if (!window.noiseLensFoldsPageChanges) {
  window.noiseLensFoldsPageChanges = true;
  const push = history.pushState.bind(history), replace = history.replaceState.bind(history);
  const MOST = %d, QUIET = %d;
  let change = null, travelled = 0;  // the page link's change being folded; when Back or Forward last moved
  document.addEventListener("click", (event) => {
    // the sidebar's own closing click on a phone; a link opened in another tab (Ctrl, Cmd, Shift) changes no page here
    if (!event.isTrusted || event.ctrlKey || event.metaKey || event.shiftKey) return;
    const link = event.target.closest('a[data-testid="stPageLink-NavLink"]');
    // Home's link has an empty href: the app's root. Any other click (Lesson's Next) is a step of its own.
    const to = link && new URL(link.getAttribute("href") || ".", location.href).pathname;
    const here = link && to === location.pathname && link.closest('[data-testid="stSidebar"]');
    const again = link && change && !change.arrived && change.to === to && performance.now() - change.clicked < MOST;
    if (here || again) {
      // This page's own link in the sidebar ran the page as a change to itself: four entries, and the settings
      // only this page has (Kernels' ridge) dropped. A second click on a link whose page has not come yet (a
      // double click) ran a second change, whose run found the settings carried and left the address bare.
      event.preventDefault();
      event.stopPropagation();
      return;
    }
    change = link && to !== location.pathname
      ? {from: location.pathname, to, clicked: performance.now(), last: null, arrived: false} : null;
    travelled = 0;
  }, true);
  document.addEventListener("keydown", (event) => {
    change = null;
    if (event.key === "Enter" || event.key === " ") travelled = 0;  // not Alt+Left, itself a Back
  }, true);
  // Back or Forward pressed again before the last one's run was done: that run's address, sent late, was pushed,
  // which cut the entries ahead and added others (three Forwards 0.1 s apart: 7 entries became 9 or 11). Until
  // the student clicks, nothing the app sends after Back or Forward is a new entry.
  window.addEventListener("popstate", () => { travelled = performance.now(); change = null; }, true);
  history.pushState = (state, title, url) => {
    const now = performance.now();
    if (travelled && now - travelled < QUIET) {
      travelled = now;
      return replace(state, title, url);
    }
    travelled = 0;
    if (change && (now - change.clicked > MOST || (change.arrived && now - change.last > QUIET))) change = null;
    if (!change) return push(state, title, url);
    (change.last === null ? push : replace)(state, title, url);
    change.last = now;
    change.arrived ||= new URL(url, location.href).pathname !== change.from;
  };
}
</script>""" % (PAGE_CHANGE_MOST_MS, PAGE_CHANGE_QUIET_MS)

# The Lesson's Next under a step (a step is 4-6 screens on a phone) reruns the same page in place, so the next step
# opened where the last one ended, 1,000 px down. It starts at its top, as a new page would.
NEXT_STEP_AT_ITS_TOP = """<script>
if (!window.noiseLensNextStepAtItsTop) {
  window.noiseLensNextStepAtItsTop = true;
  document.addEventListener("click", (event) => {
    if (event.target.closest('.st-key-next-bottom button')) {
      document.querySelector('[data-testid="stMain"]')?.scrollTo({top: 0});
      // the keyboard's place goes up with the view: left on the bottom button, off screen and soon the next
      // step's, a second Enter skipped a step unseen (an accessibility review)
      document.querySelector('.st-key-step input:checked')?.focus({preventScroll: true});
    }
  }, true);
}
</script>"""


def disable_legacy_pages() -> None:
    """Tell Streamlit this app declares its pages with ``st.navigation``, so no run uses the legacy mode."""
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False


def _context():
    from streamlit.runtime.scriptrunner_utils.script_run_context import get_script_run_ctx

    return get_script_run_ctx()


def in_legacy_run(entry_file: Path) -> bool:
    """Whether this session's current run is Streamlit's legacy ``pages/`` mode, which lists the entry file itself
    as a page (app.py's ``st.navigation`` never does)."""
    ctx = _context()
    manager = getattr(ctx, "pages_manager", None)
    if manager is None:
        return False
    return any(Path(page.get("script_path", "")).resolve() == entry_file.resolve()
               for page in manager.get_pages().values())


def rerun_waiting() -> bool:
    """Whether this session has a rerun waiting: a control moved or a button pressed since this run began."""
    requests = getattr(_context(), "script_requests", None)
    return getattr(getattr(requests, "_state", None), "name", None) in ("RERUN", "STOP")


def in_fragment_run() -> bool:
    ctx = _context()
    return bool(ctx is not None and ctx.fragment_ids_this_run)


def rerun_this_run() -> None:
    """Start this run again: its fragment alone in a fragment's run (a fragment-scoped ``st.rerun`` is what lets
    Streamlit end a fragment's run for it), the whole page otherwise."""
    import streamlit as st

    st.rerun(scope="fragment" if in_fragment_run() else "app")


def keep_tensorflow_warm() -> None:
    """Stop Streamlit calling ``keras.backend.clear_session()`` after every script run; keep its matplotlib cleanup.

    Streamlit does it for apps that build a model on every run. Ours are cached resources. The one run that builds
    a model, training, clears Keras itself (``ui.resources.release_training_graphs``). Does nothing if Streamlit
    renames the hook (a guard test watches for that).
    """
    from streamlit.runtime.scriptrunner import script_runner

    cleanup = getattr(script_runner, "_clean_problem_modules", None)
    if cleanup is None or getattr(cleanup, "keeps_keras", False):
        return

    def clean_problem_modules() -> None:
        if "matplotlib.pyplot" in sys.modules:
            sys.modules["matplotlib.pyplot"].close("all")

    clean_problem_modules.keeps_keras = True  # type: ignore[attr-defined]
    script_runner._clean_problem_modules = clean_problem_modules


def seed_widgets_from_the_link_as_it_is_now() -> None:
    """Let the widgets about to bind to the link seed themselves from it as the script has left it.

    ``ui.link_sync.check_link`` repairs the link before any widget binds (a repeated parameter keeps its last
    value). A slider still seeded itself from the link as it arrived, where the repeats are a list, failed to parse
    it and had Streamlit remove the parameter from the address: the page used the value, a copied link lost it.
    """
    from streamlit.runtime.state import get_session_state

    with get_session_state().query_params() as params:
        params.set_initial_query_params_from_current()


def link_as_the_browser_sent_it() -> dict[str, list[str]]:
    """The parameters of this run's address as the browser sent it (``ScriptRunContext.query_string``, set at the
    run's start): on a page change Streamlit has already dropped from ``st.query_params`` those bound to the last
    page's widgets."""
    from urllib.parse import parse_qs

    ctx = _context()
    return parse_qs(ctx.query_string, keep_blank_values=True) if ctx is not None else {}


def came_by_back_or_forward() -> bool:
    """Whether the browser's Back or Forward started this run (``ScriptRunContext.is_history_navigation``): the
    address is then an entry of the history, and a setting it leaves out was at its default there."""
    ctx = _context()
    return bool(ctx is not None and ctx.is_history_navigation)


def rewrite_the_link_in_place(values: dict[str, str]) -> None:
    """Set parameters of the link, bound to widgets or not, before the widgets bind in this run; the widgets seed
    themselves from them, and the address is sent. Meant for a run after Back or Forward, when Streamlit's
    frontend replaces the history's entry rather than adding one (``handlePageInfoChanged``)."""
    from streamlit.runtime.state import get_session_state

    with get_session_state().query_params() as params:
        for key, value in values.items():
            params.set_with_no_forward_msg(key, value)
        params.set_initial_query_params_from_current()
        params._send_query_param_msg()


def stage_in_the_link(values: dict[str, str | None]) -> None:
    """Set (or, for None, remove) parameters of the link without sending the address to the browser: the next
    change Streamlit sends in this run, a bound widget's new value, carries them. Streamlit sends every change of
    the address as its own message and the browser keeps each as a history entry."""
    from streamlit.runtime.state import get_session_state

    with get_session_state().query_params() as params:
        for key, value in values.items():
            if value is None:
                params.discard_param_no_forward_msg(key)
            else:
                params.set_with_no_forward_msg(key, value)

# Your digit's canvas keeps its toolbar (upload, undo, redo, edit, bin) at opacity 0 over the square's top right
# corner (x 139-280, y 0-30 of 280) until a mouse hovers over the square, then slides it up out of the way after
# 0.1 s + 0.1 s; hidden, it still takes presses. A stroke begun there with no hover first (every touch; a mouse that
# comes from Clear the square or a slider and presses at once) went to an invisible button: nothing drawn, nothing
# sent. The component's CSS sits in a shadow root that page CSS cannot reach, so this adds a sheet to each canvas's
# shadow root as Streamlit makes it (a new one after every Clear): the hidden toolbar takes no presses, and on hover
# it is at once where the canvas puts it (no slide over the square); the fade-in stays.
CANVAS_TOOLBAR_CSS = """
.dc-toolbar { transition: none !important; }
.dc-root:hover > .dc-toolbar, .dc-toolbar:focus-within { transition: opacity .15s .1s !important; }
.dc-root:not(:hover) > .dc-toolbar:not(:focus-within):not([data-pinned="true"]) { pointer-events: none !important; }
"""
CANVAS_TOOLBAR_OUT_OF_THE_WAY = """<script>
(() => {
  if (window.noiseLensCanvasToolbar) return;
  window.noiseLensCanvasToolbar = true;
  const css = %s;
  const fix = (root) => {
    if (root.querySelector('style[data-noiselens-toolbar]')) return;
    const style = document.createElement('style');
    style.dataset.noiselensToolbar = '';
    style.textContent = css;
    root.appendChild(style);
  };
  const ours = (host) => host.closest('[class*="st-key-canvas-"]') !== null;
  const attach = Element.prototype.attachShadow;  // Streamlit makes the shadow root once the host is in the page
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    if (ours(this)) fix(root);
    return root;
  };
  document.querySelectorAll('[class*="st-key-canvas-"] [data-testid="stBidiComponentIsolated"]')
    .forEach((host) => host.shadowRoot && fix(host.shadowRoot));
})();
</script>""" % json.dumps(CANVAS_TOOLBAR_CSS)
