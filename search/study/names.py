"""Study names: a documented character set, so a name can never be a path.

A study's name becomes a folder name (``exports/<study>-<trial>``) and is typed into shells and
URLs. Allowed: ASCII letters, digits, ``.``, ``_`` and ``-``, at most 64 characters, starting
with a letter or a digit. So no path separator, no leading dot (no ``..``, no hidden folder),
no space, no shell metacharacter.
"""

from __future__ import annotations

import re

from search.errors import StudyNameError

MAX_LENGTH = 64
_ALLOWED = re.compile(rf"[A-Za-z0-9][A-Za-z0-9._-]{{0,{MAX_LENGTH - 1}}}")
RULE = f"letters, digits, '.', '_' and '-', at most {MAX_LENGTH}, starting with a letter or digit"


def check_study_name(name: str, hint: str = "") -> str:
    """Return ``name`` if it is a valid study name, else raise StudyNameError saying why (and ``hint``)."""
    if not isinstance(name, str) or _ALLOWED.fullmatch(name) is None:
        raise StudyNameError(f"invalid study name {name!r}: use {RULE}{hint}")
    return name
