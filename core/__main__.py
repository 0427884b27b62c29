"""Command line: ``python -m core train|models|analyze|attack|sta``. Bad arguments give one line and exit code 2."""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Callable, Sequence
from typing import Any

from core.config import DATASETS
from core.link import SEEDS
from core.models import ARCHITECTURES


class _ShowDefaults(argparse.HelpFormatter):
    """``--help`` says each option's default where it has one (argparse's own formatter also prints "None")."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if action.default is None or action.default is False or action.default == argparse.SUPPRESS \
                or not action.option_strings or "%(default)" in text:
            return text
        shown = f"{action.default:,}" if isinstance(action.default, int) else "%(default)s"
        return f"{text} (default: {shown})".lstrip()


class _OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line, without the usage block."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _ShowDefaults)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")

    def parse_known_args(self, args: Any = None, namespace: Any = None) -> tuple[argparse.Namespace, list[str]]:
        """An argument no command knows is named by that command (``python -m core attack: error: …``), as its
        range errors are; argparse left it to the top parser, which named no command."""
        parsed, extras = super().parse_known_args(args, namespace)
        if extras:
            self.error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed, extras


def _in_range(kind: type, low: float, high: float | None = None) -> Callable[[str], Any]:
    """An argparse type: a number of ``kind`` within [low, high], with a message that says which bound."""
    noun = "a whole number" if kind is int else "a number"
    shown = (lambda v: f"{v:,}") if kind is int else (lambda v: f"{v:g}")

    def parse(text: str) -> Any:
        try:
            value = kind(text) if kind is not int else _whole_number(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {noun}, got {text!r}") from None
        if kind is float and not math.isfinite(value):  # "inf" passed a lower bound: a ridge of inf zeroed kernels
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
        given = text.strip()  # as typed: "1e30", not the 31-digit whole number it is; a long one cut
        given = given if len(given) <= 20 else f"{given[:12]}… ({len(given)} characters)"
        if high is None and not value >= low:
            raise argparse.ArgumentTypeError(f"must be at least {shown(low)}, got {given}")
        if high is not None and not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {shown(low)} and {shown(high)}, got {given}")
        return value

    return parse


def _whole_number(text: str) -> int:
    """``int`` that also takes a whole number written as a float, as researchers write sample counts: "1e6"."""
    try:
        return int(text)
    except ValueError:
        value = float(text)  # a ValueError here is the caller's "expected a whole number"
        if not value.is_integer():
            raise
        return int(value)


def _above_zero(high: float) -> Callable[[str], float]:
    """An argparse type: a number greater than 0 and at most ``high``."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not 0.0 < value <= high:
            raise argparse.ArgumentTypeError(f"must be greater than 0 and at most {high:g}, got {value:g}")
        return value

    return parse


_positive_int = _in_range(int, 1)
#: The most stimuli a command takes: 10⁸ is about an hour and a half here; "1e30" (now easy to type) ran for ever.
MOST_SAMPLES = 100_000_000
_sample_count = _in_range(int, 1, MOST_SAMPLES)
_seed = _in_range(int, *SEEDS)  # the page's range: a command's run can be opened on the page by its link
_ratio = _in_range(float, 0.0, 1.0)
_nonnegative_float = _in_range(float, 0.0)
_sigma = _above_zero(1.0)  # σ = 0 is no noise at all: every statistic of the run would be 0/0


