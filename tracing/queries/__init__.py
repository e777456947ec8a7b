"""The read side's SQL, one query per ``.sql`` file, loaded by name.

Every query takes its inputs as named parameters (``$run_id``, ``$memory``, ...): user text is
always bound, never formatted into SQL. A ``NULL`` filter parameter means "no filter".
"""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def sql(name: str) -> str:
    """The text of ``tracing/queries/<name>.sql``."""
    return resources.files(__package__).joinpath(f"{name}.sql").read_text(encoding="utf-8")
