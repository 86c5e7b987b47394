"""`python -m promptlab` runs the CLI."""

from promptlab.cli import main

main()
