"""FCN Studio: see and fix segmentation masks, check labels, train a small FCN."""

__version__ = "0.1.0"
