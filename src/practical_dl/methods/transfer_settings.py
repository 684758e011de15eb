"""The names that the ``transfer_learning`` parameters choose among: strategies, backbones, heads.

Importing this module imports no torch, so that Kedro can check these settings (and build the
``transfer_learning`` pipeline) without it; what they name is :mod:`practical_dl.methods.transfer`.
"""

STRATEGIES = ("fine_tune", "feature_extract", "scratch")
TORCHVISION_BACKBONES = ("vgg16", "resnet18")
BACKBONES = ("project_vgg", *TORCHVISION_BACKBONES)
HEADS = ("last", "classifier")
