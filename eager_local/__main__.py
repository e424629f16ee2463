import sys

try:
    from .cli import main

    code = main()
except KeyboardInterrupt:  # Ctrl-C while Python is still importing
    print("eager: interrupted", file=sys.stderr)
    code = 130
sys.exit(code)
