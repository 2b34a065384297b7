"""``python -m app``: the ``kbx`` command."""

from app.cli import main

if __name__ == "__main__":
    main()
