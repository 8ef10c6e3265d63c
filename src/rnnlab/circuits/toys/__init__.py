"""Toy-circuit gallery (condense.md §4): LIF, two-unit linear network, Rubin 2009 CPG, ring."""
