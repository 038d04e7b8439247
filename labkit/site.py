"""MkDocs hooks (mkdocs.yml `hooks:`): the site's lab pages and its table of labs come from the lab
registry (labkit.labs.LABS), so a new lab is declared once, not again in the nav and on the home page.

Besides: each lab page shows the lab as a test run executed it (`make test` keeps the copy, without the answer
variants' cells, in build/executed/labs/), or the source with a note when none exists; every solution is collapsed
behind "Show solution"; the interview questions and the "what changed" notes are gathered into pages of their
own (labkit.site_pages); diagrams are drawn by the site's own copy of mermaid, fetched once from the npm
registry and checked against its pinned integrity; no page asks anything of another site.
"""
from __future__ import annotations

import base64
import hashlib
import io
import re
import tarfile
from pathlib import Path

from labkit import config, labs

TABLE_MARK = "<!-- labs-table -->"
NEXT = "| {first}–11 | the chapter's remaining sections | | kind | *coming next* |"
# Under a folder named labs/: mkdocs-jupyter converts a page whose file's path matches its `include` pattern.
EXECUTED = config.REPO / "build" / "executed" / "labs"
# mkdocs-material renders `pre.mermaid` with the global `mermaid` when there is one (else it loads it from a
# CDN): the version material's bundle was made for (its 11.x), pinned with npm's own integrity hash.
MERMAID = {"version": "11.17.2", "url": "https://registry.npmjs.org/mermaid/-/mermaid-11.17.2.tgz",
           "integrity": "sha512-V6K3C8EBdEsPFZXSKMJe6ppQOENxuHARr9GvHX4hh47lAbhMRD9qf4oEK7LoaRQxULMa80/qt5gHO73aCleBBg=="}
MERMAID_JS = "assets/javascripts/mermaid.min.js"
SOLUTION_MARK = "BEGIN SOLUTION"


def lab_pages() -> list[dict[str, str]]:
    return [{f"{lab.id} {lab.title}": f"labs/{lab.notebook}"} for lab in labs.LABS.values()]


def labs_table() -> str:
    from labkit.site_pages import minutes

    rows = ["| # | Lab | Time | Runs on | You will |", "|---|-----|------|---------|----------|"]
    rows += [f"| {lab.id} | [{lab.title}](labs/{lab.notebook}) | {minutes(lab.id)} | {lab.runs_on} | {lab.summary} |"
             for lab in labs.LABS.values()]
    following = len(labs.LABS) + 1
    if following <= 11:
        rows.append(NEXT.format(first=f"{following:02d}"))
    return "\n".join(rows)


def mermaid_js() -> bytes:
    """mermaid.min.js of the pinned release, from the npm registry once, then from the course's cache."""
    cached = config.cache_dir("site") / f"mermaid-{MERMAID['version']}.min.js"
    if cached.exists():
        return cached.read_bytes()
    import requests

    from labkit.errors import LabError

    try:
        tarball = requests.get(MERMAID["url"], timeout=120).content
    except requests.RequestException as exc:
        raise LabError(f"Could not download mermaid {MERMAID['version']} from the npm registry ({exc.__class__.__name__}).",
                       "the first site build needs the npm registry once; then it is cached.") from None
    algorithm, expected = MERMAID["integrity"].split("-", 1)
    if base64.b64encode(hashlib.new(algorithm, tarball).digest()).decode() != expected:
        raise LabError(f"The mermaid {MERMAID['version']} tarball does not match its pinned integrity.",
                       "check the network (a proxy altering downloads?) and labkit/site.py's MERMAID pin.")
    with tarfile.open(fileobj=io.BytesIO(tarball)) as tar:
        script = tar.extractfile("package/dist/mermaid.min.js").read()
    cached.parent.mkdir(parents=True, exist_ok=True)
    cached.write_bytes(script)
    return script


