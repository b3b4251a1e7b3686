"""`python -m reverse_etl` is `reverse-etl`."""

from reverse_etl.cli import main

main()
