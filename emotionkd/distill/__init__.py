"""Knowledge distillation: losses (:mod:`.losses`) and the adaptive feedback (:mod:`.feedback`)."""
