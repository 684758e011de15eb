"""The Kedro and MLflow glue: hooks (:mod:`.hooks`), catalog datasets (:mod:`.datasets`), tracking
(:mod:`.tracking`), reading the configuration while pipelines are built (:mod:`.context`), the
third-party warnings silenced (:mod:`.known_warnings`), and what several pipelines share: the
typed parameter blocks (:mod:`.parameters`), parameter blocks turned into settings (:mod:`.training_setup`), the
sub-pipelines of a trained classifier (:mod:`.model_pipelines`, :mod:`.model_nodes`), the trainer of
a sweep's member (:mod:`.sweeps`), namespaced member pipelines (:mod:`.namespaces`), reports
(:mod:`.reporting`) and shared figures (:mod:`.figures`)."""
