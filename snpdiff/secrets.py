"""Secrets kept out of everything snpdiff writes, prints or hands to a tracker: the password of a URL, and the values
of environment variables whose names say they are secrets. One place for both: the sweep store keeps storage URLs
redacted (``snpdiff.sweep.store``), the trackers get hyperparameters masked (``snpdiff.training.loggers``)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

REDACTED = "***"
# scheme://user:password@host/...: the password runs to the authority's last "@" (it may hold an unescaped "@")
URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.-]*://[^/\s:@]+:)(?P<password>[^/\s]*)@", flags=re.IGNORECASE)
# environment variables whose values are secrets by their names (a whole word of the name, so that MONKEY_PATH is
# not): WANDB_API_KEY, MLFLOW_TRACKING_TOKEN, MLFLOW_TRACKING_PASSWORD, AWS_SECRET_ACCESS_KEY, HF_TOKEN, ...
SECRET_NAME = re.compile(
    r"(?:^|_)(?:(?:API|ACCESS|PRIVATE)?KEY|TOKEN|SECRET|PASSWORD|PASSWD|PASS|CREDENTIALS?)(?:_|$)", flags=re.IGNORECASE
)
SECRET_MIN_LENGTH = 6  # shorter values ("1", "true") would mask ordinary words of a config


def url_password(url: str) -> str | None:
    """The password of ``scheme://user:password@host/...`` (None: the URL has none)."""
    found = URL_PASSWORD.search(url)
    return None if found is None else found["password"]


def redact_url(text: str) -> str:
    """``text`` with the password of every URL in it replaced by ``***`` (``postgresql://user:***@host/db``)."""
    return URL_PASSWORD.sub(rf"\g<head>{REDACTED}@", text)


def redact_text(text: str, url: str) -> str:
    """``text`` (e.g. a database driver's error) with ``url``'s password replaced by ``***`` wherever it occurs."""
    password = url_password(url)
    return text.replace(password, REDACTED) if password and password != REDACTED else text


def environment_secrets(environ: Mapping[str, str] = os.environ) -> list[str]:
    """The values of ``environ``'s variables whose names say they are secrets, longest first (so that a secret that
    holds a shorter one is masked whole)."""
    values = {value for name, value in environ.items() if SECRET_NAME.search(name) and len(value) >= SECRET_MIN_LENGTH}
    return sorted(values, key=len, reverse=True)


def redact_secrets(params: Any, environ: Mapping[str, str] = os.environ) -> Any:
    """``params`` (plain containers) with every environment secret and every URL's password replaced by ``***``."""
    secrets = environment_secrets(environ)

    def clean(value: Any) -> Any:
        if isinstance(value, Mapping):
            return {key: clean(item) for key, item in value.items()}
        if isinstance(value, (list, tuple)):
            return [clean(item) for item in value]
        if not isinstance(value, str):
            return value
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return redact_url(value)

    return clean(params)
