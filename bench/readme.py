"""The benchmarks' tables in bench/README.md, each kept between its own pair of markers so that
a benchmark rewrites only its own table and leaves the prose around it alone."""

from __future__ import annotations

from pathlib import Path

README = Path(__file__).resolve().parent / "README.md"


def markers(name: str) -> tuple[str, str]:
    """The comments that open and close the block called `name`."""
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def replace_block(name: str, body: str, readme: Path = README) -> None:
    """Puts `body` between the markers of the block called `name` in `readme`, in place of what
    was there, or appends the block with its markers when the file has none yet."""
    begin, end = markers(name)
    block = f"{begin}\n{body}\n{end}"
    text = readme.read_text()
    if begin in text:
        text = text[: text.index(begin)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + "\n\n" + block + "\n"
    readme.write_text(text)
