"""`python -m tritonkit`: the same as the `tritonkit` executable."""

import sys

from tritonkit.entry import main

sys.exit(main())
