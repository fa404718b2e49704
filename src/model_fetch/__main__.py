"""``python -m model_fetch`` runs the ``model-fetch`` command."""

import sys

from model_fetch.cli import main

sys.exit(main())
