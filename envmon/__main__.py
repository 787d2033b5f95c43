"""``python -m envmon`` = the ``envmon`` command."""

from envmon.cli import main

main()
