"""The editing tools: which one is active (ToolState), what a gesture does (ToolController), the toolbar.

The geometry of every tool is in :mod:`fcnstudio.core.edits`; the undo steps
and the mask live in the session. ``ToolState`` and ``ToolController`` are
plain objects (no widget); ``ToolBar`` is the one widget of this module and
only mirrors them.
"""

from __future__ import annotations

from enum import Enum

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QActionGroup, QColor, QKeySequence, QPainter, QPen, QPixmap, QIcon
from PyQt6.QtWidgets import QDoubleSpinBox, QLabel, QSlider, QSpinBox, QToolBar, QToolButton, QWidget

from fcnstudio.core import edits
from fcnstudio.core.session import Event
from fcnstudio.gui.app import observe

MAX_BRUSH = 500


class Tool(str, Enum):
    BRUSH = "brush"
    ERASER = "eraser"
    FILL = "fill"
    POLYGON = "polygon"
    PICK = "pick"


#: (tool, label, shortcut, what it does)
TOOLS = (
    (Tool.BRUSH, "Brush", "B", "Paint the selected class (drag); [ and ] change the size"),
    (Tool.ERASER, "Eraser", "E", "Paint background (or the ignore value, see 'Erase to ignore')"),
    (Tool.FILL, "Fill", "F", "Fill the clicked region (4-connected) with the selected class"),
    (Tool.POLYGON, "Polygon", "P", "Click points or drag a lasso; Enter or double-click fills, Esc cancels"),
    (Tool.PICK, "Pick", "I", "Eyedropper: click a pixel to select its class"),
)


class ToolState:
    """The active tool, class and brush settings. ``changed(names)`` after each change."""

    def __init__(self, brush_size: int = 15) -> None:
        self.tool = Tool.BRUSH
        self.brush_size = int(brush_size)
        self.current_class = 1
        self.preserve = False
        self.erase_to_ignore = False
        self.changed = Event()

    def set(self, **values) -> None:
        names = set()
        for name, value in values.items():
            if not hasattr(self, name) or name == "changed":
                raise AttributeError(f"ToolState has no setting {name!r}")
            if name == "brush_size":
                value = max(1, min(MAX_BRUSH, int(value)))
            if getattr(self, name) != value:
                setattr(self, name, value)
                names.add(name)
        if names:
            self.changed.emit(names)

    def grow_brush(self, steps: int) -> None:
        size = self.brush_size
        step = 1 if size < 10 else max(2, round(size * 0.15))
        self.set(brush_size=size + steps * step)


