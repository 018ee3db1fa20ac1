"""Training entrypoint placeholder: fails loudly rather than pretending to train."""

import sys

if __name__ == "__main__":
    sys.exit("training container not implemented yet (see the training issue)")
