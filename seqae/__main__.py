"""`python -m seqae` is the `seqae` command."""

from seqae.cli import main

main()
