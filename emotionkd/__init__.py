"""emotionkd: cross-modal knowledge distillation for emotion recognition (EEG+GSR -> GSR).

The package root stays import-light (no torch, numpy or h5py) so that the command-line
interface starts fast; import the submodules you need, e.g. ``emotionkd.store``.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
