"""Data files shipped with FCN Studio (installed as the package fcnstudio.resources)."""
