"""What a Helm draft would create: per service its values, image paths, chart and images.

Plugged into ``webapp.versions.plan``: a Helm service plans as a ``PlannedChart``,
a ``PlannedService`` whose "YAML" is its values with the images rewritten.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flask import current_app

from jobs.helm.values import (
    ImagePath,
    ImagePathError,
    ValuesError,
    add_global_keys,
    apply_global_variables,
    detect_image_paths,
    dump_values,
    format_image_paths,
    missing_global_keys,
    parse_image_paths,
    parse_values,
    read_images,
    rewrite_images,
    values_diff,
)
from webapp.catalog.sources import allowed_source_hosts, source_problem
from webapp.models import EnvironmentService, Registry, Service
from webapp.models.versions import ChartStatus
from webapp.versions.planned import PlannedService

CHART_REPOSITORY_PATH = "charts"  # charts go to <registry prefix>/charts/<chart name>


@dataclass
class PlannedChart(PlannedService):
    """A Helm service: edited values, the environment's values, image paths, chart version."""

    environment_values: str = ""
    image_paths: list[ImagePath] = field(default_factory=list)
    chart_name: str = ""
    source_chart_version: str = ""
    chart_version: str = ""  # empty: the job takes the suggestion
    problem: str = ""

    @property
    def yaml(self) -> str:
        """The edited values with every pushed image rewritten to its target."""
        if self.problem:
            return self.source_yaml
        values = parse_values(self.source_yaml, _max_bytes())
        targets = {i.container: i.target_ref for i in self.images if i.push}
        try:
            return dump_values(rewrite_images(values, self.image_paths, targets))
        except (ImagePathError, ValueError):
            # A target still being typed in step 3; Create checks every target first.
            return self.source_yaml

    @property
    def diff(self) -> str:
        """The edited values against the environment's, as a unified diff."""
        return values_diff(self.environment_values, self.source_yaml)


def _max_bytes() -> int:
    return current_app.config["MAX_YAML_BYTES"]


def service_image_paths(service: Service) -> list[ImagePath]:
    """The service's image paths: as edited on the service, else detected in its default values."""
    if service.image_paths and service.image_paths.strip():
        return parse_image_paths(service.image_paths)
    try:
        return detect_image_paths(parse_values(service.default_values or "", _max_bytes()))
    except ValuesError:
        return []


def default_image_paths_text(service: Service) -> str:
    """What the service form shows when no image paths were saved yet."""
    return format_image_paths(service_image_paths(service))


def environment_values(deployed: EnvironmentService) -> str:
    """What the environment runs: the chart's default values with the recorded ones over them.

    The packaged chart's values.yaml replaces the chart's, so it must hold both.
    """
    defaults = deployed.service.default_values or ""
    recorded = deployed.values_yaml or ""
    try:
        merged = merge_values(
            parse_values(defaults, _max_bytes()), parse_values(recorded, _max_bytes())
        )
    except ValuesError:
        return recorded or defaults  # the editor shows what is wrong with it
    return dump_values(merged)


def merge_values(defaults: dict, overrides: dict) -> dict:
    """Helm's coalescing: mappings merge key by key, other values replace, null removes a key."""
    merged = dict(defaults)
    for key, value in overrides.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_values(merged[key], value)
        else:
            merged[key] = value
    return merged


def edited_values(data: dict, deployed: EnvironmentService) -> str:
    """The draft's values of a service, the environment's until edited."""
    edited = (data.get("values") or {}).get(str(deployed.service_id))
    return environment_values(deployed) if edited is None else edited


def plan_chart(deployed: EnvironmentService, data: dict) -> PlannedChart:
    """A Helm service as the draft describes it; images filled by ``plan`` from ``.sources``."""
    service = deployed.service
    chart = PlannedChart(
        service=service,
        source_yaml=edited_values(data, deployed),
        environment_values=environment_values(deployed),
        chart_name=service.chart_name or service.name,
        source_chart_version=deployed.chart_version or service.chart_version or "",
        chart_version=(data.get("chart_versions") or {}).get(str(service.id)) or "",
    )
    return chart


def chart_sources(chart: PlannedChart) -> dict[str, str]:
    """``{image path label: image}`` of the chart's values; sets ``chart.problem`` on errors."""
    try:
        chart.image_paths = service_image_paths(chart.service)
        values = parse_values(chart.source_yaml, _max_bytes())
        images = read_images(values, chart.image_paths)
    except (ValuesError, ImagePathError) as exc:
        chart.problem = str(exc)
        return {}
    for path in chart.image_paths:
        if path.tag is not None and not images[path.label].rpartition("/")[2].count(":"):
            # The chart would fall back to its appVersion, which the version cannot see.
            chart.problem = (
                f"The values leave the tag of {path.label} empty: write the image's tag there."
            )
            return {}
    allowed = allowed_source_hosts()
    for label, image in images.items():
        problem = source_problem(image, allowed)
        if problem:
            chart.problem = f"{label}: {problem}"
            return {}
    return images


def values_problem(text: str) -> str | None:
    """Why a values text cannot be used, or None."""
    try:
        parse_values(text, _max_bytes())
    except ValuesError as exc:
        return str(exc)
    return None


def apply_globals(
    values: dict[str, str], globals_yaml: str, *, add_missing: bool = False
) -> tuple[dict[str, str], dict]:
    """Apply the global block to each service's values text: new texts and changed keys.

    With ``add_missing``, keys a service lacks are added to it too. Raises
    ``ValuesError`` when the block or a service's values are unusable.
    """
    applied, changed = {}, {}
    apply = add_global_keys if add_missing else apply_global_variables
    for key, text in values.items():
        result = apply(parse_values(text, _max_bytes()), globals_yaml, max_bytes=_max_bytes())
        applied[key] = dump_values(result.values) if result.changed else text
        changed[key] = result.changed
    return applied, changed


def keys_no_service_has(values: dict[str, str], globals_yaml: str) -> list[str]:
    """Dotted keys of the global block that none of the services' values has."""
    block = parse_values(globals_yaml, _max_bytes(), what="global variables")
    missing = None
    for text in values.values():
        lacking = set(missing_global_keys(parse_values(text, _max_bytes()), block))
        missing = lacking if missing is None else missing & lacking
    return sorted(missing or [])


def chart_repository(registry: Registry) -> str:
    """Where a registry keeps charts: ``host[:port]/namespace/charts``."""
    return f"{registry.prefix}/{CHART_REPOSITORY_PATH}"


def attach_chart(row, item: PlannedService) -> None:
    """Fill the chart columns of a new version's service row from a ``PlannedChart``."""

    if not isinstance(item, PlannedChart):
        return
    row.chart_name = item.chart_name
    row.source_chart_version = item.source_chart_version or None
    row.chart_version = item.chart_version or None
    row.values_yaml = row.yaml
    row.image_paths = format_image_paths(item.image_paths)
    row.chart_status = ChartStatus.QUEUED
