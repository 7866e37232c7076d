"""``python -m agenttrace``: the command line."""

import sys

from agenttrace._cli import main

sys.exit(main())
