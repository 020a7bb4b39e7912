"""The Python blocks of docs/simulator/*.md run as written (in order, one namespace per page)."""

from __future__ import annotations

import pathlib
import re

import pytest

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "simulator"
PAGES = sorted(p.name for p in DOCS.glob("*.md"))


def test_all_pages_present():
    assert {"matmul.md", "accumulators.md", "lutgemm.md", "bitserial.md", "layers.md"} <= set(PAGES)


@pytest.mark.parametrize("page", PAGES)
def test_python_blocks_run(page, capsys):
    text = (DOCS / page).read_text()
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert blocks, page
    ns: dict = {}
    for i, src in enumerate(blocks):
        exec(compile(src, f"{page}[block {i}]", "exec"), ns)
