"""The `m2c` command line: thin over the domain services."""
