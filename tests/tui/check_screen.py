#!/usr/bin/env python3
"""check_screen.py: is a captured workbench screen a valid layout?

usage: check_screen.py SCREEN.txt WIDTH HEIGHT PANES [--ascii] [--title T]...

The screen (tmux capture-pane -p) must be WIDTH x HEIGHT with the header
("retrobench") on the first row, and its frames must tile the rows between
the first and the last: PANES boxes, each a closed frame, no two
overlapping, every cell inside one of them. With --ascii every character
must be ASCII and frames are drawn with + - |. Each --title must appear.
Exits 1 with the reason otherwise.
"""
import sys
import unicodedata


def cells(line):
    """A captured line as terminal cells (a wide character takes two)."""
    out = []
    for ch in line:
        out.append(ch)
        if unicodedata.east_asian_width(ch) in "WF":
            out.append("")
    return out


def main():
    args = sys.argv[1:]
    path, width, height, panes = args[0], int(args[1]), int(args[2]), int(args[3])
    ascii_only = "--ascii" in args
    titles = [args[i + 1] for i, a in enumerate(args) if a == "--title"]
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    rows = [cells(l) for l in lines[:height]]
    while len(rows) < height:
        rows.append([])
    for y, r in enumerate(rows):
        if len(r) > width:
            return f"row {y} is {len(r)} cells wide, more than {width}"
        rows[y] = r + [" "] * (width - len(r))
    text = "\n".join(lines)
    if "retrobench" not in "".join(rows[0]):
        return "no header row"
    if ascii_only and any(ord(c) > 127 for c in text):
        return "non-ASCII characters in ASCII mode: " + repr(sorted({c for c in text if ord(c) > 127})[:10])
    for t in titles:
        if t not in text:
            return f"no '{t}' on the screen"
    tl, tr, bl, br, hz, vt = ("+", "+", "+", "+", "-", "|") if ascii_only else ("┌", "┐", "└", "┘", "─", "│")
    owner = [[None] * width for _ in range(height)]
    boxes = 0
    for y in range(1, height - 1):
        for x in range(width):
            if rows[y][x] != tl or owner[y][x] is not None:
                continue
            # the top edge runs to the next top-right corner (a title may sit in it)
            x1 = next((i for i in range(x + 1, width) if rows[y][i] == tr), None)
            if x1 is None:
                return f"frame at {x},{y} has no top-right corner"
            y1 = next((j for j in range(y + 1, height - 1) if rows[j][x] == bl), None)
            if y1 is None:
                return f"frame at {x},{y} has no bottom-left corner"
            if rows[y1][x1] != br:
                return f"frame at {x},{y}: no bottom-right corner at {x1},{y1}"
            for j in range(y + 1, y1):
                if rows[j][x] != vt or rows[j][x1] != vt:
                    return f"frame at {x},{y}: side broken at row {j}"
            for i in range(x + 1, x1):
                if rows[y1][i] != hz:
                    return f"frame at {x},{y}: bottom edge broken at column {i}"
            for j in range(y, y1 + 1):
                for i in range(x, x1 + 1):
                    if owner[j][i] is not None:
                        return f"frames overlap at {i},{j}"
                    owner[j][i] = boxes
            boxes += 1
    if boxes != panes:
        return f"{boxes} frames, expected {panes}"
    for y in range(1, height - 1):
        for x in range(width):
            if owner[y][x] is None:
                return f"cell {x},{y} is outside every frame"
    return None


if __name__ == "__main__":
    why = main()
    if why:
        print("check_screen:", why)
        sys.exit(1)
