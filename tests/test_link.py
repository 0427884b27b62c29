"""The link schema, without Streamlit: every parameter parses its own values and refuses others in plain words."""

from __future__ import annotations

import pytest

from core.link import ANALYSIS_KEYS, PARAMS, Controls, default_controls
from core.noise import DEFAULT_SIGMA


@pytest.mark.parametrize(("key", "text", "value"), [("n", "10000", 10_000), ("n", "150", 200), ("n", "12345", 10_000),
                                                    ("n", "1e6", 1_000_000), ("r", "0.35", 0.35), ("seed", "1.5", 1),
                                                    ("z", "TRUE", True), ("estimator", "softmax", "softmax"),
                                                    ("part", "noise", "noise"), ("dataset", "fashion_mnist",
                                                                                 "fashion_mnist"),
                                                    ("dataset", "Fashion-MNIST", "fashion_mnist"),
                                                    ("arch", "LeNet", "lenet"), ("noise", " Pink", "pink")])
def test_good_values_parse(key: str, text: str, value) -> None:
    assert PARAMS[key].parse(text) == value


@pytest.mark.parametrize(("key", "text", "reason"), [("n", "99", "between 100 and 1,000,000"),
                                                     ("n", "abc", "whole number"), ("n", "nan", "between 100"),
                                                     ("r", "nan", "between 0 and 1"), ("r", "x", "a number"),
                                                     ("seed", "-1", "between 0 and 2,147,483,647"),
                                                     ("z", "maybe", "true or false"), ("noise", "plaid", "one of")])
