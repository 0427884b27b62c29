"""The house style's mechanical rules: code lines of at most 120 characters (../shared/STYLE.md; long lines had
crept into pages, core, bench and tests unnoticed until a linter was run by hand), and page text that does not
point left or right across columns, which a phone stacks."""

from __future__ import annotations

from pathlib import Path

from core.config import PROJECT_ROOT

LINE_LIMIT = 120
CODE_FOLDERS = ("core", "ui", "pages", "bench", "tests")


def python_files(root: Path) -> list[Path]:
    return [root / "app.py", *(path for folder in CODE_FOLDERS for path in sorted((root / folder).rglob("*.py")))]


def long_lines(path: Path, limit: int = LINE_LIMIT) -> list[str]:
    """``file:line (length)`` for each line over ``limit`` characters (characters, not bytes: σ and × are one)."""
    rows = path.read_text(encoding="utf-8").splitlines()
    return [f"{path.name}:{number} ({len(row)})" for number, row in enumerate(rows, 1) if len(row) > limit]


def test_code_lines_fit_in_120_characters() -> None:
    files = python_files(PROJECT_ROOT)
    assert len(files) > 50  # the walk found the project, not an empty folder
    offenders = [line for path in files for line in long_lines(path)]
    assert offenders == [], f"lines over {LINE_LIMIT} characters: {offenders}"


def test_a_long_line_is_found_and_counted_in_characters(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("x = 1\n" + "σ" * 120 + "\n" + "y" * 121 + "\n", encoding="utf-8")
    assert long_lines(sample) == ["sample.py:3 (121)"]


def test_page_text_does_not_point_left_or_right_across_columns() -> None:
    """Streamlit stacks columns on a phone: "the pages on the left" (the sidebar is behind a button there) and "the
    STA tile on the left" (the grids are one under the other) pointed at nothing, and a phone's strips wrap
    "noise (left) and test images (right)" into rows. Within one figure, whose panels
    keep their places, left and right stay true; this rule is about page text."""
    pages = [PROJECT_ROOT / "app.py", *sorted((PROJECT_ROOT / "pages").glob("*.py"))]
    pointing = [f"{path.name}:{number}" for path in pages
                for number, row in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                if any(words in row for words in ("on the left", "on the right", "(left)", "(right)", "Left, ",
                                                  "Right, "))]
    assert pointing == [], pointing
