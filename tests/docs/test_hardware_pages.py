"""What the hardware pages state is what the models compute.

The validation page's tables are generated at build time by docs/hooks/lowbit_validation.py
(the strict build in test_docs.py renders them); here its functions run directly, and the
example output on the estimate page is checked against the model.
"""

import importlib.util
import pathlib
import re

import pytest

from lowbit import simulator

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


@pytest.fixture(scope="module")
def hook():
    spec = importlib.util.spec_from_file_location("lowbit_validation",
                                                  DOCS / "hooks" / "lowbit_validation.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_validation_page_has_every_table(hook):
    page = (DOCS / "hardware" / "validation.md").read_text()
    for key in hook.MARKERS:
        assert f"<!-- lowbit:validation-{key} -->" in page, key
    rendered = hook.render(page)
    assert "<!-- lowbit:" not in rendered
    # every table row carries a ratio
    for key in ("zigzag", "gpu", "accelerators"):
        table = hook._RENDER[key]()
        rows = [ln for ln in table.splitlines()[2:] if ln.startswith("|")]
        assert rows and all(re.search(r"\| \d+\.\d{3} \|", ln) for ln in rows), key


def test_validation_tables_show_the_targets(hook):
    calc = hook.scalesim_calc_rows()
    assert len(calc) == 423 and all(abs(r["a"] - 1) <= 0.05 and abs(r["b"] - 1) <= 0.05
                                    and abs(r["c"] - 1) <= 0.05 for r in calc)
    assert all(abs(r["cycles"] - 1) <= 0.10 for r in hook.scalesim_user_rows())
    assert all(r["comp"] >= 1 and r["ss"] <= 1 for r in hook.mapped_scalesim_rows())
    zz = hook.zigzag_rows()
    assert all(r["cycles"] <= 1.25 * r["zz_cycles"] and r["e_bytes"] <= 1.25 * r["zz_e_bytes"]
               for r in zz)


def test_estimate_page_example_is_the_model():
    page = (DOCS / "hardware" / "estimate.md").read_text()
    block = page.split("Example — the summary")[1].split("```text\n")[1].split("```")[0]
    r = simulator.estimate("llama2-7b-decode", "systolic-128x128", weights="mxfp4",
                           activations="float8_e4m3fn")
    assert block.strip() == r.summary().to_string(index=False, header=False).strip()
    i8 = simulator.estimate("llama2-7b-decode", "systolic-128x128", weights="int8",
                            activations="float8_e4m3fn")
    assert f"{i8.seconds / r.seconds:.2f}× faster" in page
    assert f"{r.seconds:.3f} s against {i8.seconds:.3f} s" in page
