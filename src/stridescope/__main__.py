"""``python -m stridescope ...``: the same command line as the ``stridescope`` script."""

from stridescope.cli import main

if __name__ == "__main__":
    main()
