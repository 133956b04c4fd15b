import sys

from playground.core.alloc import reexec_with_allocator

reexec_with_allocator(sys.argv[1:])  # training commands run on tcmalloc where it is installed (core/alloc.py)

from playground.cli import main  # noqa: E402 - after the re-exec: nothing heavy is loaded twice

raise SystemExit(main())
