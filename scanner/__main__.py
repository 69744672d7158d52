"""Allow ``python -m scanner``."""

from scanner.cli import main

# Guarded: a spawned worker process (``scanner.runs.engine``) must not run the command
# again if its start-up ever imports this module.
if __name__ == "__main__":
    main()
