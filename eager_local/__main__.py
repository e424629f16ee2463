import signal
import sys

try:
    from .cli import entry
except KeyboardInterrupt:  # Ctrl-C while Python is still importing
    print("eager: interrupted", file=sys.stderr)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(130)
entry()
