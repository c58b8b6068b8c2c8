"""``python -m emotionkd`` runs the command-line interface."""

from emotionkd.cli import main

if __name__ == "__main__":
    main()
