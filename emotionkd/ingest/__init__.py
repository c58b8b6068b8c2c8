"""Entry points that write stores from more sources: AMIGOS, recordings in files (any format
MNE reads), EEG-BIDS datasets, Lab Streaming Layer XDF recordings, numpy arrays and MNE Raw
objects.

Each one gathers :class:`~emotionkd.datasets.records.Trial` records from a reader in
:mod:`emotionkd.datasets` and writes them through the same pipeline as ``preprocess deap``
and ``preprocess hci`` (:func:`emotionkd.preprocess.run_pipeline`): GSR converted to µS,
the pre-stimulus baseline handled, resampling to the store's rate, optional EEG
conditioning, an atomic write, and a :class:`~emotionkd.preprocess.PreprocessReport`. They
take explicit arguments, never print, and accept a ``progress(done, total, info=...)``
callback, so a command is a thin wrapper.

One module per source: :mod:`~emotionkd.ingest.amigos`, :mod:`~emotionkd.ingest.files` (MNE
and XDF), :mod:`~emotionkd.ingest.bids`, :mod:`~emotionkd.ingest.arrays` (numpy arrays and
MNE Raw objects), over :mod:`~emotionkd.ingest.common` (:class:`RecordingOptions`, the
recordings' subjects, channels and rate, the run).
"""

from emotionkd.ingest.amigos import preprocess_amigos
from emotionkd.ingest.arrays import write_store, write_store_from_raw
from emotionkd.ingest.bids import preprocess_bids
from emotionkd.ingest.common import RecordingOptions, recording_options
from emotionkd.ingest.files import preprocess_files, recording_files

__all__ = ["RecordingOptions", "preprocess_amigos", "preprocess_bids", "preprocess_files",
           "recording_files", "recording_options", "write_store", "write_store_from_raw"]
