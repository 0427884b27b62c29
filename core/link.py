"""The link schema: every setting of a view as URL parameters and back (the ``state.ts`` of Noise Lens).

A copied link reproduces the view, seed included. Values from a link are parsed here first, so a bad one is named
on screen instead of silently dropped. No Streamlit here: ``ui/link_sync.py`` applies the schema to a session.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from core.analysis import ESTIMATORS, GRADIENT_ESTIMATORS, PARTS
from core.reverse_correlation import AnalysisSettings
from core.attack import GAMMAS, SUBSETS
from core.config import DATASET_TITLES
from core.lesson import parse_step
from core.models import ARCHITECTURES, SHIPPED_ARCHITECTURES
from core.noise import DEFAULT_SIGMA, NOISE_TYPES, SIGMA_NOISE_TYPES, NoiseSpec
from core.readout import DEFAULT_RIDGE, RIDGE_CHOICES
from core.significance import DEFAULT_PRIMARY, DEFAULT_SMOOTHING, PRIMARY_CHOICES, SMOOTHING_CHOICES

ATTACK_GAMMAS = tuple(float(g) for g in GAMMAS)  # the attack page's γ slider: 0, 0.1, …, 1
SAMPLE_COUNTS = [100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000]


@dataclass(frozen=True)
class Param:
    """One URL parameter: its default and how to check a value from a link."""

    default: Any
    parse: Callable[[str], Any]
    # Bound to a select slider, which takes a link's value only in the text it writes itself (each of these writes
    # ``link_text`` of its option); other text for the same value (γ = "1.0") would be dropped from the address.
    exact: bool = False
    # A choice whose radio shows its options by name ("Fashion-MNIST", "LeNet-style") writes that name into the
    # link, not the option's code: the link's text for a value is then its title.
    titles: Mapping[str, str] | None = None

    def written(self, value: Any) -> str:
        """``value`` as this parameter's widget writes it into the link: ``Fashion-MNIST``, ``0.7``, ``true``."""
        return self.titles[value] if self.titles is not None and value in self.titles else link_text(value)

    def parsed(self, text: str) -> Any | None:
        """The value of ``text``, or None if it is not valid (the link check names such values once)."""
        try:
            return self.parse(text)
        except (ValueError, TypeError):
            return None


def _folded(text: str) -> str:
    """A choice as a person may type it into a link: "Fashion-MNIST", "Fashion MNIST" (``Fashion+MNIST``) or
    "fashionmnist" for fashion_mnist, "LeNet" for lenet: case, spaces, hyphens and underscores do not count."""
    return re.sub(r"[\s_-]+", "", text.lower())


def _choice(options: list[str], titles: Mapping[str, str] | None = None) -> Callable[[str], str]:
    """One of ``options``, however it is cased or spaced, named by its code or by its title where it has one
    ("fashion_mnist" or "Fashion-MNIST", "alexnet" or "AlexNet-style")."""
    names = {option: {_folded(option), _folded(titles[option])} if titles else {_folded(option)} for option in options}
    assert all(names[a].isdisjoint(names[b]) for a in options for b in options if a != b), "options fold alike"

    def parse(text: str) -> str:
        matches = [option for option in options if _folded(text) in names[option]]
        if not matches:
            raise ValueError(f"choose one of {', '.join(titles[o] for o in options) if titles else ', '.join(options)}")
        return matches[0]

    return parse


def _titled_choice(default: str, titles: Mapping[str, str]) -> Param:
    """A choice shown, and written into the link, by its title (the sidebar's dataset and architecture)."""
    return Param(default, _choice(list(titles), titles), titles=titles)


def _plain(number: float) -> str:
    """2147483647 as 2,147,483,647 rather than 2.14748e+09."""
    return f"{int(number):,}" if float(number).is_integer() else f"{number:g}"


