"""The attacks' names, importable without numpy or torch: the CLI lists them in its help, and
every CLI command starts without loading the attacks (about 2.7 s here)."""

ATTACK_NAMES: tuple[str, ...] = (
    "nn-pixel",
    "nn-feature",
    "nn-calibrated",
    "monte-carlo",
    "density-ratio",
)
