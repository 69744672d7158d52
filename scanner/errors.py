"""The one root of every error danescan reports to its user, and its exit status.

What must live here: ``DanescanError`` and the few subclasses whose exit status
differs. Every command maps errors to exit codes in one place
(``scanner.cli.run_command``) by reading ``exit_code``; nothing else calls
``sys.exit`` for an error. Expected failures of the measured world (a timeout, a bogus
answer, a hostile server) are *values* in the facts, never these exceptions
(STYLE §3); a bug in our code is any other exception and stops loudly.

Exit statuses (every command's ``--help`` states them):

* 0 — success (``check``: every domain would receive mail from the chosen senders);
* 1 — ``check``: some domain would not; ``world status``: the world is not up;
* 2 — usage: a bad option, input or output directory, an unusable resolver, a scan
  that cannot be read;
* 3 — a scan stopped because its resolver failed mid-scan (resumable);
* 130 — interrupted (resumable).
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_FAILING = 1
EXIT_USAGE = 2
EXIT_RESOLVER_FAILED = 3
EXIT_INTERRUPTED = 130

EXIT_STATUS_HELP = (
    "Exit status: 0 success; 1 (check) a domain would not receive mail; 2 usage, "
    "input, output-directory or resolver errors; 3 the resolver failed mid-scan "
    "(resumable); 130 interrupted."
)


class DanescanError(Exception):
    """An error for the user: one line of text (``str(exc)``) and an exit status."""

    exit_code: int = EXIT_USAGE


class ResolverFailed(DanescanError):
    """The resolver stopped answering during a scan; the dataset is resumable."""

    exit_code = EXIT_RESOLVER_FAILED


def user_error(exc: BaseException) -> DanescanError | KeyboardInterrupt | None:
    """The error to report for ``exc``, looking inside (trio's) exception groups: the
    first ``DanescanError`` or ``KeyboardInterrupt`` among the leaves, else None (a bug)."""
    if isinstance(exc, DanescanError | KeyboardInterrupt):
        return exc
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = user_error(inner)
            if found is not None:
                return found
    return None
