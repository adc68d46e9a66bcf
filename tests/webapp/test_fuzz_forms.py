"""Malformed requests to every route of the route table: never a 5xx, never poisoned state.

The routes come from ``app.url_map``, so routes added later are fuzzed too. Each
Hypothesis example restores the same seeded database, then sends one request to
every route (a POST where the route takes one, else a GET) as admin or as one
of the usual roles, with a valid CSRF token and a body drawn from malformed
values (files where text is expected, NUL, huge numbers, YAML bombs, ...).
It checks that:
- no answer is a 5xx, and every error page is the app's own (no traceback, no
  server path, not Werkzeug's default page);
- a refused request (4xx) changed no row;
- after an accepted POST, the page it leads to and the route's own page still
  answer, and at the end of each sweep every page of the seeded objects does.
Derandomized with a fixed number of examples: the same requests on every run.
"""

from __future__ import annotations

import hashlib
import io
import re
import shutil
import time
from pathlib import Path

import pytest
from flask_wtf import FlaskForm
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.routing import IntegerConverter
from wtforms import Form as PlainForm
from wtforms.fields import FieldList, FormField
from wtforms.fields.core import UnboundField

from tests.helpers import PASSWORD, csrf_token_from
from tests.webapp.catalog_fixtures import make_catalog
from tests.webapp.samples import DEPLOYMENT_YAML, KUBECONFIG
from webapp import ROOT
from webapp.extensions import db
from webapp.models import (
    Environment,
    Project,
    ProjectKind,
    Release,
    ReleaseStage,
    ReleaseStatus,
    Service,
    StageKind,
    StageStatus,
    User,
    Version,
    VersionService,
    VersionStatus,
    Workflow,
    WorkflowStage,
)

# Routes not fuzzed, each with its reason. Everything else in app.url_map is.
EXCLUDED = {"static": "files from disk: no input reaches the app's code"}
# Endpoints after which the client signs in again: they may end its session.
SESSION_ENDING = ("account.", "people.")
SWEEPS = 12  # Hypothesis examples; each one requests every route once
ROLES = ("admin", "admin", "release", "tester")  # most forms are the admin's
APP_MARKER = "Slipway · release management"

DEEP = "a: " + "[" * 3000 + "]" * 3000
LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"b{i}: &b{i} [" + ",".join([f"*{'a' if i == 0 else f'b{i - 1}'}"] * 10) + "]\n"
    for i in range(8)
)
MALFORMED = [
    "",
    " ",
    "\x00",
    "a\x00b",
    "\x1b[31m",
    "cart\n",
    "x\r\ny",
    "-1",
    "0",
    str(10**20),
    str(2**63),
    "9" * 5000,
    "1e999",
    "NaN",
    "中文",
    'a"b;c',
    "../../etc/passwd",
    "x" * 70_000,
    "'" + "a " * 5_000,
    DEEP,
    LAUGHS,
    "a: &a [*a]",
    "a: 2024-13-45",
    "a: " + "1" * 5000,
    "clusters: 5",
    "kind: [Pod]",
    "apiVersion: v1\nkind: Pod\nspec: [1]",
    "apiVersion: v1\nkind: Pod\nmetadata: x",
    "apiVersion: v1\nkind: Pod\nmetadata: {name: [x]}\nspec: {containers: [{name: a}]}",
    "- a\n- b",
    "{{ .Values.x }}",
    "!!python/object:os.system {}",
]
# Plausible values, so that requests get past the first check and reach the deeper ones.
PLAUSIBLE = [
    "1",
    "2",
    "next",
    "create",
    "back",
    "registry",
    "values",
    "apply_globals",
    "approve",
    "reject",
    "shop",
    "web",
    "v1",
    "k8s_yaml",
    "helm",
    "job",
    "http",
    "images",
    "full",
    "admin",
    "release_engineer",
    "y",
    "on",
    "r.example.com",
    "http://svc/healthz 200",
    "oci://r.example.com/charts/api:1.0.0",
    "image.repository+image.tag",
    "web=r.example.com/web:1",
    DEPLOYMENT_YAML,
    KUBECONFIG,
]
HX_TARGETS = ["", "helm-values", "helm-charts", "draft-images", "draft-services", "stages"]


@pytest.fixture
def app_config(app_config):
    """The usual test config, with CSRF on: every post carries a valid token.

    The fuzzed sign-in posts fail on purpose; throttling them would lock the fuzzer out.
    """
    return {
        **app_config,
        "WTF_CSRF_ENABLED": True,
        "SIGN_IN_FREE_FAILURES": 10**6,
        "SIGN_IN_ADDRESS_FREE_FAILURES": 10**6,
    }


