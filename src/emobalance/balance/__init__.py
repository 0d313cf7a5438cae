"""Balancing: imbalance measures, resampling, teachers, pseudo-labels, generation, planning."""

from .stats import ImbalanceStats, imbalance_stats, mean_ir, plot_label_counts

__all__ = ["ImbalanceStats", "imbalance_stats", "mean_ir", "plot_label_counts"]
