"""A shared link sets the view: its values are checked, bad ones named on screen and replaced, repeated
ones resolved (ui/link_sync.py with the schema of core/link.py)."""

from __future__ import annotations

from tests.apptest import open_page


def test_a_repeated_link_value_is_named_and_the_last_one_used(real_data_dir) -> None:
    at = open_page("pages/class_images.py", seed=["5", "9"], r=["0.5", "0.2"])
    assert not at.exception
    notes = [w.value for w in at.warning]
    assert "`seed` appears 2 times in the link; using the last, 9." in notes
    assert "`r` appears 2 times in the link; using the last, 0.2." in notes
    assert at.number_input(key="seed").value == 9 and at.slider(key="r").value == 0.2
    # and the address keeps the value used, one of it: a slider's widget once seeded itself from the link as it
    # arrived (two values, no slider's), failed, and Streamlit removed the parameter from the address
    assert at.query_params.get("seed") == "9" and at.query_params.get("r") == "0.2"


def test_bad_link_values_fall_back_with_a_note(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n="99", r="banana", noise="plaid", seed="7")
    assert not at.exception
    notes = " ".join(w.value for w in at.warning)
    assert "n=99" in notes and "r=banana" in notes and "noise=plaid" in notes
    assert at.select_slider(key="n").value == 1000 and at.number_input(key="seed").value == 7


def test_a_repeated_parameter_whose_last_value_is_bad_says_it_was_the_last(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n=["1000", "5000", "abc"])
    notes = " ".join(w.value for w in at.warning)
    assert "`n=abc`, the last of its 3, in the link is not valid" in notes, notes


def test_a_very_long_bad_value_is_named_cut_short(real_data_dir) -> None:
    """A 5,000-character value was repeated whole in its note (twice: in the value and the parser's message) and
    pushed the controls off the first screen (a reviewer)."""
    long = "x" * 5_000
    at = open_page("pages/class_images.py", noise=long, **{"y" * 5_000: long})
    assert not at.exception
    notes = [w.value for w in at.warning]
    assert len(notes) == 2 and all(len(note) < 400 for note in notes), [len(note) for note in notes]
    assert any("`noise=" + "x" * 60 + "…`" in note for note in notes) and at.selectbox(key="noise").value == "uniform"


def test_a_bad_link_value_is_named_in_plain_words_and_really_replaced(real_data_dir) -> None:
    at = open_page("pages/class_images.py", n="abc", seed="1.5", z="maybe", sigma="9")
    assert not at.exception
    notes = " ".join(w.value for w in at.warning)
    assert "`n=abc` in the link is not valid (must be a whole number); using 1000." in notes
    assert "`seed=1.5` in the link is not a whole number; using 1." in notes
    assert "`z=maybe` in the link is not valid (must be true or false); using false." in notes
    assert "`sigma=9` in the link is not valid (must be between 0.05 and 0.5); using 0.2." in notes
    assert "int()" not in notes and at.number_input(key="seed").value == 1  # the note's value is the one used
    assert at.query_params.get("seed") == "1" and not {"n", "z", "sigma"} & set(at.query_params)  # and the link's


def test_a_number_written_another_way_stays_in_the_link(real_data_dir) -> None:
    """``n=200.0`` is N = 200, but the bound slider did not recognise the text and dropped it from the address, so a
    link copied from the page opened N = 1,000; it is now written as the widget writes it, without a note."""
    at = open_page("pages/confusion.py", n="200.0", seed="7.0", r="7e-1")
    assert not at.exception and not at.warning
    assert at.select_slider(key="n").value == 200 and at.number_input(key="seed").value == 7
    assert at.query_params.get("n") == "200" and at.query_params.get("seed") == "7"


