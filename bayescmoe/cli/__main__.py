"""``python -m bayescmoe.cli``: the ``bayescmoe`` command."""

import sys

from bayescmoe.cli.main import main

sys.exit(main())
