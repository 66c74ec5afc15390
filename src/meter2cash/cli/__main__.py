"""`python -m meter2cash.cli` — the same as `m2c`."""

from meter2cash.cli.main import main

if __name__ == "__main__":  # not again in the simulated meters' spawned process
    main()
