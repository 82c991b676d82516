import sys

from tracebed.reference.frontend.server import main

sys.exit(main())
