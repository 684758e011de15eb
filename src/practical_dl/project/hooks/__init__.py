"""The project's Kedro hooks, one module per concern; ``settings.py`` lists them in order."""
