"""The reference stack: a faithful, Docker-free stand-in of every demo service.

Needs the `reference` extra (``pip install 'tracebed[reference]'``); importing it without that
extra raises one line that says so.
"""

from tracebed import extras

extras.require("reference")
