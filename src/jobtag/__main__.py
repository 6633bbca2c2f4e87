"""`python -m jobtag` runs the CLI."""

from jobtag.cli import main

main()