def build_parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m core", description="Noise Lens: models and white-noise analysis")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_OneLineParser)

    train = commands.add_parser("train", help="train a model and store it in cache/models/")
    train.add_argument("--arch", required=True, choices=list(ARCHITECTURES))
    train.add_argument("--dataset", required=True, choices=list(DATASETS))
    train.add_argument("--epochs", type=_positive_int, default=12, help="passes over the training images")
    train.add_argument("--seed", type=_seed, default=0, help="weight initialisation and batch order")
    train.add_argument("--batch-size", type=_positive_int, default=128, help="training images per step")
    train.add_argument("--augment", action="store_true", help="light random shifts during training (default: none)")
    train.add_argument("--origin", choices=["trained here", "shipped"], default="trained here",
                       help=argparse.SUPPRESS)

    commands.add_parser("models", help="list cached models with accuracy and status")

    from core.analysis import ESTIMATORS, PARTS
    from core.noise import DEFAULT_SIGMA, NOISE_TYPES
    from core.readout import DEFAULT_RIDGE

    sigma_help = (f"σ of the Gaussian behind gaussian, base, pink and data noise, 0 < σ ≤ 1 "
                  f"(default: {DEFAULT_SIGMA:g})")
    samples_help = "stimuli (noise images) shown to the model"
    estimator_help = "how the stimuli are grouped into class images (the page's Grouping)"
    seed_help = "the noise stream: the same seed gives the same stimuli, here and on the page"

    analyze = commands.add_parser("analyze", help="classification images for one model")
    analyze.add_argument("--arch", required=True, choices=list(ARCHITECTURES))
    analyze.add_argument("--dataset", required=True, choices=list(DATASETS))
    analyze.add_argument("--samples", type=_sample_count, default=10_000, help=samples_help)
    analyze.add_argument("--ratio", type=_ratio, default=0.0, help="signal ratio r in x = r·signal + (1−r)·noise")
    analyze.add_argument("--noise", choices=list(NOISE_TYPES), default="uniform", help="noise type")
    analyze.add_argument("--sigma", type=_sigma, default=None, help=sigma_help)
    analyze.add_argument("--estimator", choices=list(ESTIMATORS), default="predicted", help=estimator_help)
    analyze.add_argument("--part", "--average", dest="part", choices=list(PARTS), default="noise",
                         help="with r > 0: average the noise part or the whole input (--average: the old name)")
    analyze.add_argument("--seed", type=_seed, default=0, help=seed_help)
    analyze.add_argument("--ridge", type=_nonnegative_float, default=DEFAULT_RIDGE,
                         help="ridge λ of the whitened kernel (Σ + λ·s·I)⁻¹·kernel, s the mean pixel variance")
    from core.significance import DEFAULT_PRIMARY, DEFAULT_SMOOTHING

    analyze.add_argument("--smooth", type=_above_zero(14.0), default=DEFAULT_SMOOTHING,
                         help="σ in pixels of the Gaussian that smooths the z-maps before the pixel and cluster tests")
    analyze.add_argument("--primary", type=_above_zero(10.0), default=DEFAULT_PRIMARY,
                         help="the cluster test's primary (cluster-forming) threshold |z|")
    analyze.add_argument("--z-scores", action="store_true",
                         help="draw class_images.png as pixel-wise z-scores and write them to z_scores.npy, as the "
                              "page's Show z-scores does (noise part, black-box groupings; default: the images)")
    analyze.add_argument("--out", required=True, help="output folder")

    attack = commands.add_parser("attack", help="CI-injection attack: targeted success rate against the blend γ")
    attack.add_argument("--arch", required=True, choices=list(ARCHITECTURES))
    attack.add_argument("--dataset", required=True, choices=list(DATASETS))
    attack.add_argument("--samples", type=_sample_count, default=200_000, help="stimuli behind the class images")
    attack.add_argument("--ratio", type=_ratio, default=0.0, help="signal ratio r in x = r·signal + (1−r)·noise")
    attack.add_argument("--noise", choices=list(NOISE_TYPES), default="uniform", help="noise type")
    attack.add_argument("--sigma", type=_sigma, default=None, help=sigma_help)
    attack.add_argument("--estimator", choices=list(ESTIMATORS), default="softmax", help=estimator_help)
    attack.add_argument("--part", choices=list(PARTS), default="noise", help="the part of each stimulus averaged")
    attack.add_argument("--seed", type=_seed, default=0, help=seed_help)
    attack.add_argument("--subset", type=_in_range(int, 1, 10_000), default=500,
                        help="noise inputs and test images each (each input: 180 passes through the model)")
    attack.add_argument("--target", type=_in_range(int, 0, 9), default=0,
                        help="the target class k of the examples (examples.npy, examples.csv)")
    attack.add_argument("--gamma", type=_ratio, default=0.5,
                        help="the blend weight γ of the examples: x' = (1 − γ)·input + γ·template of class k")
    attack.add_argument("--out", required=True, help="output folder")

    sta = commands.add_parser("sta", help="receptive fields: spike-triggered averages of the convolutional units")
    sta.add_argument("--arch", required=True, choices=list(ARCHITECTURES))
    sta.add_argument("--dataset", required=True, choices=list(DATASETS))
    sta.add_argument("--samples", type=_sample_count, default=10_000, help=samples_help)
    sta.add_argument("--noise", choices=list(NOISE_TYPES), default="uniform", help="noise type")
    sta.add_argument("--sigma", type=_sigma, default=None, help=sigma_help)
    sta.add_argument("--seed", type=_seed, default=0, help=seed_help)
    sta.add_argument("--layers", nargs="+", default=None, metavar="convK",
                     help="only these convolutional layers (conv1 conv2 …); the network runs only as deep as needed "
                          "(default: every convolutional layer)")
    sta.add_argument("--out", required=True, help="output folder")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from core import cli

    try:
        return cli.run(args)
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130
    except cli.UserFacingError as err:
        print(f"python -m core: error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
