#!/usr/bin/env python3
"""PyTorch peer for the tutorial MLP: kept for the old name, now
`bench/pytorch_train.py --model mlp` (which also has `--model lenet` and the
torch.compile variants). Its helpers (read_idx, load_split, build_model,
evaluate) are re-exported here for bench/pytorch_check_checkpoint.py.

    python3 bench/pytorch_mlp.py [pytorch_train.py options]  # = pytorch_train.py --model mlp ...
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pytorch_train import DEFAULT_DATA, build_model, evaluate, load_split, main, read_idx  # noqa: E402,F401

if __name__ == "__main__":
    sys.argv[1:1] = ["--model", "mlp"]
    sys.exit(main())