class ToolController:
    """Turns canvas gestures (image coordinates) into session edits.

    The canvas passes continuous image coordinates where pixel ``x`` spans
    ``[x, x + 1)``; core.edits wants pixel centres at integers, so 0.5 is
    subtracted here.
    """

    LASSO_MIN_STEP = 2.0  # widget px between lasso points

    def __init__(self, session, state: ToolState) -> None:
        self.session = session
        self.state = state
        self.repaint = lambda: None  # set by the canvas
        self.scale = lambda: 1.0
        self._last: tuple[float, float] | None = None
        self._points: list[tuple[float, float]] = []
        self._dragging = False
        self._drag_added = 0
        self._hover: tuple[float, float] | None = None

    # --- values

    def _paint_value(self) -> int | None:
        project = self.session.project
        if project is None:
            return None
        if self.state.tool == Tool.ERASER:
            ignore = project.ignore_index
            mask = self.session.mask
            if self.state.erase_to_ignore and ignore is not None and mask is not None and ignore <= (255 if mask.dtype.itemsize == 1 else 65535):
                return ignore
            return 0
        cls = self.state.current_class
        return cls if 0 <= cls < project.num_classes else None

    def radius(self) -> float:
        return self.state.brush_size / 2.0

    def cursor_radius(self) -> float | None:
        return self.radius() if self.state.tool in (Tool.BRUSH, Tool.ERASER) else None

    def paints(self) -> bool:
        """The active tool changes the mask (every tool but the eyedropper)."""
        return self.state.tool != Tool.PICK

    def has_preview(self) -> bool:
        return self.state.tool == Tool.POLYGON and bool(self._points)

    # --- gestures

    def press(self, x: float, y: float, button, modifiers=None) -> None:
        if button != Qt.MouseButton.LeftButton:
            if button == Qt.MouseButton.RightButton and self._points:
                self.cancel()
            return
        p = (x - 0.5, y - 0.5)
        tool = self.state.tool
        if tool in (Tool.BRUSH, Tool.ERASER):
            value = self._paint_value()
            if value is None or not self.session.begin_stroke():
                return
            self._last = p
            self._dab(p, p, value)
        elif tool == Tool.FILL:
            value = self._paint_value()
            if value is not None:
                self.session.apply(edits.fill, p, value=value, preserve=self.state.preserve)
        elif tool == Tool.PICK:
            self.pick(p)
        elif tool == Tool.POLYGON:
            self._points.append(p)
            self._dragging = True
            self._drag_added = 0
            self.repaint()

    def move(self, x: float, y: float, buttons) -> None:
        p = (x - 0.5, y - 0.5)
        self._hover = p
        held = bool(buttons & Qt.MouseButton.LeftButton)
        if self._last is not None and held:
            value = self._paint_value()
            if value is not None:
                self._dab(self._last, p, value)
            self._last = p
        elif self.state.tool == Tool.POLYGON and self._dragging and held and self._points:
            lx, ly = self._points[-1]
            if max(abs(p[0] - lx), abs(p[1] - ly)) * self.scale() >= self.LASSO_MIN_STEP:
                self._points.append(p)
                self._drag_added += 1
        elif self.state.tool == Tool.PICK and held:
            self.pick(p)

    def release(self, x: float, y: float, button) -> None:
        if button != Qt.MouseButton.LeftButton:
            return
        if self._last is not None:
            self._last = None
            self.session.end_stroke()
        if self.state.tool == Tool.POLYGON and self._dragging:
            self._dragging = False
            if self._drag_added >= 3:  # a lasso drag closes on release; clicks wait for Enter
                self.close_polygon()

    def double_click(self, x: float, y: float) -> bool:
        if self.state.tool == Tool.POLYGON and self._points:
            self.close_polygon()
            return True
        return False

    def key(self, key) -> bool:
        if self.state.tool == Tool.POLYGON and self._points:
            if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
                self.close_polygon()
                return True
            if key == Qt.Key.Key_Escape:
                self.cancel()
                return True
        return False

    def _dab(self, p0, p1, value: int) -> None:
        preserve = self.state.preserve and self.state.tool == Tool.BRUSH
        self.session.apply(edits.brush, p0, p1, radius=self.radius(), value=value, preserve=preserve)

    def pick(self, p) -> None:
        mask, project = self.session.mask, self.session.project
        if mask is None or project is None:
            return
        value = edits.pick(mask, p)
        if value is not None and 0 <= value < project.num_classes:
            self.state.set(current_class=value)

    def close_polygon(self) -> None:
        points, self._points = self._points, []
        self._dragging = False
        value = self._paint_value()
        if value is not None and len(points) >= 3:
            self.session.apply(edits.polygon, points, value=value, preserve=self.state.preserve)
        self.repaint()

    def cancel(self) -> None:
        """Drop a polygon in progress (Esc) and close an open stroke."""
        self._points = []
        self._dragging = False
        if self._last is not None:
            self._last = None
            self.session.end_stroke()
        self.repaint()

    # --- drawing

    def paint(self, p: QPainter, canvas) -> None:
        if self.state.tool in (Tool.BRUSH, Tool.ERASER):
            canvas.draw_brush_outline(p, self.radius())
        elif self.state.tool == Tool.POLYGON and self._points:
            pts = [canvas.to_widget(x + 0.5, y + 0.5) for x, y in self._points]
            if self._hover is not None and not self._dragging:
                pts.append(canvas.to_widget(self._hover[0] + 0.5, self._hover[1] + 0.5))
            p.setRenderHint(QPainter.RenderHint.Antialiasing, True)
            for color, width in ((QColor(0, 0, 0, 180), 3), (QColor(255, 255, 0), 1)):
                p.setPen(QPen(color, width))
                for a, b in zip(pts, pts[1:]):
                    p.drawLine(a, b)
            p.setPen(QPen(QColor(255, 255, 0), 1, Qt.PenStyle.DashLine))
            if len(pts) > 2:
                p.drawLine(pts[-1], pts[0])
            p.setRenderHint(QPainter.RenderHint.Antialiasing, False)


