"""patchbay's Python side: the controller, the shell and their tools."""

# The one place patchbay's version is written: the Makefile gives it to
# the C programs, debian/changelog's top entry must name it too.
__version__ = "0.2.0"


def add_version(parser):
    """--version on a program's argparse parser."""
    parser.add_argument("--version", action="version",
                        version=f"%(prog)s {__version__}")
