"""`python -m hashtagger` (also what torchrun runs: `torchrun ... -m hashtagger train ...`)."""

from .cli import main

if __name__ == "__main__":
    main()
