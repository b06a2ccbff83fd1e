from __future__ import annotations

import sys

from aquaembed.cli import main

sys.exit(main())
