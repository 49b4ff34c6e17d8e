"""The one text-table formatter behind every table the kit prints (CLI, chapters, benchmarks)."""

from __future__ import annotations


def format_table(header: list[str], rows: list[list], *, align: str | None = None,
                 title: str | None = None) -> str:
    """An aligned plain-text table: ``header``, a rule, then one line per row.

    Cells are shown with ``str()``: format numbers before passing them (``f"{x:.2%}"``).
    ``align`` has one letter per column, ``"l"`` or ``"r"``; by default the first column is
    left-aligned and the others right-aligned. ``title`` goes above the table.
    """
    if not header:
        raise ValueError("header is empty: a table needs at least one column")
    width = len(header)
    align = align or "l" + "r" * (width - 1)
    if len(align) != width or set(align) - {"l", "r"}:
        raise ValueError(f"align must have one 'l' or 'r' per column ({width}), got {align!r}")
    cells = [[str(c) for c in header]]
    for i, row in enumerate(rows):
        if len(row) != width:
            raise ValueError(f"row {i} has {len(row)} cells, the header {width}")
        cells.append(["-" if c is None else str(c) for c in row])
    widths = [max(len(r[j]) for r in cells) for j in range(width)]

    def line(row):
        return "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                         for c, w, a in zip(row, widths, align, strict=True)).rstrip()

    lines = [title] if title else []
    lines += [line(cells[0]), "  ".join("-" * w for w in widths)]
    lines += [line(r) for r in cells[1:]]
    return "\n".join(lines)
