#!/usr/bin/env python3
"""The tutorial MLP training benchmark: kept for the old name, now
`bench/train_vs_pytorch.py --model mlp` (same options: --rounds, --threads,
--epochs, --tier, --variants, --data).

    python3 bench/train_mlp.py [--rounds 3] [--threads 2] [--tier avx2|avx512|native]
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_vs_pytorch import main  # noqa: E402

if __name__ == "__main__":
    sys.argv[1:1] = ["--model", "mlp"]
    sys.exit(main())
