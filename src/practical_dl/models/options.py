"""The architectures' names and the options each takes, known without importing torch: what a
``model`` parameter block is checked against before any network is built or torch imported (a
test holds this table to :data:`practical_dl.models.networks.MODEL_REGISTRY` and its signatures)."""

from __future__ import annotations

#: Options every network takes from the data, not from ``model.options``.
FROM_THE_DATA = frozenset({"in_channels", "image_size", "num_classes"})

#: A model name of ``MODEL_REGISTRY`` -> the options (``model.options``) its network takes; None: not
#: checked here (a preset that forwards them to another network).
ARCHITECTURE_OPTIONS: dict[str, frozenset[str] | None] = {
    "simplenet": frozenset({"batch_norm", "dropout"}),
    "fc64": None,
    "fc256_fc256": None,
    "mlp": frozenset({"batch_norm", "dropout", "hidden"}),
    "deep_convnet": frozenset({"batch_norm", "depth", "width"}),
}
