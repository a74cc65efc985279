"""``python -m mextk.cli``: the command line."""

from mextk.cli import main

if __name__ == "__main__":
    main()