def _number(low: float, high: float, kind: type = float) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        noun = "a whole number" if kind is int else "a number"  # target=x was told "a number" (a review)
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"must be {noun} from {_plain(low)} to {_plain(high)}") from None
        if not low <= value <= high:  # NaN fails this too
            raise ValueError(f"must be between {_plain(low)} and {_plain(high)}")
        return value if kind is float else int(value)  # as Streamlit's number input reads its link: 1.5 → 1

    return parse


def _on_steps(low: float, high: float, step: float) -> Callable[[str], float]:
    """A slider's value from a link: in range, then moved to the nearest of the slider's steps. The slider shows no
    other value, and σ = 0.0903 ran (and cached a 10-MB covariance) as a setting of its own, shown as 0.09."""
    within = _number(low, high)

    def parse(text: str) -> float:
        return round(low + round((within(text) - low) / step) * step, 10)

    return parse


def _flag(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError("must be true or false")
    return text.lower() == "true"


def _sample_count(text: str) -> int:
    """N from a link: one of the slider's 1-2-5 steps; a number between them moves to the nearest on its log
    scale (n=150 → 200), as an off-step r does, rather than falling back to the default."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError("must be a whole number") from None
    if not SAMPLE_COUNTS[0] <= value <= SAMPLE_COUNTS[-1]:  # NaN fails this too
        raise ValueError(f"must be between {SAMPLE_COUNTS[0]:,} and {SAMPLE_COUNTS[-1]:,}")
    return min(SAMPLE_COUNTS, key=lambda step: abs(math.log(step / value)))


def _grid(values: tuple) -> Callable[[str], Any]:
    """One of a slider's fixed values (γ = 0, 0.1, …, 1; subset sizes), returned as the slider's own value."""
    def parse(text: str) -> Any:
        try:
            value = float(text)
        except ValueError:
            raise ValueError("must be a number") from None
        for option in values:
            if abs(value - option) < 1e-9:
                return option
        raise ValueError(f"must be one of {', '.join(_plain(v) for v in values)}")

    return parse


SEEDS = (0, 2**31 - 1)  # the noise streams' seeds, lowest and highest

PARAMS: dict[str, Param] = {
    "dataset": _titled_choice("mnist", DATASET_TITLES),
    "arch": _titled_choice("lenet", {arch: ARCHITECTURES[arch].title for arch in SHIPPED_ARCHITECTURES}),
    "n": Param(1_000, _sample_count, exact=True),
    "r": Param(0.7, _on_steps(0.0, 1.0, 0.05)),
    "noise": Param("uniform", _choice(list(NOISE_TYPES))),
    "sigma": Param(DEFAULT_SIGMA, _on_steps(0.05, 0.5, 0.05)),
    "estimator": Param("truth", _choice(list(ESTIMATORS))),
    "part": Param("input", _choice(list(PARTS))),
    "seed": Param(0, _number(*SEEDS, int)),
    "z": Param(False, _flag),
    # Attack page: the target class of the example images, their blend weight γ, and the inputs per source.
    "target": Param(0, _number(0, 9, int)),
    "gamma": Param(0.5, _grid(ATTACK_GAMMAS), exact=True),
    "subset": Param(100, _grid(SUBSETS), exact=True),
    # Receptive fields page: the convolutional layer whose units are shown (conv3 exists in AlexNet only; on LeNet
    # the page says so and shows its last layer).
    "layer": Param("conv1", _choice(["conv1", "conv2", "conv3"])),
    # Whitened kernels page: the ridge strength λ of (Σ + λ·s·I)⁻¹.
    "ridge": Param(DEFAULT_RIDGE, _grid(RIDGE_CHOICES), exact=True),
    # Significance page: σ (pixels) of the Gaussian that smooths the z-maps, and the cluster-forming |z|.
    "smooth": Param(DEFAULT_SMOOTHING, _grid(SMOOTHING_CHOICES), exact=True),
    "primary": Param(DEFAULT_PRIMARY, _grid(PRIMARY_CHOICES), exact=True),
    # Your digit page: drawn or uploaded, the signal ratio r of the digit mixed with the noise, the blend weight γ of
    # the target class's image (the target class is "target", as on the Attack page). The drawing itself is not.
    "digit_input": Param("draw", _choice(["draw", "upload"])),
    "digit_r": Param(1.0, _on_steps(0.0, 1.0, 0.05)),
    "digit_gamma": Param(0.0, _on_steps(0.0, 1.0, 0.01)),
    # Lesson page: the step a teacher sends ("step=3"); each step sets the analysis controls itself.
    "step": Param(1, parse_step),
}
#: The parameters of the analysis controls, which follow the student from page to page.
ANALYSIS_KEYS = ("n", "r", "noise", "sigma", "seed", "estimator", "part", "z")


#: Other names for a link's parameters: the command line's (``--samples``, ``--ratio``), and words from the page.
OTHER_NAMES = {"samples": "n", "ratio": "r", "signal_ratio": "r", "z_scores": "z", "zscores": "z",
               "grouping": "estimator", "average": "part", "model": "arch", "architecture": "arch", "data": "dataset"}


def meant_parameter(key: str) -> str | None:
    """What a parameter the link does not have most likely meant, as it should be written: ``N`` → ``n``,
    ``samples`` → ``n``, ``n5000`` (the "=" left out) → ``n=5000``, ``estimater`` → ``estimator``; None if nothing
    is near. Such parameters were dropped without a word, and stayed in the address to be copied on."""
    name = key.lower()
    if name in PARAMS or name in OTHER_NAMES:
        return OTHER_NAMES.get(name, name)
    if (glued := re.fullmatch(r"([a-z_]+)([-+]?[\d.]+)", name)) and glued[1] in PARAMS:
        return f"{glued[1]}={glued[2]}"
    near = difflib.get_close_matches(name, [*PARAMS, *OTHER_NAMES], n=1, cutoff=0.75)
    return OTHER_NAMES.get(near[0], near[0]) if near else None


MOST_SHOWN = 60  # characters of a link's text a note repeats: a 5,000-character value pushed the page off screen


def _cut(text: str, most: int) -> str:
    return text if len(text) <= most else text[:most] + "…"


# Line breaks end a Markdown code span, and what follows is Markdown again: a forwarded link with "%0A%0A" in it put
# its own heading, or a working link, inside the page's note (a review). Other control characters are shown too.
_LINE_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def as_code(text: str) -> str:
    """A link's text for a Markdown code span: backticks (which would close it) become quotes, line breaks and other
    control characters ⏎ (a break would end the span), and a long text is cut (the note names it; the whole of it
    helps nobody)."""
    return _LINE_BREAKS.sub("⏎", _cut(text, MOST_SHOWN).replace("`", "'"))


# What mail, social and learning sites add to a link they pass on (utm_source=moodle, fbclid=…): not the teacher's
# settings, so left out of the address without the note a mistyped setting gets (a warning for each, a review).
_TRACKING_NAMES = frozenset({"fbclid", "gclid", "dclid", "gbraid", "wbraid", "msclkid", "igshid", "mc_cid", "mc_eid",
                             "yclid", "twclid", "ttclid", "_hsenc", "_hsmi"})


def is_tracking_parameter(key: str) -> bool:
    """Whether ``key`` is a tracking parameter a site added to the link (``utm_*``, ``fbclid``, …)."""
    return key.lower().startswith("utm_") or key.lower() in _TRACKING_NAMES


def unknown_parameter_note(key: str, value: str) -> str:
    """The link check's note for a parameter no page has (the parameter is then removed from the address)."""
    meant = meant_parameter(key.replace("`", "'"))  # the whole name: a glued n=… is read from all of it
    name, _, glued = (meant or "").partition("=")
    text = value or glued  # r2=0.5: the value written after "=" is the one meant, not the 2 glued to the name
    key, value = as_code(key), as_code(value)  # shown in code spans: a backtick would end one, and the rest be Markdown
    written = f"{key}={value}" if value else key
    if name in PARAMS and text:
        # ratio=2 was told "did you mean r=2?", which is refused too (a review): name the setting, not the value
        try:
            PARAMS[name].parse(text)
        except (ValueError, TypeError) as err:
            return (f"`{written}` in the link is not a setting here; did you mean `{name}`? (`{as_code(text)}` is "
                    f"not valid there: {shorter(str(err))}.) It was left out.")
    if meant is not None and value:
        meant = f"{name}={value}"
    hint = f"; did you mean `{meant}`?" if meant else "."
    return f"`{written}` in the link is not a setting here{hint} It was left out."


def shorter(text: str) -> str:
    """A parser's message, cut as ``as_code`` cuts a value (it may repeat the value)."""
    return _cut(text, 2 * MOST_SHOWN)


def link_text(value: Any) -> str:
    """A value as it is written in a link: ``true``, ``0.7``, ``10000``."""
    return str(value).lower() if isinstance(value, bool) else f"{value:g}" if isinstance(value, float) else str(value)


@dataclass(frozen=True)
class Controls:
    """The analysis settings as plain values, read from the widgets or a link."""

    n: int
    ratio: float
    noise: str
    sigma: float
    estimator: str
    part: str
    seed: int
    z_scores: bool

    @property
    def shows_z_scores(self) -> bool:
        """z-scores are defined for the black-box noise averages and kernels; the toggle does nothing elsewhere."""
        return self.z_scores and self.part == "noise" and self.estimator not in GRADIENT_ESTIMATORS

    @property
    def sigma_used(self) -> float | None:
        """σ as recorded: None for uniform noise, which has none."""
        return self.settings.noise.sigma_used

    @property
    def noise_label(self) -> str:
        """The noise as download names carry it: "gaussian0.2", "uniform"."""
        return self.settings.noise.label

    def record(self, arch: str, dataset: str, samples: int, part: str) -> dict[str, Any]:
        """These settings in the form the command line records them (``core.runs.settings_line`` writes it out):
        ``samples`` stimuli done, ``part`` the part drawn (the gradient kernel's is the noise whatever was asked)."""
        return {"arch": arch, "dataset": dataset, "samples": samples, "ratio": self.ratio, "noise": self.noise,
                "sigma": self.sigma_used, "estimator": self.estimator, "part": part, "seed": self.seed}

    def file_stem(self, arch: str, dataset: str, samples: int, part: str) -> str:
        """The name the pages give a view's downloads and command folder, every setting in it, so files of two
        views never overwrite each other: ``lenet-mnist-uniform-softmax-noise-N1000-r0-seed0``, ``-z`` at the end
        for the z-score view."""
        return (f"{arch}-{dataset}-{self.noise_label}-{self.estimator}-{part}-N{samples}-r{self.ratio:g}"
                f"-seed{self.seed}" + ("-z" if self.shows_z_scores else ""))

    @property
    def settings(self) -> AnalysisSettings:
        """The stimulus stream these controls describe (σ only where the noise type has one), with the model's
        gradients where the estimator needs them."""
        sigma = self.sigma if self.noise in SIGMA_NOISE_TYPES else DEFAULT_SIGMA
        return AnalysisSettings(NoiseSpec(self.noise, sigma, self.seed), self.ratio,
                                gradients=self.estimator in GRADIENT_ESTIMATORS)


def default_controls(**changes: Any) -> Controls:
    """The controls of a fresh link, with ``changes``: e.g. the original study's figure."""
    values = {"n": PARAMS["n"].default, "ratio": PARAMS["r"].default, "noise": PARAMS["noise"].default,
              "sigma": PARAMS["sigma"].default, "estimator": PARAMS["estimator"].default,
              "part": PARAMS["part"].default, "seed": PARAMS["seed"].default, "z_scores": PARAMS["z"].default}
    return Controls(**{**values, **changes})
