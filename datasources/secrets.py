"""Database passwords: kept out of every config file, API response, log line, error message and traceback.

A password reaches SQLBot one of two ways:

* typed (in a URL or the ``password`` field): stored in ``<data_dir>/secrets.json``, a file created with
  permissions ``0600`` (owner read/write only) and rewritten atomically; ``datasources.json`` never holds it;
* as an environment-variable reference, ``${PG_PASSWORD}`` in the URL's password position (or the password
  field): only the reference is stored, and the variable is read each time a connection is opened.

In memory a password is a :class:`Secret`, whose ``repr``/``str`` are ``***``, so a traceback that shows
locals or arguments does not print it; :func:`scrub` removes it from any driver message before that message
leaves this layer.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
from pathlib import Path
from urllib.parse import quote

from datasources.errors import ConnectionFailed, InvalidDatasource

SECRETS_FILE = "secrets.json"
MASK = "***"
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class Secret:
    """A password that never prints itself."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The password itself: pass it straight to a driver, never to a message."""
        return self._value

    def __bool__(self) -> bool:
        return bool(self._value)

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("secret", self._value))

    def __reduce__(self) -> tuple[object, ...]:  # never pickled into a checkpoint or a cache by accident
        raise TypeError("a Secret cannot be pickled")


def env_reference(text: str | None) -> str | None:
    """The variable name when ``text`` is exactly ``${NAME}``, else None."""
    if not text:
        return None
    match = _ENV_REF.match(text.strip())
    return match.group(1) if match else None


def resolve_env(name: str) -> Secret:
    """Read the password from environment variable ``name``.

    Raises:
        ConnectionFailed: the variable is not set.
    """
    value = os.environ.get(name)
    if value is None:
        raise ConnectionFailed(
            f"The password refers to the environment variable ${{{name}}}, which is not set; "
            "set it in the server's environment (or .env) and retry."
        )
    return Secret(value)


def scrub(text: str, *secrets: Secret | None) -> str:
    """``text`` with every occurrence of the given passwords replaced by ``***``."""
    for secret in secrets:
        if secret:
            value = secret.reveal()
            text = text.replace(value, MASK)
            # drivers sometimes percent-encode what they echo back
            encoded = quote(value, safe="")
            if encoded != value:
                text = text.replace(encoded, MASK)
    return text


class SecretStore:
    """Passwords by datasource id in one ``0600`` JSON file inside the data directory."""

    def __init__(self, data_dir: Path) -> None:
        self.path = Path(data_dir) / SECRETS_FILE
        self._lock = threading.Lock()

    def get(self, datasource_id: str) -> Secret | None:
        """The stored password of ``datasource_id``, or None."""
        value = self._load().get(datasource_id)
        return Secret(value) if isinstance(value, str) else None

    def has(self, datasource_id: str) -> bool:
        """Whether a password is stored for ``datasource_id``."""
        return datasource_id in self._load()

    def put(self, datasource_id: str, secret: Secret) -> None:
        """Store (or replace) the password of ``datasource_id``."""
        with self._lock:
            data = self._load()
            data[datasource_id] = secret.reveal()
            self._save(data)

    def delete(self, datasource_id: str) -> None:
        """Forget the password of ``datasource_id`` (no error when there is none)."""
        with self._lock:
            data = self._load()
            if data.pop(datasource_id, None) is not None:
                self._save(data)

    def _load(self) -> dict[str, str]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError:
            raise InvalidDatasource(f"{self.path} cannot be read; check its owner and permissions.") from None
        try:
            data = json.loads(text)
        except ValueError:
            # deliberately no detail: the file's text is secret
            raise InvalidDatasource(f"{self.path} is not valid JSON; fix or delete it.") from None
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}

    def _save(self, data: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        # O_EXCL + 0600 from the start: the file is never readable by others, not even for a moment
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(data, handle)
        os.chmod(tmp, 0o600)
        os.replace(tmp, self.path)
