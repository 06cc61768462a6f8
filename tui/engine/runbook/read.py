"""Stage 1, read: repair the encoding and parse the Markdown into sections of blocks that keep their lines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import ftfy
from ftfy.badness import badness


def repair_encoding(text: str) -> tuple[str, str | None]:
    """Undo UTF-8 that was read as Mac Roman / cp1252 / Latin-1 and saved again.

    Whole-document re-decoding first (it repairs completely when it round-trips), kept only
    when ftfy's badness measure improves -- or ties while the text gets shorter, since mojibake
    always spells one character with several (ftfy scores "üöÄ" and "🚀" alike). Then ftfy
    mends what is left. Clean text is unchanged: it does not round-trip.
    """
    best, how = text, None
    best_score = badness(text)
    if text.isascii():
        return text, None
    for enc in ("mac_roman", "cp1252", "latin-1"):
        try:
            candidate = text.encode(enc).decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            continue
        score = badness(candidate)
        if score < best_score or (score == best_score and len(candidate) < len(best)):
            best, best_score, how = candidate, score, f"re-decoded the whole document as UTF-8 read as {enc}"
    config = ftfy.TextFixerConfig(unescape_html=False, uncurl_quotes=False, fix_character_width=False,
                                  fix_latin_ligatures=False, normalization=None, fix_line_breaks=False)
    mended = ftfy.fix_text(best, config)
    if mended != best:
        how = (how + "; " if how else "") + "ftfy mended the remaining lines"
    return mended, how


@dataclass
class Block:
    """One block of a section, with its source line: what the importer reads instead of raw lines."""

    kind: str  # para | item | fence | table | html
    line: int  # 1-based, in the runbook
    text: str = ""  # inline Markdown of a paragraph or list item; a fence's content
    lang: str = ""  # a fence's info string (first word, lower case)
    checked: bool | None = None  # a task list item: ticked or not; None for other items
    ordered: bool = False
    depth: int = 0  # list nesting (0: top-level list)
    rows: list[list[str]] = field(default_factory=list)  # a table's cells, header row first
    row_lines: list[int] = field(default_factory=list)  # the line of each row


@dataclass
class Section:
    title: str
    level: int
    line: int
    blocks: list[Block] = field(default_factory=list)
    children: list[Section] = field(default_factory=list)
    parent: Section | None = field(default=None, repr=False)

    def walk(self) -> list[Section]:
        out = [self]
        for c in self.children:
            out += c.walk()
        return out

    def ancestors(self) -> list[Section]:
        out, p = [], self.parent
        while p is not None:
            out.append(p)
            p = p.parent
        return out


def _markdown() -> Any:
    from markdown_it import MarkdownIt
    from mdit_py_plugins.tasklists import tasklists_plugin

    return MarkdownIt("commonmark").enable("table").use(tasklists_plugin)


def parse_sections(text: str) -> Section:
    """The heading tree of a Markdown document (ATX and setext headings, any fence nesting), by
    markdown-it-py: every block keeps the line it starts on."""
    root = Section("", 0, 0)
    cur = root
    items: list[Block | None] = []  # open list items; None once the item's first paragraph is taken
    lists: list[bool] = []  # open lists: ordered?
    row: list[str] | None = None
    table: Block | None = None
    tokens = _markdown().parse(text)
    for i, tok in enumerate(tokens):
        line = (tok.map[0] + 1) if tok.map else cur.line
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            while cur.level >= level:
                assert cur.parent is not None
                cur = cur.parent
            sec = Section(tokens[i + 1].content, level, line, parent=cur)
            cur.children.append(sec)
            cur = sec
        elif tok.type in ("bullet_list_open", "ordered_list_open"):
            lists.append(tok.type == "ordered_list_open")
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            lists.pop()
        elif tok.type == "list_item_open":
            task = "task-list-item" in str(tok.attrs.get("class", ""))
            items.append(Block("item", line, ordered=lists[-1], depth=len(lists) - 1,
                               checked=False if task else None))
        elif tok.type == "list_item_close":
            items.pop()
        elif tok.type == "inline" and tokens[i - 1].type == "paragraph_open":
            if items and items[-1] is not None:
                item = items[-1]
                if item.checked is not None:
                    first = (tok.children or [None])[0]
                    item.checked = first is not None and first.type == "html_inline" and "checked" in first.content
                item.text = tok.content.strip()
                cur.blocks.append(item)
                items[-1] = None
            else:
                cur.blocks.append(Block("para", line, tok.content.strip()))
        elif tok.type in ("fence", "code_block"):
            lang = (tok.info or "").strip().split(" ")[0].lower() if tok.type == "fence" else ""
            cur.blocks.append(Block("fence", line, tok.content, lang=lang))
        elif tok.type == "table_open":
            table = Block("table", line)
            cur.blocks.append(table)
        elif tok.type == "tr_open":
            row = []
            if table is not None:
                table.row_lines.append(line)
        elif tok.type == "tr_close" and table is not None and row is not None:
            table.rows.append(row)
        elif tok.type == "inline" and tokens[i - 1].type in ("th_open", "td_open") and row is not None:
            row.append(tok.content.strip())
        elif tok.type == "html_block":
            cur.blocks.append(Block("html", line, tok.content.strip()))
    return root
