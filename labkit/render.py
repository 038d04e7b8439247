"""How results look: an HTML card in Jupyter, one plain line elsewhere."""
from __future__ import annotations

import html
import sys

_STYLE = {
    True: ("#e8f5e9", "#2e7d32", "✔ PASS"),
    False: ("#ffebee", "#c62828", "✘ NOT YET"),
    None: ("#fff8e1", "#ef6c00", "⚠ PROBLEM"),
}


def ipython():
    """The running IPython shell, or None outside IPython."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    return get_ipython()


def in_notebook() -> bool:
    ip = ipython()
    return ip is not None and "IPKernelApp" in ip.config


def card_html(title: str, message: str, hint: str = "", ok: bool | None = True) -> str:
    bg, fg, badge = _STYLE[ok]
    hint_html = (
        f'<div style="margin-top:6px"><b>How to fix:</b> {html.escape(hint)}</div>' if hint else ""
    )
    return (
        f'<div style="border-left:6px solid {fg};background:{bg};padding:8px 12px;margin:6px 0;'
        f'border-radius:4px;font-family:sans-serif;color:#212121">'
        f'<b style="color:{fg}">{badge}</b> &nbsp;<b>{html.escape(title)}</b>'
        f'<div style="margin-top:4px">{html.escape(message)}</div>{hint_html}</div>'
    )


def card_text(title: str, message: str, hint: str = "", ok: bool | None = True) -> str:
    badge = _STYLE[ok][2]
    text = f"{badge}  {title}: {message}"
    return text + (f"\n    How to fix: {hint}" if hint else "")


def show_card(title: str, message: str, hint: str = "", ok: bool | None = True) -> None:
    if in_notebook():
        from IPython.display import HTML, display

        display(HTML(card_html(title, message, hint, ok)))
    else:
        print(card_text(title, message, hint, ok), file=sys.stdout, flush=True)


def show_error(err: Exception) -> None:
    problem = getattr(err, "problem", str(err))
    show_card("Something needs your attention", problem, getattr(err, "fix", ""), ok=None)


def table(headers: list[str], rows: list[list]) -> None:
    """A small table: HTML in Jupyter, aligned text elsewhere."""
    cells = [[str(c) for c in r] for r in rows]
    if in_notebook():
        from IPython.display import HTML, display

        head = "".join(f"<th style='text-align:left'>{html.escape(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in cells)
        display(HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"))
        return
    widths = [max(len(x) for x in col) for col in zip(headers, *cells)]
    for r in [headers, *cells]:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip())
