"""Session-wide real services: Redis and docker-registry processes on free ports."""

from __future__ import annotations

import pytest

from sandbox import services


@pytest.fixture(scope="session")
def redis_service(tmp_path_factory):
    """A real redis-server for the whole session."""
    svc = services.start_redis(tmp_path_factory.mktemp("redis"))
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def registry(tmp_path_factory):
    """An anonymous plain-HTTP registry shared by the session."""
    svc = services.start_registry(tmp_path_factory.mktemp("registry"))
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def second_registry(tmp_path_factory):
    """Another anonymous registry, for cross-registry copies."""
    svc = services.start_registry(tmp_path_factory.mktemp("registry2"))
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def auth_registry(tmp_path_factory):
    """A registry with htpasswd basic auth: user ``slipway``, password ``s3cret-pw``."""
    svc = services.start_registry(
        tmp_path_factory.mktemp("auth-registry"), users={"slipway": "s3cret-pw"}
    )
    yield svc
    svc.stop()


@pytest.fixture(scope="session")
def sandbox_cluster(tmp_path_factory):
    """A sandbox Kubernetes cluster (sandbox.kube) with quick rollouts, for the session."""
    from sandbox.kube import server
    from sandbox.kube.config import SandboxConfig

    cluster = server.start(
        state_file=str(tmp_path_factory.mktemp("sandbox-cluster") / "state.json"),
        config=SandboxConfig(rollout_seconds=0.3),
    )
    yield cluster
    cluster.stop()


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory):
    """A SQLite file with the real migrations applied; tests copy it."""
    from flask_migrate import upgrade

    from webapp import create_app

    path = tmp_path_factory.mktemp("template-db") / "template.sqlite"
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}"})
    with app.app_context():
        upgrade()
    return path
