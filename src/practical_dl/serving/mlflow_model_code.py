"""The MLflow model of a trained classifier, logged as code ("models from code"): MLflow runs this
file when it loads the model; the classifier itself is the model's safetensors artefact."""

import mlflow

from practical_dl.serving.mlflow_model import DigitClassifierModel

mlflow.models.set_model(DigitClassifierModel())
