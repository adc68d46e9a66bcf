"""RQ tasks (this package's modules) over the engines in ``jobs.oci``, ``jobs.kube``, ``jobs.helm``.

The web app enqueues tasks by dotted name and never imports these modules; the
worker imports them once, before it forks a work-horse per job.
"""

#: The task modules, for the worker to preload (pyproject's layer contracts name them too).
TASK_MODULES = (
    "jobs.catalog",
    "jobs.environments",
    "jobs.notifications",
    "jobs.releases",
    "jobs.release_stages",
    "jobs.release_deploy",
    "jobs.release_pins",
    "jobs.service_charts",
    "jobs.version_charts",
    "jobs.version_tags",
    "jobs.versions",
)
