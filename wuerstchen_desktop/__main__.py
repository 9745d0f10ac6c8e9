import sys

from wuerstchen_desktop.cli import main

sys.exit(main())
