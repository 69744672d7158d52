"""``python -m scanner.world ...``: the ``world`` command group without the main CLI."""

from scanner.world.cli import world

if __name__ == "__main__":
    world(prog_name="danescan world")
