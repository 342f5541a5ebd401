"""Exceptions raised by the datasource layer.

Every error derives from :class:`DatasourceError`, carries a message a person can act on and, where useful,
a ``kind`` and a ``detail`` (the database's own wording). The graph maps them onto its error codes; this
layer knows nothing about those codes.
"""

from __future__ import annotations

from typing import Literal

QueryErrorKind = Literal["syntax", "semantic", "runtime", "permission"]


class DatasourceError(Exception):
    """Root of every exception raised by ``datasources``."""

    def __init__(self, message: str, *, detail: str = "") -> None:
        super().__init__(message)
        self.message = message
        """A sentence a person can act on."""
        self.detail = detail
        """The underlying error text (database or parser), when there is one."""


class DatasourceNotFound(DatasourceError):
    """No datasource is registered under the requested id."""


class InvalidDatasource(DatasourceError):
    """A datasource configuration was refused (bad id, path outside the data directory, missing file...)."""


class AppFileRefused(InvalidDatasource):
    """The file is SQLBot's own state (chat store, checkpoints, demo builds, uploads), never a datasource."""


class ConnectionFailed(DatasourceError):
    """The database could not be opened."""


class BuildFailed(DatasourceError):
    """A demo database could not be built from its installed data package."""


class QueryFailed(DatasourceError):
    """The database rejected or failed to run a query."""

    def __init__(self, message: str, *, kind: QueryErrorKind = "runtime", detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.kind: QueryErrorKind = kind
        """``syntax`` (cannot be parsed), ``semantic`` (unknown table/column, type mismatch), ``permission``
        (the database refused: its own second line, a write in a read-only transaction, a
        privilege missing) or ``runtime``."""


class QueryTimeout(DatasourceError):
    """The query ran longer than its time limit and was interrupted."""


class QueryCancelled(DatasourceError):
    """The query was interrupted on request (not by a timeout)."""


class ResourceLimitExceeded(DatasourceError):
    """The query needed more memory, or built a bigger value or plan, than its bounds allow; it was stopped."""

    def __init__(self, message: str, *, limit: Literal["memory", "size"] = "memory", detail: str = "") -> None:
        super().__init__(message, detail=detail)
        self.limit: Literal["memory", "size"] = limit
        """``memory`` (working memory) or ``size`` (a value, expression or statement past its bound)."""