def swatch_icon(color, size: int = 14) -> QIcon:
    pix = QPixmap(size, size)
    pix.fill(QColor(*color))
    painter = QPainter(pix)
    painter.setPen(QColor(90, 90, 90))
    painter.drawRect(0, 0, size - 1, size - 1)
    painter.end()
    return QIcon(pix)


class ToolBar(QToolBar):
    """Tools, brush size, preserve/erase-to-ignore toggles, mask opacity and contrast."""

    def __init__(self, state: ToolState, controller: ToolController, canvas, session, parent: QWidget | None = None) -> None:
        super().__init__("Tools", parent)
        self.setObjectName("tools_toolbar")
        self.state, self.controller, self.canvas, self.session = state, controller, canvas, session
        self.tool_actions: dict[Tool, QAction] = {}
        group = QActionGroup(self)
        for tool, label, key, tip in TOOLS:
            act = QAction(label, self, checkable=True)
            act.setShortcut(QKeySequence(key))
            act.setToolTip(f"{label} ({key}): {tip}")
            act.setStatusTip(tip)
            act.triggered.connect(lambda _=False, t=tool: self.state.set(tool=t))
            group.addAction(act)
            self.addAction(act)
            self.tool_actions[tool] = act
        self.addSeparator()
        self.addWidget(QLabel(" Size "))
        self.size_box = QSpinBox(minimum=1, maximum=MAX_BRUSH, suffix=" px")
        self.size_box.setToolTip("Brush diameter in image pixels ([ smaller, ] larger)")
        self.size_box.valueChanged.connect(lambda v: self.state.set(brush_size=v))
        self.addWidget(self.size_box)
        self.smaller = self._action("Smaller brush", "[", lambda: self.state.grow_brush(-1), visible=False)
        self.larger = self._action("Larger brush", "]", lambda: self.state.grow_brush(1), visible=False)
        self.class_label = QLabel()
        self.class_label.setToolTip("The class the brush, fill and polygon paint (1–9 select, 0 background)")
        self.addWidget(self.class_label)
        self.preserve = self._action("Preserve labels", None, None, checkable=True,
                                     tip="Paint only over background: other classes are left untouched")
        self.preserve.toggled.connect(lambda on: self.state.set(preserve=on))
        self.erase_ignore = self._action("Erase to ignore", None, None, checkable=True,
                                         tip="The eraser paints the project's ignore value instead of background")
        self.erase_ignore.toggled.connect(lambda on: self.state.set(erase_to_ignore=on))
        self.addSeparator()
        self.show_mask = self._action("Show mask", "H", None, checkable=True, tip="Show or hide the mask (H)")
        self.show_mask.setChecked(True)
        self.show_mask.toggled.connect(canvas.set_mask_visible)
        self.contours = self._action("Contours only", "C", None, checkable=True, tip="Draw only the outlines of the classes (C)")
        self.contours.toggled.connect(canvas.set_contours)
        self.addWidget(QLabel(" Opacity "))
        self.opacity = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=100)
        self.opacity.setFixedWidth(110)
        self.opacity.setToolTip("Mask opacity")
        self.opacity.valueChanged.connect(lambda v: canvas.set_opacity(v / 100.0))
        self.opacity.setValue(round(canvas.opacity * 100))
        self.addWidget(self.opacity)
        self._build_contrast()
        self.class_actions = [
            self._action(f"Class {i}", str(i), lambda _=False, i=i: self.select_class(i), visible=False)
            for i in range(10)
        ]
        observe(self, [
            (state.changed, self._sync),
            (session.project_changed, self._sync_class),
            (session.dataset_changed, self._sync_class),
            (session.pair_changed, self._sync_contrast),
        ])
        canvas.levels_changed.connect(self._sync_levels)
        self._sync({"tool", "brush_size", "preserve", "erase_to_ignore"})

    def _action(self, text, key, slot, *, checkable=False, visible=True, tip=None) -> QAction:
        act = QAction(text, self, checkable=checkable)
        if key:
            act.setShortcut(QKeySequence(key))
        if slot is not None:
            act.triggered.connect(slot)
        if tip:
            act.setToolTip(tip + (f" ({key})" if key and key not in tip else ""))
        if visible:
            self.addAction(act)
        return act

    def _build_contrast(self) -> None:
        self.contrast_label = QLabel(" Contrast ")
        self.low = QDoubleSpinBox(decimals=1, maximum=1e9, minimum=-1e9)
        self.high = QDoubleSpinBox(decimals=1, maximum=1e9, minimum=-1e9)
        for box, tip in ((self.low, "shown as black"), (self.high, "shown as white")):
            box.setToolTip(f"Image value {tip} (16-bit and float images)")
            box.setKeyboardTracking(False)
            box.valueChanged.connect(lambda _v: self.canvas.set_levels(self.low.value(), self.high.value()))
        self.auto_button = QToolButton(text="Auto")
        self.auto_button.setToolTip("Contrast from the 0.5–99.5 percentiles of the image")
        self.auto_button.clicked.connect(self.canvas.auto_contrast)
        self.contrast_actions = [self.addWidget(w) for w in (self.contrast_label, self.low, self.high, self.auto_button)]
        self._sync_contrast()

    def shortcut_actions(self) -> list[QAction]:
        """Actions whose shortcuts must work anywhere in the window."""
        return [*self.tool_actions.values(), self.smaller, self.larger, self.preserve, self.show_mask,
                self.contours, *self.class_actions]

    def select_class(self, index: int) -> None:
        project = self.session.project
        if project is not None and 0 <= index < project.num_classes:
            self.state.set(current_class=index)

    def _sync(self, names) -> None:
        state = self.state
        if "tool" in names:
            self.tool_actions[state.tool].setChecked(True)
            self.canvas.refresh_cursor()
        if "brush_size" in names:
            self.size_box.blockSignals(True)
            self.size_box.setValue(state.brush_size)
            self.size_box.blockSignals(False)
            self.canvas.refresh_cursor()
        if "preserve" in names:
            self.preserve.setChecked(state.preserve)
        if "erase_to_ignore" in names:
            self.erase_ignore.setChecked(state.erase_to_ignore)
        if "current_class" in names or "tool" in names:
            self._sync_class()

    def _sync_class(self) -> None:
        project = self.session.project
        cls = self.state.current_class
        if project is None:
            self.class_label.setText("")
            return
        if not 0 <= cls < project.num_classes:
            self.state.set(current_class=min(1, project.num_classes - 1))
            return
        c = project.classes[cls]
        self.class_label.setText(
            f' <span style="background-color: rgb{tuple(c.color)}">&nbsp;&nbsp;&nbsp;&nbsp;</span> {cls}: {c.name} '
        )
        self.erase_ignore.setEnabled(project.ignore_index is not None)

    def _sync_contrast(self) -> None:
        show = self.canvas.levels is not None
        for act in self.contrast_actions:
            act.setVisible(show)
        if show:
            self._sync_levels(*self.canvas.levels)

    def _sync_levels(self, low: float, high: float) -> None:
        rng = self.canvas.level_range or (low, high)
        for box, value in ((self.low, low), (self.high, high)):
            box.blockSignals(True)
            box.setRange(min(rng[0], value) - 1, max(rng[1], value) + 1)
            box.setValue(value)
            box.blockSignals(False)
        for act in self.contrast_actions:
            act.setVisible(True)
