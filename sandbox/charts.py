"""Build small, real Helm charts for the demo and the tests (packaged by the Helm SDK)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml

DEPLOYMENT_TEMPLATE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
  labels:
    app.kubernetes.io/name: {{ .Chart.Name }}
spec:
  replicas: {{ .Values.replicaCount }}
  selector:
    matchLabels:
      app.kubernetes.io/instance: {{ .Release.Name }}
  template:
    metadata:
      labels:
        app.kubernetes.io/instance: {{ .Release.Name }}
    spec:
      containers:
        - name: {{ .Chart.Name }}
          image: "{{ .Values.image.repository }}:{{ .Values.image.tag }}"
          ports:
            - containerPort: {{ .Values.service.port }}
"""


def build_chart_archive(
    name: str,
    version: str,
    *,
    image_repository: str,
    image_tag: str,
    replicas: int = 1,
    port: int = 8080,
) -> bytes:
    """A one-Deployment chart whose image sits at ``image.repository`` + ``image.tag``."""
    import helm_python  # lazily: never load Go's runtime before RQ forks

    with tempfile.TemporaryDirectory() as tmp:
        chart_dir = Path(tmp) / name
        (chart_dir / "templates").mkdir(parents=True)
        chart = {
            "apiVersion": "v2",
            "name": name,
            "version": version,
            "appVersion": image_tag,
            "type": "application",
            "description": f"Demo chart {name}",
        }
        values = {
            "replicaCount": replicas,
            "image": {"repository": image_repository, "tag": image_tag},
            "service": {"port": port},
        }
        (chart_dir / "Chart.yaml").write_text(yaml.safe_dump(chart, sort_keys=False))
        (chart_dir / "values.yaml").write_text(yaml.safe_dump(values, sort_keys=False))
        (chart_dir / "templates" / "deployment.yaml").write_text(DEPLOYMENT_TEMPLATE)
        archive = helm_python.package(chart_dir, destination=tmp)
        return Path(archive).read_bytes()
