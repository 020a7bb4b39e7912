"""The built site as a reader gets it: math typeset by a script the site serves, every notebook
page with its figures, a figure on every hardware page, the presets' numbers, readable tables,
the version and the repository link, and no editorial note left on any page."""

from __future__ import annotations

import hashlib
import html as html_lib
import importlib.util
import json
import pathlib
import re
import tomllib

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, DOCS / "hooks" / f"{name}.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


site_hook = _load("lowbit_site")
tables_hook = _load("lowbit_tables")


def _pages(site):
    return sorted(p for p in site.rglob("index.html") if "assets" not in p.parts)


def _resolve(page: pathlib.Path, src: str, site: pathlib.Path) -> pathlib.Path:
    return (page.parent / src.split("?")[0]).resolve()


def _text(html: str) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return html_lib.unescape(re.sub(r"<[^>]+>", " ", html))


# ----------------------------------------------------------------------------------- math
def test_every_page_with_math_loads_mathjax_from_the_site(site):
    with_math = []
    for page in _pages(site):
        html = page.read_text()
        if 'class="arithmatex"' not in html:
            continue
        with_math.append(page.relative_to(site).parent.as_posix())
        srcs = re.findall(r'<script src="([^"]+)"', html)
        entry = [s for s in srcs if s.split("?")[0].endswith("assets/mathjax/tex-svg.js")]
        config = [s for s in srcs if s.split("?")[0].endswith("javascripts/mathjax.js")]
        assert entry and config, f"{page}: math without the MathJax scripts"
        # the configuration comes first, and both files are in the site (no network needed)
        assert srcs.index(config[0]) < srcs.index(entry[0])
        for s in (entry[0], config[0]):
            assert _resolve(page, s, site).is_file(), (page, s)
    # the pages the issue found with raw LaTeX are among them
    for page in ("number-systems/lmul", "number-systems/posits", "number-systems/lattices"):
        assert page in with_math, page


def test_mathjax_config_and_fonts(site):
    cfg = (site / "javascripts" / "mathjax.js").read_text()
    assert "arithmatex" in cfg and "\\\\(" in cfg  # typesets what arithmatex marks, \( \) inline
    # SVG output draws glyphs as paths (no web fonts); TeX extensions load from the site
    assert (site / "assets" / "mathjax" / "input" / "tex" / "extensions" / "ams.js").is_file()


