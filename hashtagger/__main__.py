"""`python -m hashtagger` (also what torchrun runs: `torchrun ... -m hashtagger train ...`)."""

from hashtagger.cli import main

if __name__ == "__main__":
    main()
