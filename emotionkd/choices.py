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
#: world families of ``synth deap --world`` (emotionkd/datasets/worlds.py); "own" is the
#: generator of emotionkd/datasets/synthetic.py
WORLDS = ("own", "broadband", "rhythms", "sources", "aperiodic", "confounded")
#: what preprocessing does with the pre-stimulus baseline
BASELINE_MODES = ("subtract", "none", "keep")
#: units of a raw GSR signal (``preprocess --gsr-unit``, ``predict --unit`` and the readers of
#: your own recordings); auto infers it
GSR_UNITS = ("auto", "us", "ohm", "kohm", "ns", "s")
#: EEG conditioning: deap = DEAP's own (4–45 Hz band-pass, common average reference)
EEG_FILTERS = ("deap", "none")
#: the lowest rate DEAP's band-pass runs at: its upper edge (45 Hz, lowered to 0.45 × the
#: rate below Nyquist) must stay above its lower edge, 4 Hz, so the rate above 4 / 0.45 Hz
DEAP_FILTER_MIN_FS = 10.0
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
#: devices a model trains on (``--device``): auto picks CUDA when present; ``cuda:N`` is the
#: N-th GPU. Others torch knows (meta, xla, …) cannot train an emotionkd model.
DEVICES = ("auto", "cpu", "cuda", "cuda:N", "mps")
CLASS_WEIGHTS = ("balanced", "none")
#: which teacher tokens the hint of a distillation matches
HINT_MAPS = ("fold", "gsr", "eeg")
STUDENT_INITS = ("scratch", "teacher-gsr")
TEACHER_TARGETS = ("fit", "crossfit")
PROTOCOLS = ("loso", "kfold", "subject-dependent", "cross-dataset")

# ---------------------------------------------------------------------------------------------
# deployment

EXPORT_FORMATS = ("onnx", "torchscript")
#: the ranges of ``export --tolerance`` and ``--opset`` (the opsets the TorchScript-based
#: exporter, ``torch.onnx.export(dynamo=False)``, writes), for the command line and the library
EXPORT_TOLERANCE = {"low": 0, "low_open": True, "high": 1,
                    "why": " (the largest allowed |exported - PyTorch| difference of the logits)"}
EXPORT_OPSET = {"low": 7, "high": 20, "why": " (the opsets torch's ONNX exporter writes)"}
#: readers of single GSR recordings
RECORDING_FORMATS = ("auto", "e4", "opensignals", "csv", "edf", "bdf")
DECIMALS = ("auto", ".", ",")
#: formats of ``predict --out``
PREDICTION_FORMATS = ("csv", "json")
