"""jina options devkit does not have yet, refused when a Flow or Deployment is built.

Without this, ``uses='jinahub://...'`` is "no Executor class of that name"; each option here
instead raises
:class:`~devkit.errors.NotSupportedYetError` naming the option and what to do.
"""

from __future__ import annotations

import re
from typing import Any

from devkit.errors import NotSupportedYetError

__all__ = ["UNSUPPORTED_FLAGS", "reject_unsupported"]


#: option -> (what it would do, what to do instead); refused when given a value other than
#: None or False (jina code often passes the exporter options together with the flag)
UNSUPPORTED_FLAGS: dict[str, tuple[str, str]] = {}

# docker:// runs in a container; jinaai:// and jinaai+docker:// resolve against the local hub
_REMOTE_USES = re.compile(r"^(jinahub(\+\w+)?|jinaai\+(?!docker://)\w+)://", re.IGNORECASE)


def _refuse(where: str, option: str, feature: str, instead: str) -> NotSupportedYetError:
    return NotSupportedYetError(
        f"{where}: {option} asks for {feature}, which devkit does not support yet; {instead}"
    )


def reject_unsupported(
    where: str,
    *,
    uses: Any = None,
    **flags: Any,
) -> None:
    """Raise :class:`NotSupportedYetError` for the first option devkit cannot honour.

    ``where`` names the thing being built (``"Flow"``, ``"Deployment 'encoder'"``).
    """
    for flag, value in flags.items():
        if value is not None and value is not False:
            feature, instead = UNSUPPORTED_FLAGS[flag]
            raise _refuse(where, f"{flag}={value!r}", feature, instead)
    if isinstance(uses, str) and _REMOTE_USES.match(uses.strip()):
        raise _refuse(
            where,
            f"uses={uses!r}",
            "an Executor from the hosted Executor Hub",
            "push its folder to the local hub (`devkit hub push FOLDER`) and use uses='jinaai://NAME', "
            "or run it yourself and add it with external=True, host= and port=",
        )
