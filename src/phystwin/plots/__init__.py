"""Matplotlib figures (Agg renderer only): signal time plots of trajectories and records."""

from phystwin.plots.signals import plot_trajectory as plot_trajectory
from phystwin.plots.signals import time_scale as time_scale

__all__ = ["plot_trajectory", "time_scale"]