def test_a_bad_link_value_leaves_the_address_even_where_no_widget_binds_to_it(real_data_dir) -> None:
    """Home has no N, r or seed widget: the bad values were named, yet a link copied from it repeated them."""
    at = open_page("pages/home.py", n="abc", r="2", seed="-1", noise="pink")
    assert not at.exception
    assert len([w for w in at.warning if "in the link is not valid" in w.value]) == 3
    assert not {"n", "r", "seed"} & set(at.query_params) and at.query_params.get("noise") == "pink"


def test_a_value_between_a_sliders_steps_moves_to_the_nearest_step_with_a_note(real_data_dir) -> None:
    """σ = 0.0903 showed as 0.09 on the slider yet ran as a setting of its own, each such value caching another
    10-MB covariance for the server's lifetime (found by a soak test): the link now says what the slider shows."""
    at = open_page("pages/significance.py", noise="pink", sigma="0.0903", r="0.33", estimator="predicted",
                   part="noise", n="150")
    assert not at.exception
    notes = " ".join(w.value for w in at.warning)
    assert "`sigma=0.0903` in the link is between the slider's steps; using 0.1." in notes
    assert "`r=0.33` in the link is between the slider's steps; using 0.35." in notes
    assert "`n=150` in the link is between the slider's steps; using 200." in notes  # N's steps: a log scale
    assert at.slider(key="sigma").value == 0.1 and at.slider(key="r").value == 0.35
    assert at.select_slider(key="n").value == 200 and at.query_params.get("n") == "200"
    assert at.query_params.get("sigma") == "0.1" and at.query_params.get("r") == "0.35"


def test_a_select_sliders_value_is_written_as_the_slider_writes_it(real_data_dir) -> None:
    """``gamma=1`` showed γ = 1 but the bound select slider wrote its options as "1.0", did not recognise the text
    and dropped it: a link copied from the page opened γ = 0.5. Its options are now written as the link writes
    them, and a link with the old text (``gamma=1.0``, as the slider used to write it) is rewritten, not dropped."""
    for written in ("1", "1.0"):
        at = open_page("pages/attack.py", gamma=written, subset="200.0")
        assert not at.exception and not at.warning
        assert at.select_slider(key="gamma").value == 1.0 and at.select_slider(key="subset").value == 200
        assert at.query_params.get("gamma") == "1" and at.query_params.get("subset") == "200"
    at = open_page("pages/significance.py", smooth="2.0", primary="3")
    assert not at.exception and at.query_params.get("smooth") == "2" and at.query_params.get("primary") == "3"


def test_on_the_lesson_a_bad_analysis_value_is_named_without_a_value_the_step_does_not_use(real_data_dir) -> None:
    """``/lesson?step=3&n=abc`` said "using 1000" above a step that runs 10,000 stimuli."""
    at = open_page("pages/lesson.py", step="3", n="abc", seed="x")
    assert not at.exception
    notes = [w.value for w in at.warning]
    assert "`n=abc` in the link is not valid (must be a whole number); this step of the lesson sets its own." in notes
    assert not [note for note in notes if "using" in note] and len(notes) == 2
    assert at.query_params.get("n") == "10000"  # step 3's N


def test_a_links_value_cannot_close_its_code_span_in_the_note(real_data_dir) -> None:
    """A backtick in a link's value closed the note's code span, and the rest rendered as Markdown (a review)."""
    at = open_page("pages/class_images.py", n="`[log in](https://evil.example)`")
    assert not at.exception
    (note,) = [w.value for w in at.warning if "in the link is not valid" in w.value]
    assert note.count("`") == 2 and note.startswith("`n='[log in](https://evil.example)'`"), note
    # a line break ended the span too: a forwarded link put its own heading, or a working link, in the note
    at = open_page("pages/confusion.py", n="100", noise="a\n\n## Your session expired", **{"x\n\n[click](u)": "1"})
    assert not at.exception
    notes = [w.value for w in at.warning]
    assert len(notes) == 2 and not any("\n" in note for note in notes), notes
    assert notes[0].startswith("`noise=a⏎⏎## Your session expired`") or notes[1].startswith("`noise=a⏎⏎"), notes


