"""Which kubeconfigs Slipway accepts: inline credentials only.

A kubeconfig is admin input that the worker hands to the Kubernetes client. The
client would run ``exec`` plugins and auth-provider commands, read ``tokenFile``
and ``*-file`` paths from the worker's disk and send requests through a proxy.
None of that is needed to reach a cluster, so only inline credentials pass:
a token, client certificate/key data, basic auth and CA data. The catalog form
checks this at save and the cluster engine again before it connects.
"""

from __future__ import annotations

import yaml

# What each section may hold; every other key is refused.
_ALLOWED = {
    "cluster": {
        "server",
        "certificate-authority-data",
        "insecure-skip-tls-verify",
        "tls-server-name",
        "extensions",
    },
    "user": {
        "token",
        "client-certificate-data",
        "client-key-data",
        "username",
        "password",
        "extensions",
    },
    "context": {"cluster", "user", "namespace", "extensions"},
}

# Keys people will try, with what to do instead.
_REFUSED = {
    "exec": "runs a command on the Slipway worker; paste a token or client certificate data",
    "auth-provider": "runs a provider plugin; paste a token or client certificate data",
    "tokenFile": "reads a file on the Slipway worker; paste the token itself as token",
    "token-file": "reads a file on the Slipway worker; paste the token itself as token",
    "client-certificate": "reads a file on the Slipway worker; use client-certificate-data",
    "client-key": "reads a file on the Slipway worker; use client-key-data",
    "certificate-authority": "reads a file on the Slipway worker; use certificate-authority-data",
    "proxy-url": "sends cluster traffic through a proxy; Slipway connects to the server directly",
    "as": "impersonation is not supported; give the user its own credentials",
    "as-groups": "impersonation is not supported; give the user its own credentials",
    "as-uid": "impersonation is not supported; give the user its own credentials",
    "as-user-extra": "impersonation is not supported; give the user its own credentials",
}

_SECTIONS = (("clusters", "cluster"), ("users", "user"), ("contexts", "context"))
_TOP_LEVEL = {"apiVersion", "kind", "clusters", "users", "contexts", "current-context"}
_TOP_LEVEL_IGNORED = {"preferences", "extensions"}


class KubeconfigRefused(ValueError):
    """A kubeconfig that Slipway will not use; the message says which entry and why."""


def check_kubeconfig(text: str) -> None:
    """Refuse a kubeconfig unless every credential in it is inline.

    Raises :class:`KubeconfigRefused` (a ``ValueError``) naming the entry and the
    setting; returns ``None`` when the kubeconfig may be used.
    """
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise KubeconfigRefused("The kubeconfig is not valid YAML.") from exc
    check_kubeconfig_data(config)


def check_kubeconfig_data(config: object) -> None:
    """:func:`check_kubeconfig` for an already parsed kubeconfig."""
    if not isinstance(config, dict):
        raise KubeconfigRefused("The kubeconfig is not a YAML mapping.")
    for key in config:
        if key not in _TOP_LEVEL | _TOP_LEVEL_IGNORED:
            raise KubeconfigRefused(f"The kubeconfig setting {key!r} is not supported.")
    for section, inner in _SECTIONS:
        entries = config.get(section) or []
        if not isinstance(entries, list):
            raise KubeconfigRefused(f"The kubeconfig's {section} must be a list.")
        for entry in entries:
            _check_entry(section, inner, entry)


def _check_entry(section: str, inner: str, entry: object) -> None:
    if not isinstance(entry, dict):
        raise KubeconfigRefused(f"An entry of {section} is not a mapping.")
    name = entry.get("name")
    where = f"{inner} {name!r}" if isinstance(name, str) else f"a {inner} entry"
    for key in entry:
        if key not in ("name", inner):
            raise KubeconfigRefused(f"The kubeconfig's {where} has an unknown key {key!r}.")
    settings = entry.get(inner) or {}
    if not isinstance(settings, dict):
        raise KubeconfigRefused(f"The kubeconfig's {where} is not a mapping.")
    for key, value in settings.items():
        if key in _REFUSED:
            raise KubeconfigRefused(
                f"The kubeconfig's {where} uses {key!r}, which Slipway refuses: it {_REFUSED[key]}."
            )
        if key not in _ALLOWED[inner]:
            raise KubeconfigRefused(
                f"The kubeconfig's {where} uses {key!r}, which Slipway does not support. "
                "Only inline credentials are accepted: token, client-certificate-data, "
                "client-key-data, certificate-authority-data."
            )
        if key != "extensions" and isinstance(value, dict | list):
            raise KubeconfigRefused(f"The kubeconfig's {where} has a nested value for {key!r}.")
