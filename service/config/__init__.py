"""Configuration: YAML files in a directory, validated into one ``Config``.

``load_config(directory, environ)`` returns a ``Config`` or raises
``ConfigError`` listing every problem with its file, line and key;
``find_config_dir`` picks the directory (``--config``, ``$NEWSWATCH_CONFIG``,
``./config``).
"""

from service.config.loader import find_config_dir, load_config
from service.config.models import Config
from service.errors import ConfigError, ConfigProblem

__all__ = ["Config", "ConfigError", "ConfigProblem", "find_config_dir", "load_config"]
