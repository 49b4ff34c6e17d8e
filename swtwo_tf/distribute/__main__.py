"""``python -m swtwo_tf.distribute DATASET MODEL OUT``: one worker of a job (what
:func:`swtwo_tf.distribute.launch` starts, and each pod of the Kubernetes job runs)."""

import sys

from swtwo_tf.distribute.worker import main

sys.exit(main())
