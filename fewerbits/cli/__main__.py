import sys

from fewerbits.cli import main

sys.exit(main())