def test_bad_values_are_refused_in_plain_words(key: str, text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        PARAMS[key].parse(text)


def test_every_default_survives_its_own_link() -> None:
    for param in PARAMS.values():
        assert param.parse(param.written(param.default)) == param.default
    assert set(ANALYSIS_KEYS) < set(PARAMS)


def test_controls_name_their_stimulus_stream() -> None:
    pink = default_controls(noise="pink", sigma=0.3, seed=5, ratio=0.0)
    assert pink.settings.noise.sigma == 0.3 and pink.settings.noise.seed == 5 and pink.settings.ratio == 0.0
    uniform = default_controls(noise="uniform", sigma=0.3)  # σ does not apply: the same stream as any other σ
    assert uniform.settings == default_controls(noise="uniform").settings
    assert uniform.settings.noise.sigma == DEFAULT_SIGMA


def test_z_scores_only_on_noise_averages() -> None:
    assert Controls(1000, 0.0, "uniform", 0.2, "predicted", "noise", 0, True).shows_z_scores
    assert not Controls(1000, 0.0, "uniform", 0.2, "predicted", "input", 0, True).shows_z_scores


def test_the_readme_lists_every_link_parameter_with_its_default() -> None:
    """README's table of link parameters is the user's reference: a parameter added, renamed or given a new default
    must show there."""
    from core.config import PROJECT_ROOT

    readme = (PROJECT_ROOT / "README.md").read_text()
    table = readme[readme.index("## Links"):readme.index("## Data, offline")]
    rows = [line.split("|") for line in table.splitlines() if line.startswith("| `")]
    listed = {row[1].strip().strip("`"): row[3].strip().strip("`") for row in rows}
    assert listed == {key: param.written(param.default) for key, param in PARAMS.items()}


@pytest.mark.parametrize(("key", "text", "value"), [("r", "0.33", 0.35), ("r", "0.7", 0.7), ("r", "1", 1.0),
                                                    ("sigma", "0.0903", 0.1), ("sigma", "0.5", 0.5),
                                                    ("digit_r", "0.26", 0.25), ("digit_gamma", "0.503", 0.5)])
def test_slider_values_from_a_link_land_on_the_sliders_steps(key: str, text: str, value: float) -> None:
    assert PARAMS[key].parse(text) == value


@pytest.mark.parametrize(("key", "value", "meant"), [("N", "5000", "n=5000"), ("samples", "5000", "n=5000"),
                                                    ("n5000", "", "n=5000"), ("r0.3", "", "r=0.3"),
                                                    ("step3", "", "step=3"), ("estimater", "softmax",
                                                                              "estimator=softmax"),
                                                    ("Seed", "3", "seed=3"), ("ratio", "0.5", "r=0.5")])
def test_a_mistyped_parameter_name_gets_what_it_most_likely_meant(key: str, value: str, meant: str) -> None:
    """A teacher's review: N=5000, samples=5000, n5000, r0.3 and step3 all fell back to the defaults without a word."""
    from core.link import unknown_parameter_note

    assert unknown_parameter_note(key, value).endswith(f"; did you mean `{meant}`? It was left out.")


@pytest.mark.parametrize(("key", "value", "expected"), [
    ("ratio", "2", "did you mean `r`? (`2` is not valid there: must be between 0 and 1.)"),
    ("r2", "", "did you mean `r`? (`2` is not valid there: must be between 0 and 1.)"),
    ("samples", "abc", "did you mean `n`? (`abc` is not valid there: "),
    ("r2", "0.5", "did you mean `r=0.5`?"),  # the value after "=" is the one meant (it was told 2 is not valid)
])
def test_a_guess_whose_value_would_be_refused_too_names_the_setting_and_why(key: str, value: str,
                                                                          expected: str) -> None:
    """``ratio=2`` was told "did you mean r=2?", which the link check refuses as well (a review)."""
    from core.link import unknown_parameter_note

    note = unknown_parameter_note(key, value)
    assert expected in note and note.endswith("It was left out."), note


@pytest.mark.parametrize(("key", "text", "message"), [("target", "x", "must be a whole number from 0 to 9"),
                                                       ("r", "x", "must be a number from 0 to 1")])
def test_a_value_that_is_no_number_is_told_what_is_wanted(key: str, text: str, message: str) -> None:
    """``target=x`` was told "must be a number", though 4.5 is no class either (a review)."""
    with pytest.raises(ValueError, match=message):
        PARAMS[key].parse(text)


def test_a_links_text_stays_in_code_spans_and_never_becomes_markdown() -> None:
    """Outside a code span a value such as ``[log in](https://evil.example)`` rendered as a link in the note (a
    review); a backtick in it would have closed the span."""
    from core.link import unknown_parameter_note

    for key, value in (("ratio", "[log in](https://evil.example)"), ("x`y", "`[a](b)`"), ("ratio", "`![i](u)"),
                       ("x\n\n[a](b)", "1"), ("noise", "a\r\n\n## Your session expired\u2028[a](b)")):
        note = unknown_parameter_note(key, value)
        spans = note.split("`")
        assert len(spans) % 2 == 1, note  # every span closed
        outside = "".join(spans[0::2])
        assert "](" not in outside and "[" not in outside, note
        assert not any(c in note for c in "\r\n\u2028"), note  # a line break would end the span: Markdown again


def test_a_parameter_near_nothing_is_named_without_a_guess() -> None:
    from core.link import unknown_parameter_note

    assert unknown_parameter_note("foo", "1") == "`foo=1` in the link is not a setting here. It was left out."


def test_every_page_names_its_files_by_one_stem_with_every_setting() -> None:
    stem = default_controls(ratio=0.0, estimator="softmax", part="noise").file_stem("lenet", "mnist", 1000, "noise")
    assert stem == "lenet-mnist-uniform-softmax-noise-N1000-r0-seed0"
    pink = default_controls(noise="pink", sigma=0.3).file_stem("alexnet", "mnist", 500, "input")
    assert pink == "alexnet-mnist-pink0.3-truth-input-N500-r0.7-seed0"  # σ in the noise's label
    z = default_controls(ratio=0.0, estimator="softmax", part="noise", z_scores=True)
    assert z.file_stem("lenet", "mnist", 1000, "noise") == "lenet-mnist-uniform-softmax-noise-N1000-r0-seed0-z"
    assert default_controls(z_scores=True).file_stem("lenet", "mnist", 1000, "input").endswith("-seed0")  # no z view


def test_dataset_and_network_are_written_by_name_and_read_by_name_or_code() -> None:
    """The sidebar's radios show, and write into the link, the names the pages use; links written with the code
    names (before, and by the command line's spelling) still read."""
    dataset, arch = PARAMS["dataset"], PARAMS["arch"]
    assert [dataset.written(d) for d in ("mnist", "fashion_mnist")] == ["MNIST", "Fashion-MNIST"]
    assert [arch.written(a) for a in ("lenet", "alexnet")] == ["LeNet-style", "AlexNet-style"]
    for text in ("Fashion-MNIST", "fashion_mnist", "FASHION-mnist", "Fashion MNIST", " fashionmnist"):
        assert dataset.parse(text) == "fashion_mnist"
    for text in ("AlexNet-style", "alexnet", "AlexNet", "alexnet_style", "AlexNet style"):
        assert arch.parse(text) == "alexnet"
    with pytest.raises(ValueError, match="choose one of MNIST, Fashion-MNIST"):
        dataset.parse("cifar10")
    assert PARAMS["noise"].written("pink") == "pink" and PARAMS["n"].written(10_000) == "10000"
