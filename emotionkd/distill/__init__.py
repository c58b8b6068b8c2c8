"""Knowledge distillation: the registered methods (:mod:`.methods`), their losses
(:mod:`.losses`), the adaptive feedback (:mod:`.feedback`) and the training task
(:mod:`.trainer`). The job is :func:`emotionkd.jobs.distill_student` (the notebook entry
point :func:`emotionkd.distill_student`)."""
