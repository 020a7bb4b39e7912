"""The documentation site: strict build, generated tables, and the facts its prose states.

``mkdocs build --strict`` runs once per test run (the ``site`` fixture of ``conftest.py``; it
fails on a nav entry without a page, a broken link, or a page that the build cannot render). The tables generated at
build time come from ``docs/hooks/lowbit_tables.py``; the facts about reference libraries that
``docs/rounding-and-overflow.md`` states are re-checked here against the installed libraries.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import math
import os
import pathlib
import subprocess
import sys

import pytest
import yaml

from lowbit import formats

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"


def _load_hook():
    spec = importlib.util.spec_from_file_location("lowbit_tables", DOCS / "hooks" / "lowbit_tables.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


hook = _load_hook()


def test_strict_build_renders_api_pages(site):
    for mod in ("formats", "hwmodels", "simulator"):
        page = site / "api" / mod / "index.html"
        assert page.exists(), page
    # mkdocstrings rendered the public verbs of formats
    html = (site / "api" / "formats" / "index.html").read_text()
    for name in ("quantize", "encode", "decode", "FloatFormat"):
        assert f'id="lowbit.formats.{name}"' in html, name
    assert ":class:" not in html  # Sphinx roles are stripped by the hook
    # the public contract of design.md, as documented objects
    contract = {"hwmodels": ("SystolicArray", "BitSerialArray", "LutGemmUnit", "WaferMesh", "GPU",
                             "Cost"),
                "simulator": ("matmul", "estimate", "Report", "sweep", "workloads")}
    for mod, names in contract.items():
        html = (site / "api" / mod / "index.html").read_text()
        missing = [n for n in names if f'id="lowbit.{mod}.{n}"' not in html]
        assert not missing, (mod, missing)


def test_formats_page_lists_every_registered_format(site):
    html = (site / "formats" / "index.html").read_text()
    missing = [n for n in formats.names() if f"<code>{n}</code>" not in html]
    assert not missing, missing
    assert "<!-- lowbit:" not in html


def test_examples_page_lists_every_example(site):
    html = (site / "examples" / "index.html").read_text()
    examples = [p.name for p in (ROOT / "examples").iterdir() if p.suffix in (".ipynb", ".py")]
    missing = [n for n in examples if n not in html]
    assert not missing, missing


def test_rounding_page_has_generated_tables(site):
    html = (site / "rounding-and-overflow" / "index.html").read_text()
    assert "<!-- lowbit:" not in html
    for r in formats.ROUNDINGS:
        assert f"<code>{r}</code>" in html, r
    assert "ml_dtypes" in html and "gfloat" in html and "torchao" in html


def _nav_files(nav):
    for item in nav:
        if isinstance(item, str):
            yield item
        elif isinstance(item, dict):
            for v in item.values():
                yield from (_nav_files(v) if isinstance(v, list) else [v])


def test_every_page_is_reachable_from_nav():
    """A page under docs/ that the nav does not list is unreachable (mkdocs only logs INFO)."""
    cfg = yaml.safe_load((ROOT / "mkdocs.yml").read_text())
    in_nav = set(_nav_files(cfg["nav"]))
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
             if "hooks" not in p.relative_to(DOCS).parts}
    assert pages - in_nav == set(), f"pages missing from mkdocs.yml nav: {sorted(pages - in_nav)}"


# ------------------------------------------------------------------- generated tables
def test_code_ranges_matches_brute_force():
    codes = [1, 2, 3, 7, 9, 10]
    assert hook.code_ranges(codes, 8) == "0x01–0x03, 0x07, 0x09–0x0A"
    assert hook.code_ranges([], 8) == "none"


def test_formats_tables_known_rows():
    md = hook.formats_tables_md()
    rows: dict = {}  # a format's rows of every table of its family, joined
    for line in md.splitlines():
        if line.startswith("| `"):
            name = line.split("|")[1].strip().strip("`")
            rows[name] = rows[name] + line[1:] if name in rows else line
    assert set(formats.names()) <= set(rows)
    # IEEE 754-2019 binary16: Inf = 0x7C00/0xFC00, NaN = exponent all ones, mantissa != 0.
    assert "0x7C00, 0xFC00" in rows["float16"]
    assert "0x7C01–0x7FFF, 0xFC01–0xFFFF" in rows["float16"]
    # OCP OFP8 v1.0, Table 1: E4M3 max 448, NaN S.1111.111 (0x7F, 0xFF), no Inf.
    cells = [c.strip() for c in rows["float8_e4m3fn"].split("|")]
    assert "448" in cells and "0x7F, 0xFF" in cells
    # float64 NaNs are described, not listed (2^53 codes).
    assert "mantissa ≠ 0" in rows["float64"]


def test_unknown_family_gets_a_generic_table():
    @dataclasses.dataclass(frozen=True)
    class Toy(formats.Format):
        levels: tuple = (0.0, 0.5, 1.0)
        name: str = "toy3"
        family = "toy"

        @property
        def bits(self):
            return 2

    md = hook._table([Toy()], hook._cols_generic())
    assert "`toy3`" in md and "`Toy`" in md and "levels=(0.0, 0.5, 1.0)" in md


def test_number_formatting():
    assert hook.num(2.0 ** -9) == "2<sup>-9</sup>"
    assert hook.num(448.0) == "448"
    assert hook.num(-0.0) == "−0"
    assert hook.num(math.inf) == "+∞"
    assert hook.num(None) == "—"


# ------------------------------------------- the facts docs/rounding-and-overflow.md states
@pytest.fixture(scope="module")
def disagreements():
    df = hook.disagreements()
    return {(r["format"], r["input"] if not math.isnan(r["input"]) else "nan"): r
            for _, r in df.iterrows()}


def _is_nan(v):
    return isinstance(v, float) and math.isnan(v)


def test_e4m3fn_overflow_disagreement(disagreements):
    # references.md "Known disagreements": ml_dtypes 464 -> 448, 465 -> NaN; torch saturates.
    assert disagreements[("float8_e4m3fn", 464.0)]["ml_dtypes"] == 448.0
    r = disagreements[("float8_e4m3fn", 465.0)]
    assert _is_nan(r["ml_dtypes"]) and _is_nan(r["gfloat"])
    assert r["torch / torchao"] == 448.0 and r["gfloat (sat)"] == 448.0
    assert _is_nan(r["lowbit"]) and r["lowbit saturate"] == 448.0
    assert not r["agree"]
    assert disagreements[("float8_e4m3fn", math.inf)]["torch / torchao"] == 448.0


def test_e8m0_tie_disagreement(disagreements):
    # references.md: E8M0 ties — ml_dtypes and torch round up, gfloat to even.
    r = disagreements[("float8_e8m0fnu", 3.0)]
    assert r["ml_dtypes"] == 4.0 and r["torch / torchao"] == 4.0 and r["gfloat"] == 2.0
    assert r["lowbit"] == 2.0
    # E8M0 has no zero and no sign (OCP MX v1.0 §5.4.1): lowbit gives NaN as ml_dtypes does,
    # the smallest scale 2^-127 when saturating.
    for v in (0.0, -2.0):
        r = disagreements[("float8_e8m0fnu", v)]
        assert _is_nan(r["ml_dtypes"]) and _is_nan(r["lowbit"])
        assert r["lowbit saturate"] == 2.0 ** -127
    assert disagreements[("float8_e8m0fnu", 0.0)]["torch / torchao"] == 2.0 ** -127
    assert disagreements[("float8_e8m0fnu", -2.0)]["torch / torchao"] == 2.0


def test_fp4_nan_and_int_overflow(disagreements):
    # references.md: FP4/FP6 NaN input — ml_dtypes gives -0.
    r = disagreements[("float4_e2m1fn", "nan")]
    assert r["ml_dtypes"] == 0.0 and math.copysign(1.0, r["ml_dtypes"]) == -1.0
    assert r["gfloat"] == "ValueError"
    assert r["lowbit"] == 0.0 and math.copysign(1.0, r["lowbit"]) == 1.0
    with pytest.raises(ValueError):
        formats.quantize(formats_np_nan(), "float4_e2m1fn", overflow="error")
    # lowbit saturates int4 to 7. ml_dtypes' out-of-range integer cast wrapped before 0.7
    # (100 mod 16 = 4) and gives 0 from 0.7 on, as the page says.
    import ml_dtypes
    from packaging.version import Version

    r = disagreements[("int4", 100.0)]
    assert r["lowbit"] == 7.0
    assert r["ml_dtypes"] == (0.0 if Version(ml_dtypes.__version__) >= Version("0.7.0") else 4.0)


def formats_np_nan():
    import numpy as np

    return np.array([np.nan], np.float32)


# ------------------------------------------------ code on the pages runs as written
#: What every page may assume (the imports of the getting-started page).
PRELUDE = "import numpy as np\nfrom lowbit import formats, hwmodels, simulator\n"

def _pages_with_python():
    import re

    out = []
    for p in sorted(DOCS.rglob("*.md")):
        rel = p.relative_to(DOCS).as_posix()
        if rel.startswith("hooks/"):
            continue
        if re.search(r"^```(?:python|pycon)\n", p.read_text(), flags=re.M):
            out.append(rel)
    return out


def _run_page_blocks(page):
    """Run the page's python blocks in order in one namespace: ``>>>`` blocks as doctests
    (ELLIPSIS, NORMALIZE_WHITESPACE), others with exec. Returns the failures."""
    import doctest
    import re

    text = (DOCS / page).read_text()
    blocks = re.findall(r"^```(?:python|pycon)\n(.*?)^```", text, flags=re.S | re.M)
    ns: dict = {}
    exec(PRELUDE, ns)
    failures = []
    for i, src in enumerate(blocks):
        name = f"{page}[block {i}]"
        if src.lstrip().startswith(">>>"):
            test = doctest.DocTestParser().get_doctest(src, ns, name, page, 0)
            out: list = []
            runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
            if runner.run(test, out=out.append, clear_globs=False).failed:
                failures.append(name + "\n" + "".join(out))
            ns.update(test.globs)
        else:
            try:
                exec(compile(src, name, "exec"), ns)
            except Exception as exc:  # noqa: BLE001 - report every failing block
                failures.append(f"{name}: {type(exc).__name__}: {exc}")
    return blocks, failures


@pytest.mark.parametrize("page", _pages_with_python())
def test_python_blocks_on_page_run(page, tmp_path, monkeypatch):
    """Every python block of the page runs, in order, as a reader would run it."""
    monkeypatch.chdir(tmp_path)  # blocks that write files write them here
    blocks, failures = _run_page_blocks(page)
    assert blocks
    assert not failures, "\n\n".join(failures)


def test_my_pages_are_checked():
    for page in ("index.md", "getting-started.md", "formats/index.md"):
        assert page in _pages_with_python()


#: API signatures shown on the pages (``python title="Signature"`` blocks: not run, but compared
#: with the code below).
_SIGNATURE_BLOCK = r'^```python title="Signature"\n(.*?)^```'


def _signatures():
    import re

    out = []
    for p in sorted(DOCS.rglob("*.md")):
        rel = p.relative_to(DOCS).as_posix()
        for block in re.findall(_SIGNATURE_BLOCK, p.read_text(), flags=re.S | re.M):
            for stmt in re.split(r"\n(?=\S)", block.strip()):  # a statement per unindented line
                out.append(pytest.param(rel, stmt, id=f"{rel}:{stmt.split('(')[0]}"))
    return out


def _resolve_dotted(name):
    """The object a documented name refers to; ``formats.x`` means ``lowbit.formats.x`` (the
    pages import the packages with ``from lowbit import formats, hwmodels, simulator``)."""
    if name.split(".")[0] in ("formats", "hwmodels", "simulator"):
        name = f"lowbit.{name}"
    parts = name.split(".")
    obj = importlib.import_module(parts[0])
    for i, part in enumerate(parts[1:], 1):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            obj = importlib.import_module(".".join(parts[: i + 1]))
    return obj


@pytest.mark.parametrize("page, stmt", _signatures())
def test_signature_blocks_match_the_code(page, stmt):
    """Each documented signature names the real parameters, in order, with the same kinds
    (positional or keyword-only) and the same defaults (``...`` stands for any default)."""
    import ast
    import inspect
    import re

    code = re.sub(r"#[^\n]*", "", stmt).strip()
    m = re.fullmatch(r"([\w.]+)\((.*)\)", code, flags=re.S)
    assert m, f"{page}: not a signature: {stmt!r}"
    target, params = m.groups()
    obj = _resolve_dotted(target)
    real = inspect.signature(obj)
    real_params = [p for p in real.parameters.values() if p.name != "self"]
    args = ast.parse(f"def _({params}): pass").body[0].args
    positional = args.posonlyargs + args.args
    pos_defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    documented = ([(a.arg, False, d) for a, d in zip(positional, pos_defaults, strict=True)]
                  + [(a.arg, True, d) for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True)])
    assert [d[0] for d in documented] == [p.name for p in real_params], f"{page}: {target}"
    for (name, kwonly, default), p in zip(documented, real_params, strict=True):
        assert kwonly == (p.kind is inspect.Parameter.KEYWORD_ONLY), f"{page}: {target}({name})"
        if default is None:
            assert p.default is inspect.Parameter.empty, f"{page}: {target}({name}) has a default"
            continue
        assert p.default is not inspect.Parameter.empty, f"{page}: {target}({name}) has no default"
        value = ast.literal_eval(default)
        if value is not Ellipsis:
            assert value == p.default, f"{page}: {target}({name}={value!r}), code: {p.default!r}"


def test_signature_blocks_exist():
    assert len(_signatures()) >= 8


def _lowbit_commands(page):
    import re
    import shlex

    text = (DOCS / page).read_text()
    cmds = []
    for block in re.findall(r"^```bash\n(.*?)^```", text, flags=re.S | re.M):
        block = block.replace("\\\n", " ")
        for line in block.splitlines():
            line = line.split("#", 1)[0].strip()
            if line.startswith("lowbit "):
                cmds.append(shlex.split(line)[1:])
    return cmds


def test_cli_commands_on_getting_started_run(tmp_path):
    """The ``lowbit ...`` lines of the getting-started page run and exit 0."""
    cmds = _lowbit_commands("getting-started.md")
    assert len(cmds) >= 4
    env = dict(os.environ, MPLBACKEND="Agg")
    for args in cmds:
        if args[:1] == ["bench"]:
            continue  # a benchmark, not a command to time in the test suite
        proc = subprocess.run([sys.executable, "-m", "lowbit", *args],
                              cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, (args, proc.stdout[-2000:], proc.stderr[-2000:])
        assert proc.stdout.strip(), args
        if "--plot" in args:
            assert (tmp_path / args[args.index("--plot") + 1]).stat().st_size > 0


def test_scale_rule_facts_stated_on_rounding_page():
    """references.md (OCP MX v1.0 §6.3; torchao ScaleCalculationMode): an MXFP4 block with
    amax 7 gets scale 1 under FLOOR (7 saturates to 6) and 2 under CEIL/RCEIL/EVEN."""
    md = hook.scale_rules_md("mxfp4")
    rows = {line.split("|")[1].strip().strip("`"): [c.strip() for c in line.split("|")[2:-1]]
            for line in md.splitlines() if line.startswith("| `")}
    assert rows["floor"][:2] == ["1", "6"]
    for rule in ("ceil", "rceil", "even"):
        assert rows[rule][:2] == ["2", "8"], rule
        assert rows[rule][3] == "0", rule  # x = 0.3 flushes


def test_readme_tour_runs_and_links_resolve(tmp_path, monkeypatch):
    """The README's python tour runs as written; its relative links point at existing files."""
    import re

    text = (ROOT / "README.md").read_text()
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.S | re.M)
    assert blocks
    ns: dict = {}
    for i, src in enumerate(blocks):
        exec(compile(src, f"README.md[block {i}]", "exec"), ns)
    links = [u for u in re.findall(r"\]\(([^)#\s]+)", text) if "://" not in u]
    assert links
    missing = [u for u in links if not (ROOT / u).exists()]
    assert not missing, missing
