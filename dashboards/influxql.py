"""An InfluxQL query target for the Grafana InfluxDB datasource.

grafana-foundation-sdk has builders for panels, variables and dashboards but no InfluxDB query
type; this module fills that gap with one model and one builder following the SDK's pattern
(``cogvariants.Dataquery`` with ``to_json``), so InfluxQL targets slot into any SDK panel.

Only raw InfluxQL (``rawQuery: true``) is emitted: the query text in the JSON is exactly the
text Grafana sends to InfluxDB after substituting its macros (``$timeFilter``, ``$__interval``,
template variables), which is what the dashboard tests execute against a real InfluxDB 1.x.
"""

from __future__ import annotations

from typing import Literal, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard

__all__ = ["InfluxQL", "InfluxQLQuery", "ResultFormat"]

ResultFormat = Literal["time_series", "table", "logs"]


class InfluxQLQuery(cogvariants.Dataquery):
    """One raw InfluxQL target of a panel (datasource type ``influxdb``, query language InfluxQL).

    ``alias`` may use Grafana's InfluxDB alias patterns (``$tag_<key>``, ``$col``).
    """

    ref_id: str
    query: str
    result_format: ResultFormat
    alias: str | None
    datasource: dashboard.DataSourceRef | None
    hide: bool | None

    def __init__(
        self,
        ref_id: str = "A",
        query: str = "",
        result_format: ResultFormat = "time_series",
        alias: str | None = None,
        datasource: dashboard.DataSourceRef | None = None,
        hide: bool | None = None,
    ) -> None:
        self.ref_id = ref_id
        self.query = query
        self.result_format = result_format
        self.alias = alias
        self.datasource = datasource
        self.hide = hide

    def to_json(self) -> dict[str, object]:
        """The target as Grafana stores it in dashboard JSON."""
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "query": self.query,
            "rawQuery": True,
            "resultFormat": self.result_format,
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        if self.datasource is not None:
            payload["datasource"] = self.datasource
        if self.hide is not None:
            payload["hide"] = self.hide
        return payload


class InfluxQL(cogbuilder.Builder[InfluxQLQuery]):
    """Builder for ``InfluxQLQuery``, in the SDK's fluent style."""

    _internal: InfluxQLQuery

    def __init__(self, query: str) -> None:
        self._internal = InfluxQLQuery(query=query)

    def build(self) -> InfluxQLQuery:
        """The built target."""
        return self._internal

    def ref_id(self, ref_id: str) -> Self:
        self._internal.ref_id = ref_id
        return self

    def alias(self, alias: str) -> Self:
        self._internal.alias = alias
        return self

    def table(self) -> Self:
        """Return rows as a table (one frame, tags as columns) instead of time series."""
        self._internal.result_format = "table"
        return self

    def datasource(self, ref: dashboard.DataSourceRef) -> Self:
        self._internal.datasource = ref
        return self

    def hide(self, hide: bool) -> Self:
        self._internal.hide = hide
        return self