def _seed(app) -> dict[str, int]:
    """A catalog of each kind with a workflow, a version and a release waiting for approval."""
    cat = make_catalog(app)
    with app.app_context():
        helm = Project(key="charts", name="Charts", kind=ProjectKind.HELM)
        db.session.add_all(
            [
                helm,
                Service(project=helm, name="api", order_group=1, default_values="a: 1\n"),
                Environment(project=helm, name="dev", namespace="charts-dev"),
            ]
        )
        workflow = Workflow(project_id=cat.project_id, name="w", environment_id=cat.environment_id)
        workflow.stages = [
            WorkflowStage(kind=StageKind.DEPLOY, name="Deploy", settings={"content": "images"}),
            WorkflowStage(
                kind=StageKind.TEST,
                name="Smoke",
                settings={"mode": "job", "image": "busybox", "command": "true"},
            ),
            WorkflowStage(
                kind=StageKind.APPROVAL,
                name="Approve",
                settings={"approver_roles": ["admin", "release_engineer"], "approvals_needed": 1},
            ),
        ]
        workflow.renumber()
        version = Version(
            project_id=cat.project_id,
            name="v1",
            status=VersionStatus.SUCCESS,
            target_registry_id=cat.registry_id,
            source_environment_id=cat.environment_id,
        )
        version.services = [
            VersionService(service_id=cat.service_id, name="cart", yaml=DEPLOYMENT_YAML)
        ]
        db.session.add_all([workflow, version])
        db.session.flush()
        admin = db.session.scalar(select(User).where(User.username == "admin"))
        release = Release(
            project_id=cat.project_id,
            workflow_id=workflow.id,
            environment_id=cat.environment_id,
            version_id=version.id,
            status=ReleaseStatus.WAITING_APPROVAL,
            requested_by_id=admin.id,
        )
        release.stages = [
            ReleaseStage(
                position=1,
                kind=StageKind.APPROVAL,
                name="Approve",
                settings=workflow.stages[-1].settings,
                status=StageStatus.WAITING_APPROVAL,
            )
        ]
        db.session.add(release)
        db.session.commit()
    return {"project": cat.project_id}


# Tables a refused request may write, with the reason.
MAY_CHANGE_WHEN_REFUSED = {
    # The version form keeps what was typed in the user's draft, refused or not, to show it
    # again; drafts.draft_problem checks its shape and the sweep's page checks read it.
    "version_drafts": "the create form's scratch state",
}


def _snapshot(app) -> dict[str, list[tuple]]:
    with app.app_context():
        return {
            table.name: sorted(map(tuple, db.session.execute(select(table))), key=repr)
            for table in db.metadata.sorted_tables
            if table.name not in MAY_CHANGE_WHEN_REFUSED
        }


def _field_names(form_class) -> set[str]:
    """The names a form class reads, FieldList entries as ``name-0-sub``."""
    names: set[str] = set()
    for klass in form_class.__mro__:
        for name, value in vars(klass).items():
            if not isinstance(value, UnboundField) or name.startswith("_"):
                continue
            names.add(name)
            inner = value
            prefix = name
            if issubclass(inner.field_class, FieldList):
                inner = inner.args[0]
                prefix = f"{name}-0"
            if issubclass(inner.field_class, FormField):
                names |= {f"{prefix}-{sub}" for sub in _field_names(inner.args[0])}
    return names


def _all_form_field_names() -> list[str]:
    seen: set[type] = set()
    pending = [FlaskForm, PlainForm]
    names: set[str] = set()
    while pending:
        klass = pending.pop()
        for sub in klass.__subclasses__():
            if sub not in seen:
                seen.add(sub)
                pending.append(sub)
                names |= _field_names(sub)
    return sorted(names - {"csrf_token"})


class Fuzzer:
    """Signed-in clients (one per role), the seeded database and what the sweep found."""

    def __init__(self, app, db_path: Path, seed_path: Path):
        self.app = app
        self.db_path = db_path
        self.seed_path = seed_path
        self.clients = {}
        self.tokens = {}
        self.requests = 0
        self.hit: set[str] = set()
        self._fingerprint = ""
        self._rows: dict = {}

    def fingerprint(self) -> str:
        """A hash of the database files: unchanged files mean unchanged rows (cheap to take)."""
        digest = hashlib.sha256()
        for path in (self.db_path, self.db_path.with_name(self.db_path.name + "-wal")):
            if path.exists():
                digest.update(path.read_bytes())
        return digest.hexdigest()

    def rows_before(self) -> tuple[str, dict]:
        """The fingerprint now and the rows it stands for (read again only when it changed)."""
        now = self.fingerprint()
        if now != self._fingerprint:
            self._fingerprint, self._rows = now, _snapshot(self.app)
        return now, self._rows

    def restore(self) -> None:
        with self.app.app_context():
            db.session.remove()
            db.engine.dispose()
        shutil.copy(self.seed_path, self.db_path)

    def sign_in(self, role: str):
        response, client = self._post_sign_in(role)
        if response.status_code != 302:
            # A fuzzed post reset this user's password or deactivated them (people and
            # account pages): start again from the seeded rows, every role signed out.
            self.restore()
            self.clients.clear()
            response, client = self._post_sign_in(role)
        assert response.status_code == 302, f"{role} cannot sign in"
        self.tokens[role] = csrf_token_from(client.get("/").get_data(as_text=True))
        self.clients[role] = client
        return client

    def _post_sign_in(self, role: str):
        client = self.app.test_client()
        page = client.get("/auth/login")
        response = client.post(
            "/auth/login",
            data={
                "username": role,
                "password": PASSWORD,
                "csrf_token": csrf_token_from(page.get_data(as_text=True)),
            },
        )
        return response, client

    def client(self, role: str):
        return self.clients.get(role) or self.sign_in(role)


