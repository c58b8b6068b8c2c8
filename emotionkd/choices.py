"""The allowed values of every choice a user makes, defined once: the command line builds its
choices from these tuples and the library checks its arguments against the same ones.

Only the standard library is imported. The distillation methods and the models are
registries of their own (:mod:`emotionkd.distill.methods`, :mod:`emotionkd.models.registry`).
"""

from __future__ import annotations

# ---------------------------------------------------------------------------------------------
# data: readers, preprocessing, windows and labels

#: DEAP file formats: data_preprocessed_python (.dat) or data_preprocessed_matlab (.mat)
DEAP_FORMATS = ("auto", "dat", "mat")
#: formats ``synth deap`` writes
SYNTH_FORMATS = ("dat", "mat")
#: what preprocessing does with the pre-stimulus baseline
BASELINE_MODES = ("subtract", "none", "keep")
#: units of a raw GSR signal (``preprocess --gsr-unit``, ``predict --unit`` and the readers of
#: your own recordings); auto infers it
GSR_UNITS = ("auto", "us", "ohm", "kohm", "ns", "s")
#: EEG conditioning: deap = DEAP's own (4–45 Hz band-pass, common average reference)
EEG_FILTERS = ("deap", "none")
#: ratings of DEAP and MAHNOB-HCI
TARGETS = ("arousal", "valence", "dominance", "liking")
#: class of a rating equal to the threshold: low gives the > rule, high the >= rule
TIES = ("low", "high")
#: which AMIGOS videos ``preprocess_amigos`` reads: the 16 short ones, the 4 long ones or all
AMIGOS_VIDEOS = ("short", "long", "all")
#: layouts ``write_amigos`` writes: unpacked folders, flat .mat files or the release's zips
AMIGOS_LAYOUTS = ("folders", "flat", "zip")
#: normalisation of the windows
NORMS = ("subject", "train", "none")

# ---------------------------------------------------------------------------------------------
# training and evaluation

MONITORS = ("loss", "balanced_accuracy", "accuracy", "macro_f1")
SCHEDULES = ("constant", "cosine")
KEEPS = ("best", "last")
CLASS_WEIGHTS = ("balanced", "none")
#: which teacher tokens the hint of a distillation matches
HINT_MAPS = ("fold", "gsr", "eeg")
STUDENT_INITS = ("scratch", "teacher-gsr")
TEACHER_TARGETS = ("fit", "crossfit")
PROTOCOLS = ("loso", "kfold", "subject-dependent")

# ---------------------------------------------------------------------------------------------
# deployment

EXPORT_FORMATS = ("onnx", "torchscript")
#: readers of single GSR recordings
RECORDING_FORMATS = ("auto", "e4", "opensignals", "csv", "edf", "bdf")
DECIMALS = ("auto", ".", ",")
#: formats of ``predict --out``
PREDICTION_FORMATS = ("csv", "json")
