"""A chart with RBAC, a PodDisruptionBudget, a CRD and a custom resource, installed
through the Helm SDK (helm_python, imported lazily as Slipway does)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from kubernetes import client

CHART = {
    "Chart.yaml": """\
apiVersion: v2
name: platform
version: 0.1.0
appVersion: "1.0"
""",
    "crds/widgets.yaml": """\
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.shop.example
spec:
  group: shop.example
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wdg]}
  versions:
    - name: v1
      served: true
      storage: true
      subresources: {status: {}}
      additionalPrinterColumns:
        - {name: Size, type: integer, jsonPath: .spec.size}
        - {name: Colour, type: string, jsonPath: .spec.colour, priority: 1}
      schema:
        openAPIV3Schema:
          type: object
          properties:
            spec:
              type: object
              properties:
                size: {type: integer}
                colour: {type: string}
""",
    "templates/rbac.yaml": """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: {{ .Release.Name }}-app}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: {{ .Release.Name }}-reader}
rules:
  - apiGroups: [""]
    resources: [configmaps, pods]
    verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: {{ .Release.Name }}-reader}
subjects:
  - kind: ServiceAccount
    name: {{ .Release.Name }}-app
    namespace: {{ .Release.Namespace }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ .Release.Name }}-reader
""",
    "templates/app.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: {{ .Release.Name }}-web}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      serviceAccountName: {{ .Release.Name }}-app
      containers:
        - name: web
          image: registry.example/shop/web:{{ .Values.tag }}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: {{ .Release.Name }}-web}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: web}}
---
apiVersion: shop.example/v1
kind: Widget
metadata: {name: {{ .Release.Name }}-widget}
spec:
  size: {{ .Values.size }}
  colour: blue
""",
    "values.yaml": "tag: '1.0'\nsize: 3\n",
}


@pytest.fixture
def chart_dir(tmp_path) -> Path:
    for name, text in CHART.items():
        path = tmp_path / "platform" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path / "platform"


@pytest.mark.timeout(180)
def test_chart_with_rbac_pdb_crd_and_custom_resource_installs_and_upgrades(
    kube, api_client, chart_dir, kubectl
):
    import helm_python

    namespace = f"helm-{uuid.uuid4().hex[:8]}"
    with (
        helm_python.Config(namespace=namespace, kubeconfig_content=kube.kubeconfig_text()) as cfg,
        helm_python.Chart.load(chart_dir) as chart,
    ):
        cfg.install(
            chart, "shop", {}, create_namespace=True, namespace=namespace, timeout=60, wait="legacy"
        )
        cfg.upgrade(chart, "shop", {"size": 5}, namespace=namespace, timeout=60, wait="legacy")
        history = cfg.history("shop")

    assert [h["status"] for h in history][-1] == "deployed"
    rbac = client.RbacAuthorizationV1Api(api_client)
    role = rbac.read_namespaced_role("shop-reader", namespace)
    assert role.rules[0].resources == ["configmaps", "pods"]
    binding = rbac.read_namespaced_role_binding("shop-reader", namespace)
    assert binding.role_ref.name == "shop-reader"
    pdb = client.PolicyV1Api(api_client).read_namespaced_pod_disruption_budget(
        "shop-web", namespace
    )
    assert pdb.spec.min_available == 1
    assert pdb.status.observed_generation == pdb.metadata.generation
    assert pdb.status.current_healthy == 2
    assert pdb.status.disruptions_allowed == 1
    crd = client.ApiextensionsV1Api(api_client).read_custom_resource_definition(
        "widgets.shop.example"
    )
    assert {c.type: c.status for c in crd.status.conditions}["Established"] == "True"
    widget = client.CustomObjectsApi(api_client).get_namespaced_custom_object(
        "shop.example", "v1", namespace, "widgets", "shop-widget"
    )
    assert widget["spec"] == {"size": 5, "colour": "blue"}
    table = kubectl("get", "widgets", "-n", namespace, "-o", "wide").stdout.splitlines()
    assert table[0].split() == ["NAME", "SIZE", "COLOUR", "AGE"]
    assert table[1].split()[:2] == ["shop-widget", "5"]
    assert table[1].split()[2] == "blue"
