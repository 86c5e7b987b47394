"""The promptlab exception and warning tree.

Every error a user can fix is a `PromptlabError`; the CLI prints it as one line and exits 2
(or the code the subclass declares), never with a traceback. Every warning promptlab issues is a `PromptlabWarning`.

    PromptlabError
    ├── InputError                 bad input a user can fix (files, flags, options)
    │   ├── FileFormatError        a file failed to parse or validate (names file and field)
    │   │   └── MultiFileFormatError  several problems in one file, one line each
    │   ├── TemplateError          a prompt template failed to render (missing variable ...)
    │   ├── SpecError              unknown or badly configured evaluator/provider/rule/detector
    │   ├── ComparabilityError     two runs cannot be compared as asked
    │   ├── NotifyError            a notification target spec is wrong (deliveries themselves only warn)
    │   └── RecordError            a production log line is not a valid record (names the field)
    ├── ProviderError              a model provider failed (recorded per case, not raised by runs)
    │   └── CacheMissError         read-only response cache has no entry for a request
    ├── RunErrorRateError          too many of a run's cases could not be evaluated (exit 4)
    ├── VerificationError          a signed bundle failed verification
    ├── RegistryError              the runtime registry refused an operation
    │   ├── RegistryUnavailableError  the registry store cannot be reached
    │   │   ├── RegistryLockedError   another writer held the store's write lock past the deadline
    │   │   └── StoreAbsentError      the store does not exist (no SQLite file, or no registry schema)
    │   └── ConcurrentChangeError  another writer changed a rollout between a decision and its write
    └── NotebookError              a notebook run failed or got bad parameters
        ├── CellExecutionError     a notebook cell raised; the executed notebook was still written (exit 4)
        └── GateNotPassedError     a notebook asked to fail unless the gate passes saw it not pass

    PromptlabWarning (UserWarning)
    └── ForcedPromotionWarning     a promotion went ahead without verified evidence because it was forced
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "CacheMissError",
    "CellExecutionError",
    "ComparabilityError",
    "ConcurrentChangeError",
    "FileFormatError",
    "ForcedPromotionWarning",
    "GateNotPassedError",
    "InputError",
    "MultiFileFormatError",
    "NotebookError",
    "NotifyError",
    "PromptlabError",
    "PromptlabWarning",
    "ProviderError",
    "RecordError",
    "RegistryError",
    "RegistryLockedError",
    "RegistryUnavailableError",
    "RunErrorRateError",
    "SpecError",
    "StoreAbsentError",
    "TemplateError",
    "VerificationError",
]


# Every character `str.splitlines` breaks on, shown escaped so that a message stays one line.
_LINE_BREAKS = {ord(c): c.encode("unicode_escape").decode("ascii") for c in "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"}


def one_line(text: str) -> str:
    """`text` with line breaks (all of those `str.splitlines` knows) escaped, so it prints as one line."""
    return text.translate(_LINE_BREAKS)


class PromptlabError(Exception):
    """Base class of every error promptlab raises on purpose."""

    exit_code: int = 2


class InputError(PromptlabError):
    """Input a user can fix: a file, a flag or an option is wrong."""


class FileFormatError(InputError):
    """A file failed to parse or validate; the message names the file and the field."""

    def __init__(self, path: object, message: str, *, field: str | None = None) -> None:
        self.path = str(path)
        self.field = field
        self.detail = message
        # Shown on one line whatever the path holds (newlines, NUL) and however long it is.
        shown = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in self.path)
        self.shown_path = shown if len(shown) <= 240 else f"{shown[:120]}...{shown[-100:]} ({len(self.path)} chars)"
        where = f"{self.shown_path}: {field}: " if field else f"{self.shown_path}: "
        super().__init__(one_line(where + message))


class MultiFileFormatError(FileFormatError):
    """Several problems in one file: one line each."""

    def __init__(self, path: object, problems: list[tuple[str, str]]) -> None:
        self.problems = problems
        field, first = problems[0]
        super().__init__(path, first, field=field)
        shown = self.shown_path
        self.args = (
            "\n".join(
                f"{shown}: {one_line(f)}: {one_line(m)}" if f else f"{shown}: {one_line(m)}" for f, m in problems
            ),
        )

    def __str__(self) -> str:
        return str(self.args[0])


class TemplateError(InputError):
    """A prompt template could not be rendered, e.g. a variable is missing."""


class SpecError(InputError):
    """A pluggable part (evaluator, provider, gate rule, detector) is unknown or misconfigured."""


class ComparabilityError(InputError):
    """Two runs differ in a way that makes comparing them misleading."""


class ProviderError(PromptlabError):
    """A model provider call failed."""

    def __init__(
        self,
        message: str,
        *,
        kind: str = "provider_error",
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status


class CacheMissError(ProviderError):
    """The response cache is read-only and holds no answer for this request."""

    def __init__(self, message: str) -> None:
        super().__init__(message, kind="cache_miss", retryable=False)


class VerificationError(PromptlabError):
    """A signed evaluation bundle failed verification."""

    exit_code = 1


class RegistryError(PromptlabError):
    """The runtime registry refused an operation (immutability, missing evidence ...)."""


class RegistryUnavailableError(RegistryError):
    """The registry's store cannot be reached."""

    exit_code = 1


class ConcurrentChangeError(RegistryError):
    """Another writer changed a rollout between the decision (a canary check, an advance) and its write."""


class StoreAbsentError(RegistryUnavailableError):
    """The store does not exist (no SQLite file, or no registry schema in it): an outage to a reader."""


class RegistryLockedError(RegistryUnavailableError):
    """Another writer held the store's write lock past the deadline; nothing was applied (exit 75, EX_TEMPFAIL)."""

    exit_code = 75


class NotebookError(PromptlabError):
    """A notebook run failed or was given bad parameters."""


class CellExecutionError(NotebookError):
    """A cell of the notebook raised; the executed notebook (with the error shown) was still written.

    Exit code 4, kept apart from the gate's codes (0 pass, 1 block, 3 needs approval) so CI can tell a broken
    notebook from a blocked release.
    """

    exit_code = 4

    def __init__(self, message: str, *, cell_index: int, ename: str, evalue: str, output_path: Path | None) -> None:
        super().__init__(message)
        self.cell_index = cell_index
        self.ename = ename
        self.evalue = evalue
        self.output_path = output_path


class GateNotPassedError(NotebookError):
    """The gate did not pass in a notebook run with `fail_unless_pass`, so a bare papermill run exits non-zero."""

    exit_code = 1


class RecordError(InputError):
    """A log line is not a valid record; the message is one line naming the field and what was expected."""


class NotifyError(InputError):
    """A notification target spec is wrong (a bad URL, format or secret variable name)."""


class RunErrorRateError(PromptlabError):
    """A run finished, but more of its cases than allowed could not be evaluated (provider failures, malformed
    answers); its directory is complete and kept. The CLI exits 4, apart from bad input (2)."""

    exit_code = 4


class PromptlabWarning(UserWarning):
    """Base class of every warning promptlab issues."""


class ForcedPromotionWarning(PromptlabWarning):
    """A promotion went ahead without verified evidence because it was forced (it is audited as such)."""
