"""python -m e2e.localcluster up|down|status|logs"""

import sys

from e2e.localcluster.cli import main

sys.exit(main())
