"""rnnlab: a reproducible lab for recurrent-circuit models of the brain."""

__version__ = "0.1.0"
