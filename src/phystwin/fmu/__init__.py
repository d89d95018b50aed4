"""FMU import: the only code in phystwin that touches fmpy (archives, model descriptions, units, CLI info)."""
