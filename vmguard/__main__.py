import sys

from vmguard.cli import main

sys.exit(main())
