"""Many sessions doing the same thing at the same moment, as a class opening one link does."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


def at_once(call: Callable[[], Any], sessions: int = 8) -> list[Any]:
    """``call()`` from ``sessions`` threads released together; their results (an exception fails the caller)."""
    start = threading.Barrier(sessions)
    results: list[Any] = []
    errors: list[BaseException] = []

    def session() -> None:
        start.wait()
        try:
            results.append(call())
        except BaseException as error:  # noqa: BLE001 - handed to the caller's thread
            errors.append(error)

    threads = [threading.Thread(target=session) for _ in range(sessions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


def slowly_counted(calls: list[int], compute: Callable[..., Any], seconds: float = 0.2) -> Callable[..., Any]:
    """``compute`` that records each call and takes ``seconds`` longer: every session arrives while it runs."""
    import time

    def counted(*args: Any, **kwargs: Any) -> Any:
        calls.append(threading.get_ident())
        time.sleep(seconds)
        return compute(*args, **kwargs)

    return counted
