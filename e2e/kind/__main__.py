"""python -m e2e.kind up|down"""

import sys

from e2e.kind.cluster import main

sys.exit(main())
