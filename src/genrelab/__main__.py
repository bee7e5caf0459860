"""``python -m genrelab ...`` = the ``genrelab`` command (also what ``torchrun -m genrelab`` and Lightning's DDP
launcher run)."""

from genrelab.cli import main

if __name__ == "__main__":
    main()
