"""The teacher key: precedence, blank keys, constant-time comparison, odd input; publishing a model server-wide."""

from __future__ import annotations

import hmac
from pathlib import Path

import pytest

from core import teacher_key
from core.teacher_key import TEACHER_KEY_ENV, configured_key, key_matches


def test_right_key_matches_and_wrong_key_does_not() -> None:
    assert key_matches("owl-42", "owl-42")
    assert not key_matches("owl-43", "owl-42")
    assert not key_matches("owl-4", "owl-42")
    assert not key_matches("", "owl-42")


def test_nothing_matches_when_no_key_is_configured() -> None:
    for given in ("", " ", "anything", "None"):
        assert not key_matches(given, None)
        assert not key_matches(given, "")
        assert not key_matches(given, "   ")


def test_blank_keys_count_as_not_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TEACHER_KEY_ENV, raising=False)
    assert configured_key(None) is None
    assert configured_key("") is None
    assert configured_key(" \t\n") is None
    monkeypatch.setenv(TEACHER_KEY_ENV, "   ")
    assert configured_key(None) is None


def test_secrets_take_precedence_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TEACHER_KEY_ENV, "from-env")
    assert configured_key("from-secrets") == "from-secrets"
    assert configured_key(None) == "from-env"
    assert configured_key("  ") == "from-env"  # a blank secret does not hide a real environment key
    assert configured_key(None, environ={}) is None
    assert configured_key(None, environ={TEACHER_KEY_ENV: "given"}) == "given"


def test_a_number_in_secrets_toml_works_as_typed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(TEACHER_KEY_ENV, raising=False)
    assert configured_key(1234) == "1234" and key_matches("1234", configured_key(1234))
    assert configured_key(True) is None and configured_key({"nested": "table"}) is None


def test_pasted_whitespace_is_forgiven() -> None:
    assert key_matches(" owl-42\n", "owl-42")
    assert key_matches("owl-42", "owl-42\n")


def test_non_ascii_and_odd_input_never_raise() -> None:
    assert key_matches("clé-über-東京", "clé-über-東京")
    assert key_matches("cle\u0301", "cl\u00e9")  # decomposed é typed, composed é configured
    assert not key_matches("cle", "clé")
    assert not key_matches("\ud800", "clé")  # a lone surrogate cannot be UTF-8 encoded
    assert not key_matches("\ud800", "\ud800")
    for odd in (None, b"owl-42", 42, ["owl-42"], object()):
        assert not key_matches(odd, "owl-42")  # type: ignore[arg-type]
    assert not key_matches("\x00", "owl-42")


def test_comparison_uses_compare_digest_on_utf8_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[object, object]] = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert key_matches("clé", "clé") and not key_matches("cle", "clé")
    assert calls == [("clé".encode(), "clé".encode()), (b"cle", "clé".encode())]


def test_module_never_logs_or_prints_the_key() -> None:
    source = Path(teacher_key.__file__).read_text(encoding="utf-8")
    assert "import logging" not in source and "print(" not in source
    assert "streamlit" not in source.split('"""', 2)[2]  # core/ must not import streamlit


@pytest.mark.slow  # a training and a publish
def test_published_model_is_served_and_the_shipped_default_can_come_back(temp_cache: Path, mnist) -> None:
    from core import store
    from core.models import train

    result = train("lenet", "mnist", epochs=1, train_limit=512)
    shipped = store.save_model(result, "lenet", "mnist", origin="shipped")

    record = store.publish_model(result, "lenet", "mnist")
    assert record["origin"] == "published from the app"
    assert store.inspect_model("lenet", "mnist").usable
    assert store.shipped_backup_available("lenet", "mnist")
    _, served = store.load_model("lenet", "mnist")
    assert served["sha256"] == record["sha256"]

    restored = store.restore_shipped("lenet", "mnist")
    assert restored["origin"] == "shipped" and restored["sha256"] == shipped["sha256"]

    with pytest.raises(ValueError, match="is 'lenet', not 'alexnet'"):
        store.publish_model(result, "alexnet", "mnist")
    assert store.inspect_model("alexnet", "mnist").state == "missing"


def test_publishing_while_the_model_is_locked_can_refuse_at_once(temp_cache: Path) -> None:
    from types import SimpleNamespace

    from filelock import FileLock

    from core import store

    store.models_dir().mkdir(parents=True, exist_ok=True)
    fake = SimpleNamespace(model=SimpleNamespace(name="lenet"))
    with FileLock(str(store.models_dir() / "lenet-mnist.lock")):
        with pytest.raises(store.TrainingInProgress):
            store.publish_model(fake, "lenet", "mnist", wait=False)  # type: ignore[arg-type]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_the_wrong_key_budget_closes_after_most_wrong_keys_and_reopens_as_they_leave_the_window() -> None:
    clock = FakeClock()
    budget = teacher_key.WrongKeyBudget(most=3, window=60.0, clock=clock)
    for step in range(3):
        assert budget.wait_seconds() == 0.0
        assert budget.take() is not None
        clock.now += 10.0
    assert budget.take() is None
    assert budget.wait_seconds() == pytest.approx(30.0)  # the first wrong key (t = 1000) leaves at t = 1060
    clock.now += 29.0
    assert budget.wait_seconds() == pytest.approx(1.0)
    clock.now += 1.0
    assert budget.wait_seconds() == 0.0  # one left the window: one more may be tried
    token = budget.take()
    assert budget.wait_seconds() == pytest.approx(10.0)
    budget.give_back(token)  # that key was right: it spent nothing
    assert budget.wait_seconds() == 0.0
    budget.take()
    budget.clear()
    assert budget.wait_seconds() == 0.0


def test_sessions_checking_keys_at_once_cannot_pass_the_budget_together() -> None:
    """Checked, compared, then counted, a review's fifty sessions at once had 41 keys compared against a budget of
    5: each place is taken before its key is compared."""
    import threading

    budget, barrier, taken = teacher_key.WrongKeyBudget(most=5), threading.Barrier(50), []

    def guess() -> None:
        barrier.wait()
        if budget.take() is not None:
            taken.append(1)

    threads = [threading.Thread(target=guess) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(taken) == 5


def test_the_wrong_key_budget_is_one_for_the_whole_server() -> None:
    """Sessions share one budget (a new tab is a new session): the page checks the module's own."""
    from ui import training

    assert training.WRONG_KEYS is teacher_key.WRONG_KEYS
    assert teacher_key.WRONG_KEYS.most == teacher_key.WRONG_KEYS_PER_WINDOW <= 10
