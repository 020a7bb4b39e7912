"""MkDocs hook: the site around the pages — version and repository link, math, notebooks.

* **Version and repository**: the footer says which lowbit version built the site
  (``lowbit.__version__``) and the header links to the repository, whose URL is read from
  ``pyproject.toml`` (``[project.urls]``: ``Repository``, else ``Source``, else ``Homepage``)
  unless ``mkdocs.yml`` sets ``repo_url``.
* **Math**: pages use ``pymdownx.arithmatex`` (generic mode); MathJax 3 typesets it. Its files
  come from the ``django-static-mathjax`` wheel (MathJax's own distribution, no dependencies;
  a test extra) and are copied into the site under ``assets/mathjax/`` — the site needs no
  network, neither to build nor to be read.
* **Notebooks**: every ``examples/*.ipynb`` is executed when the site is built (nbclient, one
  kernel per notebook, the inline matplotlib backend) and rendered as a page under
  ``examples/`` with its tables and figures; the pages are added to the nav's "Examples"
  section. Notebooks are committed without outputs; an error in a cell fails the build.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import pathlib
import re
import tempfile

_ROOT = pathlib.Path(__file__).resolve().parents[2]

#: where the MathJax files go in the site, and the entry script pages load
MATHJAX_DIR = "assets/mathjax"
MATHJAX_ENTRY = f"{MATHJAX_DIR}/tex-svg.js"
#: the parts of MathJax's es5 distribution that TeX input with SVG output can load (SVG output
#: draws glyphs as paths: no web fonts to fetch)
MATHJAX_PARTS = ("tex-svg.js", "input/tex/extensions", "ui", "a11y", "adaptors")

#: notebook pages live here in the site (``examples/<notebook stem>.md``)
NOTEBOOK_DIR = "examples"
#: seconds a notebook cell may run when the site is built
CELL_TIMEOUT_S = 600

_cache: dict = {}  # notebook path -> (sha256 of the file, rendered markdown, {uri: bytes})


# ------------------------------------------------------------------ version and repository
def repository_url(root: pathlib.Path = _ROOT) -> str | None:
    """The repository URL from ``pyproject.toml``'s ``[project.urls]``, or None."""
    import tomllib

    data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
    urls = data.get("project", {}).get("urls", {}) or {}
    for key in ("Repository", "Source", "Source Code", "Code", "GitHub", "Homepage"):
        if urls.get(key):
            return str(urls[key])
    return None


def version() -> str:
    from lowbit import __version__

    return __version__


# ------------------------------------------------------------------------------- MathJax
def mathjax_root() -> pathlib.Path:
    """MathJax's es5 folder from the installed ``django-static-mathjax`` package.

    Raises:
        RuntimeError: the package is not installed (it is in the ``test`` extra).
    """
    import importlib.util

    spec = importlib.util.find_spec("mathjax")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("MathJax is not installed: pip install django-static-mathjax "
                           '(part of pip install ".[test]"); the site renders math with it')
    root = pathlib.Path(next(iter(spec.submodule_search_locations))) / "static" / "mathjax" / "es5"
    if not (root / "tex-svg.js").is_file():
        raise RuntimeError(f"{root} has no tex-svg.js: an unexpected mathjax package is installed")
    return root


def mathjax_files(root: pathlib.Path | None = None):
    """(site path, source file) of every MathJax file the site ships."""
    root = root or mathjax_root()
    for part in MATHJAX_PARTS:
        p = root / part
        files = [p] if p.is_file() else sorted(q for q in p.rglob("*") if q.is_file())
        for f in files:
            yield f"{MATHJAX_DIR}/{f.relative_to(root).as_posix()}", f


# ----------------------------------------------------------------------------- notebooks
def notebooks(root: pathlib.Path = _ROOT) -> list[pathlib.Path]:
    return sorted((root / "examples").glob("*.ipynb"))


def notebook_title(path: pathlib.Path) -> str:
    """The notebook's first Markdown heading (its title), else its file name."""
    nb = json.loads(path.read_text(encoding="utf-8"))
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "markdown":
            src = "".join(cell.get("source", ""))
            m = re.search(r"^#\s+(.+)$", src, flags=re.M)
            if m:
                return m.group(1).strip()
    return path.stem


def _nav_title(path: pathlib.Path) -> str:
    num = path.stem.split("_", 1)[0]
    title = notebook_title(path)
    return f"{num} · {title}" if num.isdigit() else title


def execute_notebook(path: pathlib.Path, *, timeout: int = CELL_TIMEOUT_S):
    """Run the notebook in a fresh kernel (a temporary working folder, ``examples/`` on
    ``PYTHONPATH``, matplotlib's inline backend); return the executed ``NotebookNode``.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell raised (the message has its traceback).
    """
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    env_keys = ("PYTHONPATH", "MPLBACKEND")
    old = {k: os.environ.get(k) for k in env_keys}
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(path.parent), old["PYTHONPATH"] or "") if p)
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures as outputs
    try:
        with tempfile.TemporaryDirectory() as cwd:
            NotebookClient(nb, timeout=timeout, kernel_name="python3",
                           resources={"metadata": {"path": cwd}}).execute()
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return nb


def _clean_stream(text: str) -> str:
    """Terminal text as it ends up on screen: a carriage return rewrites its line (tqdm)."""
    lines = [ln.rsplit("\r", 1)[-1] for ln in text.split("\n")]
    return "\n".join(ln for ln in lines if ln.strip()).strip("\n")


def _merge_streams(outputs):
    """Consecutive outputs of one stream joined (a progress bar that rewrites itself arrives
    in pieces: its last state is what the terminal shows)."""
    out = []
    for o in outputs:
        if (o.get("output_type") == "stream" and out and out[-1].get("output_type") == "stream"
                and out[-1].get("name") == o.get("name")):
            out[-1] = {**out[-1], "text": out[-1]["text"] + o.get("text", "")}
        else:
            out.append(dict(o))
    return out


