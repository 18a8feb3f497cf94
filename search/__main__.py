"""``python -m search`` and the ``fmnist-search`` script.

Importing the CLI pulls in Optuna, NumPy and SQLAlchemy (about a second): a Ctrl-C in that
window must end like any other Ctrl-C, in one line, not with the import's traceback. Nothing
has been run or written yet at that point. This module stays free of heavy imports, since
worker processes started with "spawn" re-import it.
"""

import sys


def run() -> None:
    from search.runtime.interrupts import wrapped_interrupt  # light: the standard library only

    try:
        from search.cli import main
    except Exception as error:  # a Ctrl-C that the import machinery wrapped (see wrapped_interrupt)
        if wrapped_interrupt(error) is None:
            raise
        _stopped_while_starting()
    except KeyboardInterrupt:
        _stopped_while_starting()
    main()


def _stopped_while_starting() -> None:
    sys.stderr.write("interrupted: stopped while starting; nothing was run\n")
    raise SystemExit(130) from None


if __name__ == "__main__":
    run()
