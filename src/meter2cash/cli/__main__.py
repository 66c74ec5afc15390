"""`python -m meter2cash.cli` — the same as `m2c`."""

from meter2cash.cli.main import main

main()