_HTML_STYLE = re.compile(r"<style[^>]*>.*?</style>", flags=re.S)


def notebook_markdown(nb, path: pathlib.Path, *, repo_url: str | None = None):
    """(markdown, {image uri: PNG bytes}) of an executed notebook; image URIs are relative to
    the docs folder (``examples/<stem>/cell-<n>-<k>.png``)."""
    stem = path.stem
    images: dict[str, bytes] = {}
    out: list[str] = []
    source_link = (f"[`examples/{path.name}`]({repo_url.rstrip('/')}/blob/main/examples/{path.name})"
                   if repo_url else f"`examples/{path.name}`")
    note = (f'!!! info "A notebook, executed when this site was built"\n    This page is '
            f"{source_link}, run with lowbit {version()} when the site was built; the notebook "
            "itself is stored without outputs. Run it yourself: `jupyter lab examples/`.\n")
    noted = False
    for n, cell in enumerate(nb.cells):
        if cell.cell_type == "markdown":
            out.append(cell.source.strip() + "\n")
            if not noted:
                out.append(note)
                noted = True
            continue
        if cell.cell_type != "code" or not cell.source.strip():
            continue
        if not noted:
            out.append(note)
            noted = True
        out.append(f"```python\n{cell.source.rstrip()}\n```\n")
        k = 0
        for o in _merge_streams(cell.get("outputs", [])):
            kind = o.get("output_type")
            if kind == "error":
                raise RuntimeError(f"{path.name}: cell {n} raised {o.get('ename')}: {o.get('evalue')}")
            if kind == "stream":
                text = _clean_stream(o.get("text", ""))
                if text:
                    out.append(f"```text\n{text}\n```\n")
                continue
            data = o.get("data", {})
            if "image/png" in data:
                uri = f"{NOTEBOOK_DIR}/{stem}/cell-{n}-{k}.png"
                images[uri] = base64.b64decode(data["image/png"])
                k += 1
                out.append(f"![figure of cell {n}]({stem}/cell-{n}-{k - 1}.png){{ .lowbit-nb-figure }}\n")
            elif "text/html" in data:
                html = _HTML_STYLE.sub("", "".join(data["text/html"])).strip()
                html = "\n".join(ln for ln in html.splitlines() if ln.strip())
                out.append(f'<div class="lowbit-nb-html" markdown="0">\n{html}\n</div>\n')
            elif "text/markdown" in data:
                out.append("".join(data["text/markdown"]) + "\n")
            elif "text/plain" in data:
                text = "".join(data["text/plain"]).rstrip()
                if text:
                    out.append(f"```text\n{text}\n```\n")
    return "\n".join(out), images


def render_notebook(path: pathlib.Path, *, repo_url: str | None = None):
    """Execute and render a notebook, once per content (cached for the life of the hook)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    hit = _cache.get(path)
    if hit is not None and hit[0] == digest:
        return hit[1], hit[2]
    md, images = notebook_markdown(execute_notebook(path), path, repo_url=repo_url)
    _cache[path] = (digest, md, images)
    return md, images


# ------------------------------------------------------------------------------------ nav
def _find_section(nav, title):
    for item in nav:
        if isinstance(item, dict) and title in item:
            return item
    return None


def _listed(nav) -> set:
    out = set()
    for item in nav:
        if isinstance(item, str):
            out.add(item)
        elif isinstance(item, dict):
            for v in item.values():
                out |= _listed(v) if isinstance(v, list) else {v}
    return out


def add_to_nav(nav: list, root: pathlib.Path = _ROOT) -> list:
    """The notebooks under "Examples" (after the pages mkdocs.yml lists there)."""
    examples = _find_section(nav, "Examples")
    if examples is None:
        examples = {"Examples": []}
        nav.append(examples)
    if not isinstance(examples["Examples"], list):
        examples["Examples"] = [{"Overview": examples["Examples"]}]
    listed = _listed(nav)
    for p in notebooks(root):
        uri = f"{NOTEBOOK_DIR}/{p.stem}.md"
        if uri not in listed:
            examples["Examples"].append({_nav_title(p): uri})
    return nav


# ---------------------------------------------------------------------------- mkdocs hooks
def on_config(config, **kwargs):
    global _ROOT
    _ROOT = pathlib.Path(config["config_file_path"]).resolve().parent
    if not config.get("repo_url"):
        url = repository_url(_ROOT)
        if url:
            config["repo_url"] = url
            if "github.com" in url:
                config["edit_uri"] = "edit/main/docs/"
    config["repo_name"] = f"lowbit {version()}"
    config["copyright"] = (f"lowbit {version()} · Apache-2.0"
                           + (f' · <a href="{config["repo_url"]}">source</a>' if config.get("repo_url") else ""))
    config["extra"]["lowbit_version"] = version()
    config["nav"] = add_to_nav(config["nav"], _ROOT)
    for script in ("javascripts/mathjax.js", MATHJAX_ENTRY):
        if script not in [str(s) for s in config["extra_javascript"]]:
            config["extra_javascript"].append(script)
    return config


def on_files(files, config, **kwargs):
    from mkdocs.structure.files import File

    for uri, src in mathjax_files():
        files.append(File.generated(config, uri, abs_src_path=str(src)))
    for p in notebooks(_ROOT):
        md, images = render_notebook(p, repo_url=config.get("repo_url"))
        files.append(File.generated(config, f"{NOTEBOOK_DIR}/{p.stem}.md", content=md))
        for uri, data in images.items():
            files.append(File.generated(config, uri, content=data))
    return files
