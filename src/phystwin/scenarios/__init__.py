"""Worked scenarios built on the library (not part of its core): the cooling-fault estimation scenario and
the set-up of ``phystwin demo``."""