# ------------------------------------------------------------------------------ notebooks
NOTEBOOKS = sorted((ROOT / "examples").glob("*.ipynb"))
_PLOTS = re.compile(r"plt\.|\.plot\(|plotting\.|plot_pareto|savefig|\.hist\(")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_every_notebook_page_has_its_outputs_and_figures(site, nb):
    page = site / "examples" / nb.stem / "index.html"
    assert page.is_file(), f"{nb.name} has no page"
    html = page.read_text()
    text = _text(html)
    assert "<Figure size" not in text, f"{nb.name}: a figure rendered as text, not as an image"
    assert "Traceback" not in text
    imgs = [s for s in re.findall(r'<img [^>]*src="([^"]+)"', html) if not s.startswith("http")]
    cells = json.loads(nb.read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    if _PLOTS.search(code):
        assert imgs, f"{nb.name} draws figures but its page shows none"
    digests = []
    for src in imgs:
        f = _resolve(page, src, site)
        assert f.is_file(), (nb.name, src)
        data = f.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        digests.append(hashlib.sha256(data).hexdigest())
    assert len(set(digests)) == len(digests), f"{nb.name}: the same figure twice"
    # every code cell is on the page, and the page says it was executed at build time
    assert "executed when this site was built" in text
    n_code = sum(1 for c in cells if c["cell_type"] == "code" and "".join(c["source"]).strip())
    assert html.count('<div class="highlight">') >= n_code


def test_notebook_pages_are_in_the_nav(site):
    html = (site / "index.html").read_text()
    for nb in NOTEBOOKS:
        assert f"examples/{nb.stem}/" in html, nb.name


def test_every_page_is_in_the_nav():
    """Every page under docs/ is listed in mkdocs.yml's nav (the notebook pages are added by the
    hook), so no page is built but unreachable."""
    nav = json.dumps(yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"])
    pages = [p.relative_to(ROOT / "docs").as_posix() for p in (ROOT / "docs").rglob("*.md")]
    missing = [p for p in pages if f'"{p}"' not in nav]
    assert not missing, missing


# ------------------------------------------------------------------------------- hardware
HARDWARE_PAGES = ("index", "energy", "systolic", "bitserial", "lutgemm", "wafer", "gpu", "presets",
                  "estimate")


@pytest.mark.parametrize("name", HARDWARE_PAGES)
def test_every_hardware_page_has_a_generated_figure(site, name):
    page = site / "hardware" / (name if name != "index" else "") / "index.html"
    html = page.read_text()
    srcs = [s for s in re.findall(r'<img [^>]*src="([^"]+)"', html) if "images/generated/" in s]
    assert srcs, f"hardware/{name}: no figure"
    for s in srcs:
        data = _resolve(page, s, site).read_bytes()
        assert data[:4] == b"\x89PNG" and len(data) > 10_000
    assert "<!-- lowbit:" not in html


def test_presets_table_has_every_preset_with_numbers_and_sources(site):
    import lowbit.hwmodels as hwmodels

    text = _text((site / "hardware" / "presets" / "index.html").read_text())
    for name in hwmodels.presets.names():
        assert name in text, name
    # numbers from the preset files (known answers from their sources), in SI units
    assert "700 MHz" in text and "Jouppi et al., ISCA 2017" in text      # TPU v1, Table 2
    assert "3.35 TB/s" in text and "NVIDIA H100 datasheet" in text       # H100 SXM5 HBM3
    assert "850000" in text                                              # WSE-2 cores


def test_generated_tables_fit_a_1400px_screen(site):
    css = (site / "stylesheets" / "lowbit.css").read_text()
    # names never break inside a word (Material breaks code anywhere: float8_e4m3fn mid-name)
    assert re.search(r"table:not\(\[class\]\) code[^{]*\{[^}]*white-space:\s*nowrap", css, flags=re.S)
    # and columns are sized by their content, not Material's 5rem per header (9 columns overflow)
    assert re.search(r"table:not\(\[class\]\) th\s*\{[^}]*min-width:\s*0", css, flags=re.S)
    html = (site / "formats" / "index.html").read_text()
    assert "stylesheets/lowbit.css" in html
    for table in re.findall(r"<table>.*?</table>", html, flags=re.S):
        head = re.search(r"<thead>.*?</thead>", table, flags=re.S).group(0)
        assert len(re.findall(r"<th[ >]", head)) <= tables_hook.MAX_COLUMNS
    with pytest.raises(ValueError, match="split it"):
        tables_hook._table([], [("c", str)] * (tables_hook.MAX_COLUMNS + 1))


# ------------------------------------------------------------------- version, repository
def test_header_links_the_repository_and_footer_gives_the_version(site):
    from lowbit import __version__

    url = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"].get("urls", {}).get("Repository")
    html = (site / "index.html").read_text()
    if url:  # no public address is set yet (pyproject.toml says where to set it)
        assert f'href="{url}"' in html
    footer = re.search(r'<footer class="md-footer">.*?</footer>', html, flags=re.S).group(0)
    assert f"lowbit {__version__}" in footer


# ------------------------------------------------------------------------ editorial notes
EDITORIAL = re.compile(r"\b(TODO|FIXME|XXX|TBD)\b|proposed for the README|note to self|"
                       r"editor'?s note|\(this table is also", flags=re.I)


def test_no_page_holds_an_editorial_note(site):
    found = []
    for page in _pages(site):
        if "/api/" in page.as_posix():
            continue  # API pages render docstrings
        m = EDITORIAL.search(_text(page.read_text()))
        if m:
            found.append(f"{page.relative_to(site)}: {m.group(0)!r}")
    assert not found, found
    # and the checker finds one
    assert EDITORIAL.search("What each tool does. (This table is also proposed for the README.)")


def test_home_page_comparison_is_the_readme_table(site):
    text = _text((site / "index.html").read_text())
    for tool in ("ml_dtypes", "gfloat", "torchao", "Brevitas", "SCALE-Sim", "ZigZag", "Timeloop"):
        assert tool in text, tool
    assert "mapping search (its cost models" not in text
