"""The frame around every page: the navigation, the shared sidebar, and the start of each page.

app.py declares the pages with ``st.navigation`` and draws them as links in the shared sidebar. The pages live in
``pages/``, which Streamlit would also read as a legacy multipage folder; ``start_page`` makes sure no page is
ever drawn that way, even on a freshly started server that a whole class opens at once.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import streamlit as st

from core import plots
from core.config import PROJECT_ROOT
from core.plots_alt import figure_alt
from ui import controls, link_sync, resources, session_models, streamlit_internals

ENTRY_FILE = PROJECT_ROOT / "app.py"
PAGES = (  # file, title, icon; the first is the default
    ("pages/home.py", "Home", "🏠"),
    ("pages/lesson.py", "Lesson", "🎓"),
    ("pages/models.py", "Models", "🏋️"),
    ("pages/class_images.py", "Classification images", "🖼️"),
    ("pages/confusion.py", "Confusion heatmaps", "🟦"),
    ("pages/compare.py", "Compare", "🔀"),
    ("pages/kernels.py", "Whitened kernels", "🧮"),
    ("pages/attack.py", "Attack", "🎯"),
    ("pages/receptive_fields.py", "Receptive fields", "🔬"),
    ("pages/significance.py", "Significance", "📏"),
    ("pages/your_digit.py", "Your digit", "✍️"),
)


# Plotly's toolbar shows while a pointer is over a chart; a touch screen has no hover, so it showed for good, over
# the top of every plot: the attack curves' 100 % plateau, the receptive fields' correlations near 1. A phone zooms
# with two fingers and a double tap resets the view, so it goes on screens that cannot hover. The sidebar's close
# button shows only while a pointer is over the sidebar: a tablet's student saw no way to close it. A radio's
# options were 33 × 22 px with no gap between them, the Lesson's predictions among them: a finger took the next one;
# they are 44 px high (a finger's target; 44 px wide, the Lesson's six step numbers took two rows on a phone), and
# a list's take their whole width; the Lesson's Back and Next are 44 px high too. A table's toolbar (download,
# search, full screen), shown on hover elsewhere, stays on a touch screen, 44 px above the table over whatever is
# there (Models' heading "Models on this server", Significance's chart legend): the table keeps that room free.
# The Lesson's predictions, pills since the keyboard review, get the same 44 px (Streamlit's are 33 px high).
TOUCH_SCREEN_CSS = ("@media (hover: none) { .js-plotly-plot .modebar-container { display: none !important; } "
                    '[data-testid="stSidebarCollapseButton"] { visibility: visible !important; } '
                    '[data-testid="stRadioOption"] { min-height: 44px; align-items: center; } '
                    '[data-testid="stRadioGroup"][aria-orientation="vertical"] > div, '
                    '[data-testid="stRadioGroup"][aria-orientation="vertical"] [data-testid="stRadioOption"] '
                    '{ width: 100%; } '
                    '[data-testid="stElementContainer"]:has([data-testid="stDataFrame"]) { margin-top: 44px; } '
                    '.st-key-back button, .st-key-next button, .st-key-next-bottom button { min-height: 44px; } '
                    '[data-testid="stButtonGroup"] button { min-height: 44px; min-width: 44px; } }')
SIDEBAR_SCRIPT_KEY = "sidebar-script"
# Streamlit leaves 6rem above a page's title, under a 60-px header with nothing on its left but the sidebar's
# arrow; 3.5rem keeps the title clear of it and lifts every page by 40 px, which a 720-px-high screen needs to show
# both rows of class images under the controls.
PAGE_TOP_CSS = '[data-testid="stMainBlockContainer"] { padding-top: 3.5rem; }'
# Streamlit draws captions in the text colour at 60 % opacity: 3.9:1 on white (3.8:1 in the sidebar), under the 4.5:1
# text needs (an accessibility review), and the pages put results and the Lesson's step titles in captions. Opaque
# grey #5f5e5c: 6.5:1, still lighter than the text.
CAPTION_CONTRAST_CSS = '[data-testid="stCaptionContainer"] { color: #5f5e5c; opacity: 1; }'
# Streamlit's Plotly theme writes ticks, axis and panel titles in rgb(128, 132, 149): 3.7:1 on white (the same
# review), and the panel titles name the classes and their counts. Only text drawn in that grey is darkened (to 7:1):
# text Plotly colours itself (white numbers on dark heatmap cells, a red winner) keeps its colour.
PLOT_TEXT_CONTRAST_CSS = ('.js-plotly-plot text[style*="fill: rgb(128, 132, 149)"], '
                          '.js-plotly-plot tspan[style*="fill: rgb(128, 132, 149)"] '
                          f'{{ fill: {plots.PLOT_TEXT_COLOUR} !important; }}')
# Streamlit marks a focused radio option, toggle or page link with a grey square about 1.1:1 against the page: a
# keyboard user lost their place (the same review). A dark ring where the keyboard (not a click) put the focus.
FOCUS_RING_CSS = ('[data-testid="stRadioOption"]:has(input:focus-visible), '
                  '[data-testid="stCheckbox"]:has(input:focus-visible), '
                  'a[data-testid="stPageLink-NavLink"]:focus-visible '
                  '{ outline: 2px solid #2f2d2b; outline-offset: 2px; border-radius: 4px; } '
                  # the Lesson's predictions (pills: their own rounded shape kept; Streamlit's ring was 2:1)
                  '[data-testid="stButtonGroup"] button:focus-visible { outline: 2px solid #2f2d2b; '
                  'outline-offset: 2px; }')
# A page's sections are h2 under its h1 title (they were h3: a screen reader's outline skipped a level, an
# accessibility review), drawn at the size Streamlit gives h3, as before.
SECTION_HEADING_CSS = ('[data-testid="stHeading"] h2 { font-size: 1.75rem; font-weight: 600; line-height: 1.2; '
                       'padding: 0.75rem 0 1rem; letter-spacing: -0.005em; }')
# Beside the sidebar on a 1024-px screen, Streamlit's 5rem on either side left the controls' four columns 130 px
# each, too narrow for their labels; 2rem gives them 150.
NARROW_SIDES_CSS = ('@media (max-width: 1200px) '
                    '{ [data-testid="stMainBlockContainer"] { padding-left: 2rem; padding-right: 2rem; } }')


# On a phone Streamlit stacks every column, so the analysis controls' four columns of two made eight rows: the
# picture began at the screen's bottom edge (y = 826 of 844), and a student who moved a slider saw nothing change.
# Two columns across (Streamlit's phone width, 640 px, and its column gap) make four rows: the picture starts on
# the first screen. A page's own row of controls (``controls.control_row``) goes two across too.
PHONE_CONTROLS_CSS = (f'@media (max-width: 640px) {{ .st-key-{controls.CONTROLS_KEY} [data-testid="stColumn"], '
                      f'[class*="st-key-{controls.CONTROL_ROW_PREFIX}"] [data-testid="stColumn"] '
                      '{ min-width: calc(50% - 1rem) !important; } }')

# A tablet held upright (768 px) has no sidebar beside the page but Streamlit keeps two columns side by side to
# 640 px: a pair of half-width figures (Home's original figure, Compare's models, Kernels' two kernels) left grids of
# 44-px tiles beside a full-height colour bar and heatmap numbers of 6 px. Below 900 px such a pair (``halves``)
# goes one under the other.
HALVES_PREFIX = "halves-"
HALVES_CSS = (f'@media (max-width: 900px) {{ [class*="st-key-{HALVES_PREFIX}"] [data-testid="stHorizontalBlock"] > '
              '[data-testid="stColumn"] { min-width: 100% !important; } }')


# A narrow window that is no phone (a split screen, a phone asking for the desktop site) gets the desktop mosaic, whose
# ten tiles shrank to ~20 px at 390 px with Fashion-MNIST's titles printed over each other (a review): below 640 px
# the picture keeps 600 px and scrolls sideways. A phone has a layout of its own (``on_a_phone``), so not there.
WIDE_PICTURE_KEY = "class_picture"  # the Classification images page's picture (its container's key)
# Plotly takes the width of the picture's container, so that is what keeps 600 px, inside one that scrolls.
WIDE_PICTURE_CSS = (f'@media (max-width: 640px) {{ .st-key-{WIDE_PICTURE_KEY}-scroll {{ overflow-x: auto; }} '
                    f'.st-key-{WIDE_PICTURE_KEY} {{ min-width: 600px; }} }}')


def wide_picture() -> Any:
    """The container of a page's main picture: 600 px wide at least in a narrow window that is no phone."""
    return st.container(key=f"{WIDE_PICTURE_KEY}-scroll").container(key=WIDE_PICTURE_KEY)


