"""The config tree: compose ``conf/`` (``compose``), check it (``rules``, ``schema`` and ``lr_scheduler_keys``; every
problem is found before any work starts), and the OmegaConf resolvers the entry points register (``resolvers``).

Light on purpose: nothing here imports torch or Lightning, so a bad config is reported before they load.
"""

from snpdiff.config.compose import CONF_DIR, PROJECT_ROOT, compose_config, to_plain
from snpdiff.config.resolvers import register_resolvers
from snpdiff.config.rules import check_composed, validate_config

__all__ = [
    "CONF_DIR",
    "PROJECT_ROOT",
    "check_composed",
    "compose_config",
    "register_resolvers",
    "to_plain",
    "validate_config",
]
