"""The sweep file's structure and limits: what a sweep says, read without the config.

``yaml_io`` reads and writes every sweep YAML within its limits; ``params`` holds one swept parameter (W&B's
distributions); ``definition`` the parsed sweep (``SweepSpec``); ``parse`` turns a file's content into one, with every
structural problem. The names other rooms use are importable from here.
"""

from snpdiff.sweep.spec.definition import (
    ARGS_MACROS,
    DEFAULT_COMMAND,
    DEFAULT_PROGRAM,
    Hyperband,
    SweepSpec,
    shown_command,
)
from snpdiff.sweep.spec.params import (
    NORMAL_FAMILY,
    NORMAL_QUANTILE_BOUNDS,
    TARGET_KEY,
    ParamSpec,
    holds_target,
    number_from_text,
    quantize,
    value_like_log_uniform,
)
from snpdiff.sweep.spec.parse import load_sweep, parse_sweep, read_sweep_file
from snpdiff.sweep.spec.yaml_io import MAX_YAML_BYTES, MAX_YAML_DEPTH, MAX_YAML_NODES, dump_yaml, read_yaml

__all__ = ["ARGS_MACROS", "DEFAULT_COMMAND", "DEFAULT_PROGRAM", "MAX_YAML_BYTES", "MAX_YAML_DEPTH", "MAX_YAML_NODES",
           "NORMAL_FAMILY", "NORMAL_QUANTILE_BOUNDS", "TARGET_KEY", "Hyperband", "ParamSpec", "SweepSpec", "dump_yaml",
           "holds_target", "load_sweep", "number_from_text", "parse_sweep", "quantize", "read_sweep_file", "read_yaml",
           "shown_command", "value_like_log_uniform"]
