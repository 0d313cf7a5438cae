"""Balancing: imbalance measures, resampling, pseudo-labels, generation, augmentation, planning."""

from .stats import ImbalanceStats, imbalance_stats, mean_ir, plot_label_counts

__all__ = ["ImbalanceStats", "imbalance_stats", "mean_ir", "plot_label_counts"]
