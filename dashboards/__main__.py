"""``python -m dashboards [--check] [--out DIR]``: write or check the dashboard JSON."""

from __future__ import annotations

import sys

from dashboards.generate import main

sys.exit(main())
