"""How the Checker dock draws a check result: severity icons and colours, the class statistics as HTML."""

from __future__ import annotations

import html

from PyQt6.QtCore import QPointF, Qt
from PyQt6.QtGui import QColor, QFont, QIcon, QPainter, QPixmap, QPolygonF

__all__ = ["COLORS", "notes_html", "severity_icon", "stats_html"]

COLORS = {"error": QColor(200, 40, 40), "warning": QColor(190, 120, 0), "info": QColor(40, 100, 190)}


def severity_icon(severity: str, size: int = 14) -> QIcon:
    """A red disc (error), an amber triangle (warning) or a blue disc (info)."""
    pix = QPixmap(size, size)
    pix.fill(Qt.GlobalColor.transparent)
    p = QPainter(pix)
    p.setRenderHint(QPainter.RenderHint.Antialiasing)
    p.setPen(Qt.PenStyle.NoPen)
    p.setBrush(COLORS.get(severity, COLORS["info"]))
    if severity == "warning":
        p.drawPolygon(QPolygonF([QPointF(size / 2, 0.5), QPointF(size - 0.5, size - 1), QPointF(0.5, size - 1)]))
    else:
        p.drawEllipse(1, 1, size - 2, size - 2)
    p.setPen(QColor(255, 255, 255))
    font = QFont()
    font.setBold(True)
    font.setPixelSize(size - 4)
    p.setFont(font)
    p.drawText(pix.rect().adjusted(0, 2 if severity == "warning" else 0, 0, 0), Qt.AlignmentFlag.AlignCenter,
               "i" if severity == "info" else "!")
    p.end()
    return QIcon(pix)


def stats_html(result) -> str:
    """The class statistics of a CheckResult as a compact table, then the mask encodings."""
    s, colors = result.stats, result.project.colors
    rows = []
    for i, name in enumerate(s.class_names):
        frac = s.class_fraction[i] if i < len(s.class_fraction) else 0.0
        masks = s.images_with_class[i] if i < len(s.images_with_class) else 0
        weight = s.suggested_weights[i] if i < len(s.suggested_weights) else 0.0
        r, g, b = colors[i] if i < len(colors) else (128, 128, 128)
        low = ' style="color:#c02828"' if frac < 0.01 else ""
        rows.append(f'<tr><td><span style="color:rgb({r},{g},{b})">■</span> {i} {html.escape(name)}</td>'
                    f'<td align="right"{low}>{100 * frac:.3g} %</td><td align="right">{masks}/{s.masks}</td>'
                    f'<td align="right">{weight:.3g}</td></tr>')
    ignored = f", {s.ignored_pixels:,} ignored" if s.ignored_pixels else ""
    encodings = ", ".join(f"{n}× {html.escape(str(k))}" for k, n in s.encodings.items())
    return (f"<b>Classes</b> <span style='color:gray'>({s.labelled_pixels:,} labelled pixels{ignored})</span>"
            '<table cellspacing="0" cellpadding="2" width="100%"><tr><th align="left">class</th>'
            '<th align="right">pixels</th><th align="right">masks</th><th align="right">weight</th></tr>'
            + "".join(rows) + "</table>"
            + (f"<span style='color:gray'>Mask encodings: {encodings}</span><br>" if encodings else "")
            + "<span style='color:gray'>weight: suggested class weight (median frequency balancing)</span>")


def notes_html(project) -> str:
    """How the classes were inferred, when there is no fcnstudio.json (else nothing)."""
    if project is None or not project.inferred:
        return ""
    notes = " ".join(project.notes) or "the classes were inferred from the masks."
    return f"<p style='color:#7a5a00'><i>Inferred settings (no fcnstudio.json): {html.escape(notes)}</i></p>"
