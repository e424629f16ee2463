try:
    from .cli import entry
except KeyboardInterrupt:  # Ctrl-C while Python is still importing
    from .startup import exit_interrupted

    exit_interrupted()
entry()
