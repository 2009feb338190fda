"""KPI reports: service level, ASA, abandon rate, handle time and occupancy (docs/METRICS.md)."""
