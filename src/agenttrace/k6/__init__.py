"""The k6 module shipped with agenttrace: ``agenttrace.js``, for k6 scripts to import from a local file.

k6 cannot import from a Python package (nor, on many load-test machines, from the internet), so the module
is copied next to the script: ``agenttrace k6 copy .``, then ``import { AgentTrace } from './agenttrace.js'``.

Example:
    >>> from agenttrace.k6 import MODULE_PATH
    >>> MODULE_PATH.name
    'agenttrace.js'
"""

from __future__ import annotations

from pathlib import Path

#: The file name k6 scripts import: named after the package, ``./agenttrace.js``.
MODULE_NAME = f"{__name__.partition('.')[0]}.js"
#: Where the installed module is.
MODULE_PATH = Path(__file__).with_name(MODULE_NAME)

__all__ = ["MODULE_NAME", "MODULE_PATH"]
