"""The training machinery, plain PyTorch: no Kedro, no MLflow.

Configuration (:mod:`.config`), device, precision and seeds (:mod:`.runtime`), batches on the
device (:mod:`.batches`), optimisers (:mod:`.optim`), the one loop (:mod:`.loop`) with its
collaborators (:mod:`.checkpoint`, :mod:`.diagnostics`, :mod:`.distributed`), and ``fit`` /
``predict`` (:mod:`.engine`); the data helpers (:mod:`.splits`, :mod:`.standardise`,
:mod:`.augment`) and the reading of parameter blocks into settings (:mod:`.params`).
"""