# --- hooks -------------------------------------------------------------------------------------------
def on_config(config_):
    for section in config_["nav"]:
        if isinstance(section, dict) and "Labs" in section:
            section["Labs"] = lab_pages()
    config_["extra_javascript"].append(MERMAID_JS)
    return config_


def on_files(files, config):
    from mkdocs.structure.files import File

    from labkit import site_pages

    files.append(File.generated(config, MERMAID_JS, content=mermaid_js()))
    for name, page in (("interview.md", site_pages.interview_page), ("errata.md", site_pages.errata_page),
                       ("commands.md", site_pages.commands_page), ("checklist.md", site_pages.checklist_page)):
        files.append(File.generated(config, name, content=page()))
    for lab in labs.LABS.values():
        page = files.get_file_from_path(f"labs/{lab.notebook}")
        executed = EXECUTED / lab.notebook
        if page is not None and executed.exists():
            page.abs_src_path = str(executed)  # what mkdocs-jupyter converts
    return files


def on_page_markdown(markdown, page, config, files):
    return markdown.replace(TABLE_MARK, labs_table()) if TABLE_MARK in markdown else markdown


def on_page_content(html, page, config, files):
    if not page.file.src_uri.startswith("labs/") or not page.file.src_uri.endswith(".ipynb"):
        return html
    html = collapse_solutions(html)
    if not Path(page.file.abs_src_path).is_relative_to(EXECUTED):
        note = ('<div class="admonition note"><p class="admonition-title">Not executed yet</p><p>This page shows '
                'the lab\'s source: no test run has kept its outputs here yet (<code>make test</code> does). '
                'Open it in JupyterLab (<code>make lab</code>) to run it.</p></div>')
        title_ends = html.find("</h1>")  # under the lab's title, where a reader looks first
        html = html[:title_ends + 5] + note + html[title_ends + 5:] if title_ends >= 0 else note + html
    return html


def on_post_page(output, page, config):
    """Notebook pages: the converter's own script loading mermaid from a CDN, and its MathJax loader with no
    source (the page would load itself as a script), go; the site's mermaid draws the diagrams (the converter's
    CSS hides a diagram until its own script marked it rendered)."""
    output = re.sub(r'<script type="module">\s*document\.addEventListener\("DOMContentLoaded", async \(\) => \{\s*'
                    r'const diagrams = document\.querySelectorAll\("\.jp-Mermaid > pre\.mermaid"\);.*?</script>',
                    "", output, flags=re.S)
    output = output.replace('<div class="jp-Mermaid">', '<div class="jp-Mermaid jp-RenderedMermaid">')
    return _toc_anchors(output.replace('<script src=""> </script>', ""))


def _toc_anchors(html: str) -> str:
    """mkdocs-jupyter's table of contents drops a heading's code spans from its anchor ("Exercise 1 —
    `.dockerignore`" -> #exercise-1) where the heading's id keeps them (#exercise-1-dockerignore): each link to
    an anchor the page lacks goes to the one id that begins with it."""
    ids = set(re.findall(r'\bid="([^"]+)"', html))

    def fix(m: re.Match) -> str:
        anchor = m.group(1)
        if anchor in ids:
            return m.group(0)
        longer = [i for i in ids if i.startswith(anchor + "-")]
        return f'href="#{longer[0]}"' if len(longer) == 1 else m.group(0)

    return re.sub(r'href="#([^"]+)"', fix, html)


def collapse_solutions(html: str) -> str:
    """Each code cell holding a solution, outputs included, behind a "Show solution" control."""
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    for cell in soup.select("div.jp-Cell.jp-CodeCell"):
        if cell.find_parent("div", class_="jp-Cell"):  # the converter nests a cell's div in another
            continue
        code = cell.select_one("div.jp-InputArea")
        if code is None or SOLUTION_MARK not in code.get_text():
            continue
        details = soup.new_tag("details", attrs={"class": "solution"})
        summary = soup.new_tag("summary")
        summary.string = "Show solution"
        cell.wrap(details)
        details.insert(0, summary)
    return str(soup)