def _check_answer(response, where: str, htmx: bool) -> None:
    textual = response.mimetype.startswith("text/") or response.is_json
    body = response.get_data(as_text=True) if textual else ""
    assert response.status_code < 500, f"{where}: {response.status_code}"
    assert "Traceback" not in body, where
    assert str(ROOT) not in body, f"{where}: shows a server path"
    if response.status_code >= 400:
        if response.is_json:  # an API's error: its own JSON, never an HTML page
            assert response.get_json(silent=True) is not None, f"{where}: broken JSON error"
            return
        own_page = APP_MARKER in body
        own_fragment = htmx and body.strip() and not body.lstrip().lower().startswith("<!doctype")
        assert own_page or own_fragment, f"{where}: {response.status_code} is not the app's page"


def _url(rule, values: dict) -> str:
    path = rule.rule
    for name in rule.arguments:
        path = re.sub(rf"<(?:[^:>]+:)?{name}>", str(values[name]), path)
    return path


def _seeded_arguments(rule) -> dict:
    """Arguments naming the seed's first objects (ids 1, a stage kind a K8s workflow takes)."""
    return {
        name: 1 if isinstance(rule._converters[name], IntegerConverter) else "deploy"
        for name in rule.arguments
    }


def _arguments(data, rule) -> dict:
    values = {}
    for name in sorted(rule.arguments):
        converter = rule._converters[name]
        if isinstance(converter, IntegerConverter):
            # Mostly an object the seed holds, so the request reaches the form.
            values[name] = data.draw(st.sampled_from([1] * 6 + [2, 0, 10**20, 2**63]), name)
        else:
            values[name] = data.draw(
                st.sampled_from([kind.value for kind in StageKind] + ["x", "%00", "中文"]), name
            )
    return values


def _body(data, own: list[str], everywhere: list[str], token: str) -> dict:
    """Mostly the page's own fields (so checks past the first are reached), a few others."""
    chosen = data.draw(st.lists(st.sampled_from(everywhere), max_size=3, unique=True), "fields")
    if own:
        chosen += data.draw(st.lists(st.sampled_from(own), max_size=len(own), unique=True))
    body: dict = {}
    for name in chosen:
        kind = data.draw(st.sampled_from(["malformed", "plausible", "text", "file", "many"]))
        if kind == "malformed":
            body[name] = data.draw(st.sampled_from(MALFORMED))
        elif kind == "plausible":
            body[name] = data.draw(st.sampled_from(PLAUSIBLE))
        elif kind == "text":
            body[name] = data.draw(st.text(max_size=40))
        elif kind == "file":
            content = data.draw(st.sampled_from([b"x", b"\x1f\x8b\x08\x00", b"\x00" * 100]))
            body[name] = (io.BytesIO(content), data.draw(st.sampled_from(["x.txt", "c.tgz"])))
        else:
            body[name] = data.draw(st.lists(st.sampled_from(MALFORMED + PLAUSIBLE), max_size=3))
    body["csrf_token"] = token
    return body


def _jsonable(value):
    if isinstance(value, tuple):  # a file part
        return {"file": value[1]}
    if isinstance(value, list):
        return [{"nested": value}, 10**20]
    return value


def _page_fields(fuzzer: Fuzzer, rules) -> dict[str, list[str]]:
    """The input names each form page shows (read once from the seeded pages)."""
    client = fuzzer.client("admin")
    found = {}
    for rule in rules:
        if "GET" in rule.methods and "POST" in rule.methods:
            page = client.get(_url(rule, _seeded_arguments(rule)))
            names = re.findall(r'name="([^"]+)"', page.get_data(as_text=True))
            found[rule.endpoint] = sorted(set(names) - {"csrf_token", "viewport", "csrf-token"})
    return found


