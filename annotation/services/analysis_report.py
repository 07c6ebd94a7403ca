"""Files of a finished pairwise analysis run: its offline HTML report and CSV tables.

They are built from the stored run (summary and payload), not by analysing again, so the
downloads hold exactly the numbers the page shows, even when newer choices have arrived.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from annotation.models import AnalysisRun
from annotation.services.analysis_options import pairwise_pipeline_options_build


def pairwise_run_file(*, run: AnalysisRun, what: str) -> bytes:
    """``report.html`` or ``scores.csv`` / ``subjects.csv`` / ``preference.csv`` of ``run``."""
    from analysis.report import write_pairwise_html
    from annotation.services.analysis_digest import pairwise_result_from_run

    result = pairwise_result_from_run(
        options=pairwise_pipeline_options_build(options=run.options),
        summary=run.summary,
        payload=run.payload,
    )
    if what == "report.html":
        with tempfile.TemporaryDirectory() as folder:
            path = Path(folder) / "report.html"
            title = f"Pairwise analysis of {run.study.name} (run {run.pk})"
            write_pairwise_html(result, path, title)
            return path.read_bytes()
    table = result.tables()[what.removesuffix(".csv")]
    return table.to_csv(index=False).encode("utf-8")
