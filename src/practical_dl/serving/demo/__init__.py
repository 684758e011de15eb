"""The draw-a-digit page: a local web page on which a person draws a digit and sees, as they draw,
the 28x28 image the networks receive and the class probabilities of the project's trained
classifiers side by side.

Start it from the Kedro project root, after ``kedro run`` has trained the models::

    practical-dl-demo                      # or: make demo
    practical-dl-demo --models simplenet --port 8001

``practical_dl.serving.demo.app.create_app`` builds the FastAPI application around classifiers already
loaded (the tests use it with untrained ones). The drawing is prepared by
``practical_dl.serving.inference``, as in the ``predict`` pipeline and the MLflow model.
"""
