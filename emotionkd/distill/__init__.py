"""Knowledge distillation: losses (:mod:`.losses`), the adaptive feedback (:mod:`.feedback`)
and the training task (:mod:`.trainer`). The notebook entry point is
:func:`emotionkd.distill_student`."""
