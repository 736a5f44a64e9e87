"""The HTML report (``results/report.html``): tables, provenance, qualitative grid, trajectories, statistics."""

from stsa.report.build import ReportConfig, build_report

__all__ = ["ReportConfig", "build_report"]
