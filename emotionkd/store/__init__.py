"""The trial-major HDF5 store: one file per dataset holds continuous, preprocessed signals;
windows are cut at training time. The layout is in :mod:`emotionkd.store.layout`; writers
(:class:`StoreWriter`, :mod:`emotionkd.store.writer`) stream trial by trial into a temporary
file renamed at the end; readers (:func:`open_store`, :class:`Store`,
:mod:`emotionkd.store.reader`) validate the file and read signals on demand.
"""

from emotionkd.store.layout import (
    FORMAT,
    FORMAT_VERSION,
    LATENT_NAMES,
    LEGACY_RATING_SCALE,
    check_rating_scales,
)
from emotionkd.store.reader import Store, open_store
from emotionkd.store.writer import StoreWriter

__all__ = ["FORMAT", "FORMAT_VERSION", "LATENT_NAMES", "LEGACY_RATING_SCALE", "Store",
           "StoreWriter", "check_rating_scales", "open_store"]
