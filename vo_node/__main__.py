"""``python -m vo_node``: the same as the ``vo-node`` command."""

from vo_node.cli import main

if __name__ == "__main__":  # worker processes import this module too: no side effects then
    main()
