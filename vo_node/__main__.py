"""``python -m vo_node``: the same as the ``vo-node`` command."""

from vo_node.cli import main

main()
