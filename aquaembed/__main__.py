"""``python -m aquaembed``: the ``aquaembed`` command."""

from aquaembed.cli import run

if __name__ == "__main__":
    run()