# Plotly's toolbar gave every chart eight buttons, each a stop of the Tab key: a keyboard user crossed 32 to pass the
# Classification images page's four charts (an accessibility review). Kept: the picture as a PNG, a box to zoom
# into, the way back, and Streamlit's full screen; zoom in / out, pan and autoscale repeat those.
TOOLBAR = {"displaylogo": False, "modeBarButtonsToRemove": ["pan2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]}


def draw_chart(figure: Any, place: Any = None, **kwargs: Any) -> Any:
    """``st.plotly_chart`` (in ``place``, else the page) with the figure described for a screen reader: the
    ``alt`` given, or the figure's own values in words (``core.plots_alt``); its toolbar cut to ``TOOLBAR``."""
    if "alt" not in kwargs:  # not made and thrown away where one is given (a live picture's redraws)
        kwargs["alt"] = figure_alt(figure)
    kwargs["config"] = {**TOOLBAR, **kwargs.get("config", {})}
    return (st if place is None else place).plotly_chart(figure, **kwargs)


def halves(name: str, count: int = 2) -> list:
    """``count`` columns of figures side by side on a wide screen, one under the other below 900 px."""
    return st.container(key=HALVES_PREFIX + name).columns(count)


def install() -> None:
    """Process-wide settings, made by app.py at the start of every run (each is idempotent).

    A legacy-mode run of the home page executes app.py itself as that page: its own ``st.navigation`` then replaces
    the legacy menu (hidden anyway), so it draws the real frame and needs no reroute.
    """
    streamlit_internals.disable_legacy_pages()
    streamlit_internals.keep_tensorflow_warm()
    resources.load_tensorflow()


def navigation() -> st.navigation:
    """Declare the pages and draw them as links at the top of the sidebar.

    The built-in menu is hidden (``client.showSidebarNavigation = false`` in .streamlit/config.toml): that also
    hides the menu of Streamlit's legacy ``pages/`` mode, so a run started in it shows nothing before
    ``start_page`` reroutes it.
    """
    pages = [st.Page(file, title=title, icon=icon, default=index == 0)
             for index, (file, title, icon) in enumerate(PAGES)]
    current = st.navigation(pages, position="hidden")
    with st.sidebar:
        with st.container(key="app-navigation"):
            for page in pages:
                st.page_link(page)
        with st.container(key=SIDEBAR_SCRIPT_KEY):  # hidden by frame()'s style: a script, nothing to see
            st.html(streamlit_internals.FIT_THE_SIDEBAR + streamlit_internals.ONE_ENTRY_PER_PAGE_CHANGE
                    + streamlit_internals.NEXT_STEP_AT_ITS_TOP, unsafe_allow_javascript=True)
    return current


def frame(url_path: str) -> None:
    """Everything app.py draws around the page."""
    link_sync.note_page(url_path)
    st.html(f"<style>{streamlit_internals.steady_redraws_css(controls.CONTROLS_KEY)} {TOUCH_SCREEN_CSS} "
            f"{PAGE_TOP_CSS} {NARROW_SIDES_CSS} {PHONE_CONTROLS_CSS} {HALVES_CSS} {CAPTION_CONTRAST_CSS} "
            f"{PLOT_TEXT_CONTRAST_CSS} {FOCUS_RING_CSS} {SECTION_HEADING_CSS} "
            f"{'' if on_a_phone() else WIDE_PICTURE_CSS} "
            f".st-key-{SIDEBAR_SCRIPT_KEY} {{ display: none; }}</style>")
    link_sync.remember_link_notes()
    link_sync.repair_an_old_entry_of_the_history()
    dataset, arch = controls.sidebar_selectors()
    with st.sidebar:
        resources.model_status_panel(arch, dataset)
        if session_models.get(arch, dataset) is None:
            st.caption("Every control is stored in the page address: copy the link to share exactly this view.")
        else:  # a session's own model stays in its tab: a link cannot carry it
            st.caption("Every control is stored in the page address, but not your own model: a copied link opens "
                       "this view with the server's model.")


def on_a_phone() -> bool:
    """Whether this visitor's browser says it is a phone ("Mobi" in its user agent, as MDN advises): class-image
    grids are then drawn three across. The server never learns a window's width; the user agent comes with the
    session, so the first picture is already laid out for it. Tablets say they are not phones, and get the wide grid
    their width holds."""
    agent = st.context.headers.get("User-Agent") or ""
    # Chrome on an iPad says "Mobile" too (and iPad Safari asked for the mobile site): their width holds the wide grid
    return "Mobi" in agent and not any(tablet in agent for tablet in ("iPad", "Tablet"))


def start_page(title: str, set_by_the_page: Collection[str] = (), in_short: str = "") -> tuple[str, str]:
    """Start a page: title, link notes, and the sidebar's dataset and architecture. ``set_by_the_page``: the link's
    parameters the page sets itself (``ui.link_sync.show_link_notes``). ``in_short``: the page's point in plain
    words, above everything (a review found the research pages' first words were Σ⁻¹ and FWHM).

    A run that Streamlit started in its legacy ``pages/`` mode (possible only for sessions that began before the
    server's first ``st.navigation`` call) executes this page without app.py; it is sent through app.py at once,
    before anything is drawn.
    """
    if streamlit_internals.in_legacy_run(ENTRY_FILE):
        install()  # app.py's settings, which this run skipped
        st.rerun()
    st.title(title)
    if in_short:
        st.markdown(f"**In short:** {in_short}")
    with st.container():  # one place, notes or none: what follows keeps its place in the page (and its state)
        link_sync.show_link_notes(set_by_the_page)
    return controls.selection()


def command_line_note(command: str) -> None:
    """The ``python -m core`` command that recomputes this view (``core.runs.command_line``), in a code block with
    Streamlit's copy button: a researcher's figure comes from a script, not from a screen."""
    dataset, arch = controls.selection()
    own_model = session_models.get(arch, dataset) is not None
    gradient = "--estimator gradient" in command  # its sums are taken in the model's backward pass, chunk by chunk
    caveat = (", but for the gradient kernel's seventh digit and so, now and then, the last digit of what is made "
              "from it (its sums are taken in the model's backward pass)." if gradient else ".")
    st.caption("The same numbers from the command line (README: *Command line*): run on this server's machine, it "
               "gives them to the last digit" + caveat
               + (" It runs the server's model (cache/models/), not your own from the Models page." if own_model
                  else ""))
    # Not highlighted as bash: its option and number colours were 2.5-2.7:1 on the block's grey (an accessibility
    # review; 4.5:1 is the floor for text), and one colour reads as well
    st.code(command, language=None, wrap_lines=True)
