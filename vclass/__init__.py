"""vclass: the command line and the small helpers every part shares (config, run folders)."""

__version__ = "0.1.0"
