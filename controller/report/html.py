"""Self-contained HTML report: one file, inline CSS and SVG, nothing fetched from anywhere.

A postmortem attachment must open years later on an air-gapped laptop, so the page has no
external CSS, JavaScript, fonts or images. The template is loaded through
``jinja2.PackageLoader`` so it works from an installed wheel, and autoescaping is always on
because titles, summaries and details come from untrusted incident files.
"""

from __future__ import annotations

from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from controller.replay.chart_series import verifications_by_series
from controller.replay.result import ReplayResult
from controller.report.charts import (
    MARKER_STYLES,
    POINT_COLOR,
    POINT_LABEL,
    Chart,
    build_chart,
)
from controller.report.timefmt import format_utc
from controller.report.view import (
    build_view,
    not_scored_note,
    timeline_events,
    workload_resolver,
)

TEMPLATE = "report.html.j2"


@cache
def _environment() -> Environment:
    """Build the Jinja environment once per process, on first use rather than at import."""
    return Environment(
        loader=PackageLoader("controller.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=False,
        lstrip_blocks=False,
        keep_trailing_newline=True,
    )


def build_charts(result: ReplayResult) -> tuple[Chart, ...]:
    """One chart per key signal, all on the replay window so they line up vertically.

    Marker tooltips quote the same timeline text as the table (in display units); the
    recorded human actions come from the comparison; a verification is drawn on the chart of
    the signal it judged for the workload its action targeted.
    """
    resolve = workload_resolver(result)
    events = timeline_events(result)
    window = (result.window_start, result.window_end)
    judged = verifications_by_series(result.verifications, result.actions)
    return tuple(
        build_chart(
            series,
            events,
            resolve,
            result.reference_time,
            window,
            recorded=result.comparison,
            verifications=judged.get((series.workload, series.signal), ()),
        )
        for series in result.charts
    )


def render_html(result: ReplayResult) -> str:
    """The whole report as one HTML document."""
    template = _environment().get_template(TEMPLATE)
    return template.render(
        view=build_view(result),
        charts=build_charts(result),
        marker_styles=MARKER_STYLES,
        point_color=POINT_COLOR,
        point_label=POINT_LABEL,
        not_scored=not_scored_note(),
        reference_utc=format_utc(result.reference_time),
    )
