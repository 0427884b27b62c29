"""What each ``python -m core`` command does, kept apart from argument parsing."""

from __future__ import annotations

import argparse
import sys

from tqdm import tqdm

from core.data import DataUnavailableError, IdxFormatError


class UserFacingError(RuntimeError):
    """A problem the user can fix; printed as one line."""


def _train(args: argparse.Namespace) -> int:
    from core.models import TrainProgress
    from core.store import train_and_save

    bar: tqdm | None = None

    def report(progress: TrainProgress) -> None:
        nonlocal bar
        if bar is None or bar.total != progress.batches or progress.batch == 1 and not progress.epoch_done:
            if bar is not None:
                bar.close()
            bar = tqdm(total=progress.batches, desc=f"epoch {progress.epoch}/{progress.epochs}", unit="batch",
                       file=sys.stderr)
        if progress.epoch_done:
            bar.set_postfix(loss=f"{progress.loss:.4f}", acc=f"{progress.accuracy:.4f}",
                            test_acc=f"{progress.val_accuracy:.4f}")
            bar.close()
            bar = None
            return
        bar.update(progress.batch - bar.n)
        if progress.batch % 20 == 0:
            bar.set_postfix(loss=f"{progress.loss:.4f}", acc=f"{progress.accuracy:.4f}")

    ready = train_and_save(args.arch, args.dataset, origin=args.origin, on_progress=report, epochs=args.epochs,
                           seed=args.seed, batch_size=args.batch_size, augment=args.augment)
    meta = ready.metadata
    print(f"{args.arch}-{args.dataset}: test accuracy {meta['test_accuracy']:.2%}, "
          f"{meta['training_seconds']:.0f} s, {meta['file_bytes'] / 1e6:.2f} MB, {meta['parameters']:,} parameters")
    return 0


def _models(_: argparse.Namespace) -> int:
    from core.store import list_models

    print(f"{'model':<30} {'status':<9} {'accuracy':>9} {'epochs':>6} {'origin':<13} created")
    for status in list_models():
        meta = status.metadata or {}
        accuracy = f"{meta['test_accuracy']:.2%}" if "test_accuracy" in meta else "-"
        print(f"{status.arch + '-' + status.dataset:<30} {status.state:<9} {accuracy:>9} "
              f"{meta.get('epochs', '-')!s:>6} {meta.get('origin', '-'):<13} {meta.get('created', '-')}")
        if status.problem and status.state == "damaged":
            print(f"    ! {status.problem}")
    return 0


COMMANDS = {"train": _train, "models": _models}


def run(args: argparse.Namespace) -> int:
    try:
        return COMMANDS[args.command](args)
    except (DataUnavailableError, IdxFormatError, ValueError) as err:
        raise UserFacingError(str(err).replace("\n", " ")) from err
