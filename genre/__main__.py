"""`python -m genre` is the `genre` command."""

from genre.cli import main

raise SystemExit(main())
