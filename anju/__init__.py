"""Anju (安居): smart-community security with facial access control.

This package holds what every component shares that is not a message contract:
the command-line entry point, the injectable clock, the strict config base and
logging setup. Component packages (``recognition``, ``gateway``, ``central``,
``edge``, ``models``) live beside it at the top level.
"""

__version__ = "0.1.0"
