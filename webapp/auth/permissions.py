"""Who may do what, in one place.

Views call these with ``current_user``; templates get the same functions as
globals bound to the signed-in user (``{% if may_sync_environment(environment) %}``),
so no template compares role names itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Flask
from flask_login import current_user

from webapp.models import Environment, Role, User, Workflow


def _signed_in(user) -> bool:
    return bool(user is not None and getattr(user, "is_authenticated", False))


def may_manage_catalog(user: User) -> bool:
    """Clusters, registries, projects, services, environments, workflows, users: admins."""
    return _signed_in(user) and user.is_admin


def may_sync_environment(user: User, environment: Environment) -> bool:
    """Overwrite the recorded state from the cluster: a production one only by release
    engineers and admins; others also by test engineers."""
    if not _signed_in(user):
        return False
    if environment.production:
        return user.has_role(Role.RELEASE_ENGINEER)
    return user.has_role(Role.RELEASE_ENGINEER, Role.TEST_ENGINEER)


def may_edit_recorded_state(user: User, environment: Environment) -> bool:
    """Record by hand what runs in an environment: admins."""
    return _signed_in(user) and user.is_admin


def may_edit_versions(user: User) -> bool:
    """Create, retry and delete versions: test engineers and admins."""
    return _signed_in(user) and user.has_role(Role.TEST_ENGINEER)


def may_run_workflow(user: User, workflow: Workflow) -> bool:
    """Release engineers run any workflow; test engineers only non-production ones."""
    if not _signed_in(user):
        return False
    if user.has_role(Role.RELEASE_ENGINEER):
        return True
    return user.role is Role.TEST_ENGINEER and not workflow.environment.production


def may_run_workflows(user: User) -> bool:
    """Whether the user may run some workflow at all (for "Actions" columns)."""
    return _signed_in(user) and user.has_role(Role.RELEASE_ENGINEER, Role.TEST_ENGINEER)


def may_operate_releases(user: User) -> bool:
    """Cancel, retry, roll back releases: release engineers and admins."""
    return _signed_in(user) and user.has_role(Role.RELEASE_ENGINEER)


RULES: tuple[Callable[..., bool], ...] = (
    may_manage_catalog,
    may_sync_environment,
    may_edit_recorded_state,
    may_edit_versions,
    may_run_workflow,
    may_run_workflows,
    may_operate_releases,
)


def _for_signed_in_user(rule: Callable[..., bool]) -> Callable[..., bool]:
    @functools.wraps(rule)
    def bound(*args, **kwargs) -> bool:
        return rule(current_user, *args, **kwargs)

    return bound


def init_app(app: Flask) -> None:
    """Register every rule as a template global taking the object only."""
    for rule in RULES:
        app.add_template_global(_for_signed_in_user(rule), rule.__name__)