def test_a_mistyped_parameter_name_is_named_and_leaves_the_address(real_data_dir) -> None:
    """``/class_images?N=5000&r0.3&seed=2`` ran N = 1,000 and r = 0.7 without a word, and the typos stayed in the
    address for a copied link to pass on (a teacher's review)."""
    at = open_page("pages/class_images.py", N="5000", **{"r0.3": ""}, seed="2")
    assert not at.exception
    notes = [w.value for w in at.warning]
    assert "`N=5000` in the link is not a setting here; did you mean `n=5000`? It was left out." in notes
    assert "`r0.3` in the link is not a setting here; did you mean `r=0.3`? It was left out." in notes
    assert at.number_input(key="seed").value == 2 and not {"N", "r0.3"} & set(at.query_params)


def test_what_sites_add_to_a_shared_link_leaves_the_address_without_a_note(real_data_dir) -> None:
    """A link passed on by a learning or social site carries ``utm_source=moodle``, ``fbclid=…``: a warning for each
    told students of settings they never typed (a review). A mistyped setting beside them is still named."""
    at = open_page("pages/class_images.py", utm_source="moodle", UTM_Campaign="week3", fbclid="IwAR0abc", seed="2",
                   sed="4")
    assert not at.exception
    assert [w.value for w in at.warning] == ["`sed=4` in the link is not a setting here; did you mean `seed=4`? It "
                                             "was left out."]
    assert at.number_input(key="seed").value == 2 and set(at.query_params) == {"seed"}


def test_a_choice_typed_in_another_case_is_taken_and_written_as_the_page_writes_it(real_data_dir) -> None:
    """``dataset=Fashion-MNIST`` (as the dataset is named) gave a note and MNIST, the other dataset; ``z=TRUE`` was
    taken. A choice is now read in any case and with - for _, and the address written as the page writes it."""
    at = open_page("pages/class_images.py", dataset="Fashion-MNIST", arch="AlexNet", noise="Gaussian", n="200")
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    assert (at.query_params.get("dataset"), at.query_params.get("arch"), at.query_params.get("noise")) == \
        ("Fashion-MNIST", "AlexNet-style", "gaussian")
    assert at.selectbox(key="noise").value == "gaussian" and at.session_state["dataset"] == "fashion_mnist"


def test_the_sidebar_names_datasets_and_networks_as_the_pages_do(real_data_dir) -> None:
    """The sidebar's radios read "mnist | fashion_mnist" and "lenet | alexnet" beside "Fashion-MNIST" and
    "AlexNet-style" on the pages (a teacher's review). They show the names, write them into the link, and a link
    with the code names (every link written before, the command line's spelling) still opens its view."""
    at = open_page("pages/class_images.py", dataset="fashion_mnist", arch="alexnet", n="200")
    assert not at.exception and not at.warning, [w.value for w in at.warning]
    assert at.radio(key="dataset").options == ["MNIST", "Fashion-MNIST"]
    assert at.radio(key="arch").options == ["LeNet-style", "AlexNet-style"]
    assert (at.radio(key="dataset").value, at.radio(key="arch").value) == ("fashion_mnist", "alexnet")
    assert (at.query_params.get("dataset"), at.query_params.get("arch")) == ("Fashion-MNIST", "AlexNet-style")
    assert "AlexNet-style · Fashion-MNIST" in " ".join(s.value for s in at.sidebar.success)
    typed = open_page("pages/class_images.py", dataset="Fashion MNIST", arch="alexnet style", n="200")  # by hand
    assert not typed.exception and not typed.warning, [w.value for w in typed.warning]
    assert (typed.query_params.get("dataset"), typed.query_params.get("arch")) == ("Fashion-MNIST", "AlexNet-style")
    # (a press on the radio writes its name into the address in the browser: tests/test_e2e.py waits for it)
