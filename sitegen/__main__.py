"""`python -m sitegen` runs the command line."""

from sitegen.cli import main

if __name__ == "__main__":
    main()