def test_malformed_requests_to_every_route(app, tmp_path):
    started = time.monotonic()
    _seed(app)
    with app.app_context():
        db_path = Path(db.engine.url.database)
    seed_path = tmp_path / "seed.sqlite"
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    shutil.copy(db_path, seed_path)
    fuzzer = Fuzzer(app, db_path, seed_path)
    rules = sorted(
        (rule for rule in app.url_map.iter_rules() if rule.endpoint not in EXCLUDED),
        key=lambda rule: (rule.endpoint.startswith("auth."), rule.rule),
    )
    assert len(rules) > 50, "the route table looks empty"
    page_fields = _page_fields(fuzzer, rules)
    everywhere = _all_form_field_names()
    pages = [rule for rule in rules if "GET" in rule.methods]

    @settings(
        max_examples=SWEEPS,
        derandomize=True,
        deadline=None,
        database=None,
        # No shrinking: each example replays a whole sweep; the first failure is the report.
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def sweep(data):
        fuzzer.restore()
        for rule in rules:
            _fuzz_one(fuzzer, data, rule, page_fields.get(rule.endpoint, []), everywhere)
        for rule in pages:
            url = _url(rule, _seeded_arguments(rule))
            _check_answer(fuzzer.client("admin").get(url), f"GET {url} after the sweep", False)

    sweep()
    elapsed = time.monotonic() - started
    print(f"fuzz: {fuzzer.requests} requests to {len(rules)} routes in {elapsed:.1f} s")
    assert fuzzer.hit == {rule.endpoint for rule in rules}
    assert fuzzer.requests >= SWEEPS * len(rules)
    assert elapsed < 60, f"the fuzz run took {elapsed:.0f} s"


def _fuzz_one(fuzzer: Fuzzer, data, rule, own: list[str], everywhere: list[str]) -> None:
    role = data.draw(st.sampled_from(ROLES), "role")
    client = fuzzer.client(role)
    url = _url(rule, _arguments(data, rule))
    if data.draw(st.sampled_from([False] * 4 + [True]), "query"):
        query = data.draw(st.sampled_from(["page", "q", "label", "name", "seen", "next", "user"]))
        value = data.draw(st.sampled_from(MALFORMED[:14] + PLAUSIBLE[:5]))
        url += "?" + query + "=" + re.sub(r"[^A-Za-z0-9]", lambda m: f"%{ord(m[0]):02X}", value)
    target = data.draw(st.sampled_from(HX_TARGETS), "hx-target")
    headers = {"HX-Request": "true", "HX-Target": target} if target else {}
    method = "POST" if "POST" in rule.methods else "GET"
    before = fuzzer.rows_before() if method == "POST" else None
    where = f"{method} {url[:200]} as {role}"
    if method == "POST":
        body = _body(data, own, everywhere, fuzzer.tokens[role])
        if data.draw(st.sampled_from([False] * 5 + [True]), "json"):
            # The same fields as a JSON body (files become text); CSRF travels in the header.
            json_body = data.draw(
                st.sampled_from([[1, 2], "text", None, {k: _jsonable(v) for k, v in body.items()}])
            )
            headers = {**headers, "X-CSRFToken": fuzzer.tokens[role]}
            response = client.post(url, json=json_body, headers=headers)
        else:
            response = client.post(url, data=body, headers=headers)
        where += f" with {sorted(body)}"
    else:
        response = client.get(url, headers=headers)
    fuzzer.requests += 1
    fuzzer.hit.add(rule.endpoint)
    _check_answer(response, where, bool(headers))
    if rule.endpoint.startswith("auth."):
        fuzzer.sign_in(role)  # signing out (or in) ends this client's session
        return
    try:
        _check_post(fuzzer, client, rule, method, url, where, response, before)
    finally:
        if rule.endpoint.startswith(SESSION_ENDING):
            fuzzer.sign_in(role)  # a new password or a deactivation ends sessions


def _check_post(fuzzer, client, rule, method, url, where, response, before) -> None:
    """A refused post changed no row; an accepted one leaves the pages it leads to working."""
    if method != "POST":
        return
    if response.status_code >= 400:
        fingerprint, rows = before
        if fuzzer.fingerprint() != fingerprint:
            assert _snapshot(fuzzer.app) == rows, f"{where}: refused, but rows changed"
        return
    # Accepted: what it stored must not break the pages that show it.
    follow = [response.headers.get("Location", "")]
    if "GET" in rule.methods:
        follow.append(url)
    for page in filter(None, follow):
        if page.startswith("/") and not page.startswith("/auth/"):
            _check_answer(client.get(page), f"GET {page} after {where}", False)
            fuzzer.requests += 1
