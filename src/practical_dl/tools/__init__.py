"""Command-line tools, each ``python -m practical_dl.tools.<name> --help``; no layer imports them."""
