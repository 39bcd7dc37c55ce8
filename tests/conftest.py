import os

# Headless by default: a plain `pytest` must never need a display.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
