"""Pure Python + numpy + OpenCV. Never imports Qt or torch."""
