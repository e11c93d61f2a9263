"""Layer 0, under everything: argument checks, atomic file writes, command-line plumbing, plots, timing.

Nothing here knows about diffusion; every other layer may import it.
"""
