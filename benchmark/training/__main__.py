import sys

from benchmark.training.cli import main

sys.exit(main())
