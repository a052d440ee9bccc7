"""``python -m triage.cli``: the same as the ``triage`` command."""
import sys

from . import main

sys.exit(main())
