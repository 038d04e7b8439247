"""MkDocs hooks (mkdocs.yml `hooks:`): the site's lab pages and its table of labs come from the lab
registry (labkit.labs.LABS), so a new lab is declared once, not again in the nav and on the home page."""
from __future__ import annotations

from labkit import labs

TABLE_MARK = "<!-- labs-table -->"
NEXT = "| {first}–11 | the chapter's remaining sections | kind | *coming next* |"


def lab_pages() -> list[dict[str, str]]:
    return [{f"{lab.id} {lab.title}": f"labs/{lab.notebook}"} for lab in labs.LABS.values()]


def labs_table() -> str:
    rows = ["| # | Lab | Runs on | You will |", "|---|-----|---------|----------|"]
    rows += [f"| {lab.id} | [{lab.title}](labs/{lab.notebook}) | {lab.runs_on} | {lab.summary} |"
             for lab in labs.LABS.values()]
    following = len(labs.LABS) + 1
    if following <= 11:
        rows.append(NEXT.format(first=f"{following:02d}"))
    return "\n".join(rows)


def on_config(config):
    for section in config["nav"]:
        if isinstance(section, dict) and "Labs" in section:
            section["Labs"] = lab_pages()
    return config


def on_page_markdown(markdown, page, config, files):
    return markdown.replace(TABLE_MARK, labs_table()) if TABLE_MARK in markdown else markdown
