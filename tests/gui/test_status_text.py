"""The status lines of the Training and Review docks: text that does not fit ends in an ellipsis."""

from fcnstudio.gui.status_text import StatusText


def test_long_status_text_ends_in_an_ellipsis_and_keeps_its_start(qtbot):
    w = StatusText()
    qtbot.addWidget(w)
    w.resize(220, w.height())
    w.show()
    qtbot.waitExposed(w)
    w.setText("Fold 2 of 3")
    assert w.shown_text() == "Fold 2 of 3"
    long = " ".join(f"word{i}" for i in range(80))
    w.setText(long)
    shown = w.shown_text()
    assert shown.endswith("…") and long.startswith(shown[:-1]) and len(shown) < len(long)
    assert w.toolTip() == long  # the whole text is one hover away
    w.resize(2000, w.height())  # wider: more of it fits
    assert len(w.shown_text()) > len(shown)
