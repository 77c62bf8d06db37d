"""A small Markdown + HTML report: a title, tables and figures, written side by side."""

from __future__ import annotations

import html
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from handkit.utils.files import write_text

__all__ = ["Report"]


@dataclass
class Report:
    """Collects sections, then `write(out_dir)` → report.md and report.html (same content).

    Figures are referenced by paths relative to the report, so the folder can be moved.
    """

    title: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def text(self, paragraph: str) -> None:
        self.blocks.append(("text", paragraph))

    def heading(self, text: str) -> None:
        self.blocks.append(("heading", text))

    def table(self, header: list[str], rows: list[list[object]]) -> None:
        self.blocks.append(("table", (header, rows)))

    def figure(self, path: str | Path, caption: str) -> None:
        self.figures([(path, caption)])

    def figures(self, items: list[tuple[str | Path, str]]) -> None:
        """Figures side by side (one row), each with its caption: for comparisons."""
        self.blocks.append(("figures", [(Path(path), caption) for path, caption in items]))

    def definitions(self, terms: dict[str, str]) -> None:
        """A list of `term: meaning`, wrapped at 96 columns in the Markdown source too."""
        self.blocks.append(("definitions", dict(terms)))

    def code(self, text: str) -> None:
        self.blocks.append(("code", text))

    def write(self, out_dir: str | Path) -> tuple[Path, Path]:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        md, page = [f"# {self.title}", ""], [f"<h1>{html.escape(self.title)}</h1>"]
        for kind, value in self.blocks:
            if kind == "text":
                md += [str(value), ""]
                page.append(f"<p>{html.escape(str(value))}</p>")
            elif kind == "heading":
                md += [f"## {value}", ""]
                page.append(f"<h2>{html.escape(str(value))}</h2>")
            elif kind == "code":
                md += ["```", str(value), "```", ""]
                page.append(f"<pre>{html.escape(str(value))}</pre>")
            elif kind == "table":
                header, rows = value
                md += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                md += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows] + [""]
                page.append("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header)
                            + "</tr>" + "".join(
                                "<tr>" + "".join(f"<td>{html.escape(_cell(c))}</td>" for c in row)
                                + "</tr>" for row in rows) + "</table>")
            elif kind == "definitions":
                md += [textwrap.fill(f"- **{term}**: {meaning}", 96, subsequent_indent="  ")
                       for term, meaning in value.items()] + [""]
                page.append("<ul>" + "".join(f"<li><b>{html.escape(t)}</b>: {html.escape(m)}"
                                             "</li>" for t, m in value.items()) + "</ul>")
            elif kind == "figures":
                rels = [(_relative(path, out_dir), caption) for path, caption in value]
                if len(rels) == 1:
                    (rel, caption), = rels
                    md += [f"![{caption}]({rel})", "", f"*{caption}*", ""]
                else:  # a one-row table keeps them side by side where Markdown renders
                    md += ["| " + " | ".join(c for _, c in rels) + " |", "|" + "---|" * len(rels),
                           "| " + " | ".join(f"![{c}]({r})" for r, c in rels) + " |", ""]
                page.append("<div style='display:flex;gap:1em'>" + "".join(
                    f"<figure style='flex:1;margin:0'><img src='{html.escape(r)}' "
                    f"style='max-width:100%'><figcaption>{html.escape(c)}</figcaption>"
                    f"</figure>" for r, c in rels) + "</div>")
        md_path, html_path = out_dir / "report.md", out_dir / "report.html"
        write_text(md_path, "\n".join(md))
        write_text(html_path, "<!doctype html><meta charset='utf-8'><title>"
                   f"{html.escape(self.title)}</title><style>body{{font-family:sans-serif;"
                   "max-width:60em;margin:auto}table{border-collapse:collapse}"
                   "td,th{border:1px solid #999;padding:2px 8px}</style>" + "\n".join(page))
        return md_path, html_path


def _cell(value: object) -> str:
    return f"{value:.2f}" if isinstance(value, float) else str(value)


def _relative(path: Path, base: Path) -> str:
    try:
        return str(path.resolve().relative_to(base.resolve()))
    except ValueError:
        return str(path.resolve())
