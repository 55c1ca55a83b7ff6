"""`python -m epistola` is the `epistola` command."""

from epistola.cli import main

if __name__ == "__main__":
    main()
