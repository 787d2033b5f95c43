"""``python -m app`` = the ``envmon`` command (when the console script is not on PATH)."""

from app.cli import main

main()
