"""``python -m service`` is the ``newswatch`` command."""

from service.cli import main

main()
