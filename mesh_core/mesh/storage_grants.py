"""``mesh access policy``: the storage permissions the manifests imply, the hard boundary of access.

``mesh_core`` checks access when a port is read, but every domain of a local mesh runs
as one OS user, so that check is cooperative. The storage holds the boundary:

- **S3**: a bucket policy with one prefix per domain and port. Each domain's principal
  writes only under its own domain's prefix; a port's readers are every domain of the
  mesh (``public``), its ``consumers`` (``restricted``) or none (``private``). A
  restricted or private port also gets an explicit ``Deny`` for every other principal,
  so broad IAM identity policies cannot open it.
- **Masked readers**: a reader not cleared for a port's PII columns (any reader of a
  public port with PII; a consumer without ``Clearance(pii=True)``) is granted only the
  Delta log and the masked copy of each major (``v<major>/_delta_log/`` and
  ``v<major>/_masked/``), and denied the clear data files (``v<major>/part-*``).
- **POSIX**: a shell script of group modes for a local store. Each domain runs as its
  own OS user; each port's folder belongs to a reader group of its producer and
  readers, with mode ``2750`` (``2755`` when public), so no one else can enter it. A port
  with masked readers splits in two groups: its clear readers' (``mesh-<domain>-<port>-pii``)
  owns the port's folders and clear files, its readers' (``mesh-<domain>-<port>``) the
  Delta log and masked copy of each major.

Principals name, per domain, the AWS principal ARN or the OS user it runs as:
``--principal users=arn:aws:iam::123456789012:role/mesh-users``, or a template with
``{domain}`` for all of them. The optional ``mesh`` principal (the operator that runs
``mesh catalog``, ``mesh usage`` and ``mesh audit``) may read everything.

Every principal reads and lists the environment's registry (``_registry/``) and its
kitchen metadata (``_kitchen.json``), which every publish and every ``mesh`` command reads;
each domain writes (and removes) only its own entry, ``_registry/<domain>.json``. A kitchen
(``--kitchen NAME=PRINCIPAL``) is one developer's sandbox, run by one principal: it reads,
writes and deletes everything under ``<prefix>/<kitchen>/``, reads the registry and kitchen
metadata of its parent environment and the parent's public ports, and never writes the
parent. A restricted or private port of the parent stays closed to it: a kitchen run needing
one rebuilds it in the kitchen.
"""

from __future__ import annotations

import json
import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from mesh_core.errors import MeshError
from mesh_core.mesh.graph import MeshGraph
from mesh_core.settings import check_env_name

OPERATOR = "mesh"
AUDIT_FOLDER = "_audit"  # mesh_core.audit_trail's folder: one sub-folder per reading or publishing domain
MASKED_FOLDER = "_masked"  # mesh_core.store's folder of a major's masked copy
CLEAR_FILES = "part-*"  # the clear data files of a major (mesh_core.delta.write_file's names)
REGISTRY_FOLDER = "_registry"  # mesh_core.registry.REGISTRY_DIR: one entry per domain, read by every publish
KITCHEN_FILE = "_kitchen.json"  # mesh_core.kitchens.KITCHEN_FILE: read by every store to find its parent
REGISTRY_GROUP = "mesh-registry"  # the POSIX group of every domain, which may add its entry to _registry/
_MAX_GROUP_NAME = 32  # Linux's limit for a group name


@dataclass(frozen=True)
class PortGrant:
    """Who writes and who reads one port: its producing domain and reading domains."""

    port_id: str
    domain: str
    port: str
    access: str
    readers: tuple[str, ...]
    masked_readers: tuple[str, ...] = ()

    @property
    def clear_readers(self) -> tuple[str, ...]:
        """The readers cleared for the port's PII: they read its clear data files."""
        return tuple(d for d in self.readers if d not in self.masked_readers)


def port_grants(graph: MeshGraph) -> list[PortGrant]:
    """Every port's readers as its manifest implies (all other domains, its consumers, or none), and who reads masked."""
    domains = sorted({port["domain"] for port in graph.ports.values()})
    grants = []
    for port_id, port in sorted(graph.ports.items()):
        domain, name = port_id.split(".")
        access = port["access"]
        if access == "public":
            readers = [d for d in domains if d != domain]
        elif access == "restricted":
            readers = sorted(consumer_domains(port["consumers"]) - {domain})
        else:
            readers = []
        columns = (port.get("contract") or {}).get("columns") or {}
        has_pii = any(column.get("pii") for column in columns.values())
        cleared = set(port.get("pii_cleared") or ())
        masked = [d for d in readers if d not in cleared] if has_pii else []
        grants.append(PortGrant(port_id, domain, name, access, tuple(readers), tuple(masked)))
    return grants


def consumer_domains(consumers: Any) -> set[str]:
    """The domains a manifest's ``consumers`` names: a list of names, or a mapping keyed by domain."""
    if isinstance(consumers, Mapping):
        return set(consumers)
    return {c if isinstance(c, str) else c["domain"] for c in consumers or []}


def resolve_principals(domains: list[str], given: Mapping[str, str], template: str | None) -> dict[str, str]:
    """One principal per domain (and the operator's, if given): named in ``given``, else from ``template``.

    Raises:
        MeshError: if a domain has no principal, or ``given`` names a domain the mesh does not have.
    """
    unknown = sorted(set(given) - set(domains) - {OPERATOR})
    if unknown:
        raise MeshError(f"--principal names {unknown}, which are not domains of the mesh ({', '.join(domains)})")
    principals = {d: given.get(d) or (template.format(domain=d) if template else "") for d in domains}
    missing = [d for d, principal in principals.items() if not principal]
    if missing:
        raise MeshError(
            f"no principal for {', '.join(missing)}: pass --principal DOMAIN=PRINCIPAL for each, "
            "or --principal-template with {domain}"
        )
    if given.get(OPERATOR):
        principals[OPERATOR] = given[OPERATOR]
    return principals


def split_store_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/some/prefix`` -> ``("bucket", "some/prefix")``.

    Raises:
        MeshError: if ``uri`` is not an ``s3://`` URI with a bucket.
    """
    match = re.match(r"^s3a?://([^/]+)/?(.*)$", uri or "")
    if not match:
        raise MeshError(
            f"the store {uri or '(local)'} is not on S3; set MESH_HOME=s3://bucket/prefix or pass --store"
        )
    return match.group(1), match.group(2).strip("/")


def s3_bucket_policy(
    graph: MeshGraph, store_uri: str, env: str, principals: Mapping[str, str], kitchens: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The bucket policy for the store at ``store_uri`` in environment ``env``, as a JSON-ready dict.

    ``kitchens`` maps each kitchen of ``env`` to the principal that runs it.
    """
    bucket, prefix = split_store_uri(store_uri)
    root = "/".join(part for part in (prefix, env) if part)
    bucket_arn = f"arn:aws:s3:::{bucket}"
    domains = sorted(d for d in principals if d != OPERATOR)
    statements: list[dict[str, Any]] = []
    for domain in domains:
        area = f"{root}/{domain}/"
        statements += [
            _allow(f"{_sid(domain)}WritesItsPrefix", [principals[domain]],
                   ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], [f"{bucket_arn}/{area}*"]),
            _list(f"{_sid(domain)}ListsItsPrefix", [principals[domain]], bucket_arn, area),
            _deny_others(f"{_sid(domain)}PrefixWrittenOnlyByIt", [principals[domain]],
                         ["s3:PutObject", "s3:DeleteObject"], [f"{bucket_arn}/{area}*"]),
            _allow(f"{_sid(domain)}AppendsItsAudit", [principals[domain]], ["s3:PutObject"],
                   [f"{bucket_arn}/{root}/{AUDIT_FOLDER}/{domain}/*"]),
            _deny_others(f"{_sid(domain)}AuditWrittenOnlyByIt", [principals[domain]], ["s3:PutObject"],
                         [f"{bucket_arn}/{root}/{AUDIT_FOLDER}/{domain}/*"]),
        ]
    statements.append({  # a lifecycle rule, not any principal, expires old audit segments
        "Sid": "AuditTrailIsAppendOnly", "Effect": "Deny", "Principal": "*", "Action": ["s3:DeleteObject"],
        "Resource": [f"{bucket_arn}/{root}/{AUDIT_FOLDER}/*"],
    })
    for grant in port_grants(graph):
        area = f"{root}/{grant.domain}/{grant.port}/"
        sid = _sid(grant.domain, grant.port)
        readers = [principals[d] for d in grant.readers]
        clear = [principals[d] for d in grant.clear_readers]
        masked = [principals[d] for d in grant.masked_readers]
        if clear:
            statements.append(_allow(f"{sid}Readers", clear, ["s3:GetObject"], [f"{bucket_arn}/{area}*"]))
        if masked:  # the Delta log and the masked copy; never the clear data files
            statements += [
                _allow(f"{sid}MaskedReaders", masked, ["s3:GetObject"],
                       [f"{bucket_arn}/{area}v*/_delta_log/*", f"{bucket_arn}/{area}v*/{MASKED_FOLDER}/*"]),
                {**_allow(f"{sid}MaskedReadersNeverClear", masked, ["s3:GetObject"],
                          [f"{bucket_arn}/{area}v*/{CLEAR_FILES}"]), "Effect": "Deny"},
            ]
        if readers:
            statements.append(_list(f"{sid}ReadersList", readers, bucket_arn, area))
        if grant.access != "public":
            allowed = [principals[grant.domain], *readers, *([principals[OPERATOR]] if OPERATOR in principals else [])]
            statements.append(_deny_others(f"{sid}ReadOnlyByGrantees", allowed, ["s3:GetObject"],
                                           [f"{bucket_arn}/{area}*"]))
    if OPERATOR in principals:
        statements += [
            _allow("MeshOperatorReads", [principals[OPERATOR]], ["s3:GetObject"], [f"{bucket_arn}/{root}/*"]),
            _list("MeshOperatorLists", [principals[OPERATOR]], bucket_arn, f"{root}/"),
        ]
    statements += _metadata_statements(bucket_arn, root, domains, principals, [*(kitchens or {}).values()])
    for kitchen, principal in sorted((kitchens or {}).items()):
        statements += _kitchen_statements(graph, bucket_arn, prefix, root, kitchen, principal)
    return {"Version": "2012-10-17", "Id": f"mesh-{env}", "Statement": statements}


def _metadata_statements(
    bucket_arn: str, root: str, domains: list[str], principals: Mapping[str, str], kitchens: list[str]
) -> list[dict[str, Any]]:
    """Everyone reads and lists the registry and the kitchen metadata; each domain writes only its own entry."""
    everyone = [*principals.values(), *kitchens]
    registry = f"{root}/{REGISTRY_FOLDER}/"
    statements = [
        _allow("MeshReadsTheRegistryAndKitchenMetadata", everyone, ["s3:GetObject"],
               [f"{bucket_arn}/{registry}*", f"{bucket_arn}/{root}/{KITCHEN_FILE}"]),
        # the registry's listing, and the environment's top level, where a store looks for _kitchen.json
        {**_list("MeshListsTheRegistryAndKitchenMetadata", everyone, bucket_arn, registry),
         "Condition": {"StringLike": {"s3:prefix": [f"{registry}*", f"{root}/"]}}},
    ]
    for domain in domains:
        entry = [f"{bucket_arn}/{registry}{domain}.json"]
        statements += [
            _allow(f"{_sid(domain)}WritesItsRegistryEntry", [principals[domain]],
                   ["s3:PutObject", "s3:DeleteObject"], entry),
            _deny_others(f"{_sid(domain)}RegistryEntryWrittenOnlyByIt", [principals[domain]],
                         ["s3:PutObject", "s3:DeleteObject"], entry),
        ]
    return statements


def _kitchen_statements(
    graph: MeshGraph, bucket_arn: str, prefix: str, root: str, kitchen: str, principal: str
) -> list[dict[str, Any]]:
    """A kitchen's principal: all of its own environment; its parent's metadata and public ports, read-only."""
    check_env_name(kitchen, "kitchen name")
    own = "/".join(part for part in (prefix, kitchen) if part)
    sid = f"Kitchen{_sid(*kitchen.split('-'))}"
    public = [f"{root}/{grant.domain}/{grant.port}/" for grant in port_grants(graph) if grant.access == "public"]
    statements = [
        _allow(f"{sid}WritesItsEnvironment", [principal], ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
               [f"{bucket_arn}/{own}/*"]),
        {**_list(f"{sid}ListsItsEnvironment", [principal], bucket_arn, f"{own}/"),
         "Condition": {"StringLike": {"s3:prefix": [f"{own}/*", f"{prefix}/" if prefix else ""]}}},
    ]
    if public:
        statements += [
            _allow(f"{sid}ReadsPublicPortsOfItsParent", [principal], ["s3:GetObject"],
                   [f"{bucket_arn}/{area}*" for area in public]),
            {**_list(f"{sid}ListsPublicPortsOfItsParent", [principal], bucket_arn, root),
             "Condition": {"StringLike": {"s3:prefix": [f"{area}*" for area in public]}}},
        ]
    return statements


def posix_script(graph: MeshGraph, store_root: str, users: Mapping[str, str]) -> str:
    """A ``sh`` script giving a local store at ``store_root`` (``MESH_HOME/MESH_ENV``) the manifests' group modes.

    Run it as root. Each domain's folder is ``2711`` (others may pass through to a port
    they are granted, not list the domain); its ``_internal`` folder ``2700``; each port's
    folder belongs to the group ``mesh-<domain>-<port>`` of its producer and readers. A port
    with masked readers: its folders (``2751``: others pass through, cannot list) and clear
    files belong to ``mesh-<domain>-<port>-pii`` (producer and cleared readers), each major's
    ``_delta_log`` and ``_masked`` folders (``2750``) to ``mesh-<domain>-<port>``.
    """
    q = shlex.quote
    lines = [
        "#!/bin/sh",
        "# POSIX group modes for the mesh store, from the manifests (mesh access policy --format posix).",
        "# Run as root. Each domain runs as its own OS user; a port's folder admits its group only.",
        "set -eu",
        f"STORE={q(store_root)}",
        'mkdir -p "$STORE" && chmod 0755 "$STORE"',
        f'mkdir -p "$STORE"/{AUDIT_FOLDER} && chmod 0755 "$STORE"/{AUDIT_FOLDER}',
        "# the registry: every domain reads it and writes its own entry; the sticky bit keeps others' entries",
        f"groupadd -f {REGISTRY_GROUP}",
        *(f"usermod -a -G {REGISTRY_GROUP} {q(user)}" for user in dict.fromkeys(users.values())),
        f'mkdir -p "$STORE"/{REGISTRY_FOLDER} && chgrp {REGISTRY_GROUP} "$STORE"/{REGISTRY_FOLDER}',
        f'chmod 3775 "$STORE"/{REGISTRY_FOLDER}',
    ]
    domains = sorted(d for d in users if d != OPERATOR)
    for domain in domains:
        user = q(users[domain])
        lines += [
            "",
            f"# domain {domain}, run as {users[domain]}",
            f'mkdir -p "$STORE"/{domain}/_internal',
            f'chown {user} "$STORE"/{domain} "$STORE"/{domain}/_internal',
            f'chmod 2711 "$STORE"/{domain}',
            f'chmod -R u+rwX,go-rwx "$STORE"/{domain}/_internal',
            f'mkdir -p "$STORE"/{AUDIT_FOLDER}/{domain}',
            f'chown -R {user} "$STORE"/{AUDIT_FOLDER}/{domain}',
            f'chmod -R u+rwX,go+rX,go-w "$STORE"/{AUDIT_FOLDER}/{domain}',
        ]
    for grant in port_grants(graph):
        lines += _posix_port(grant, users)
    return "\n".join(lines) + "\n"


def _posix_port(grant: PortGrant, users: Mapping[str, str]) -> list[str]:
    """The script's lines for one port: its readers' group, and for masked readers the split of its folders."""
    q = shlex.quote
    group = _group_name(grant)
    operator = [users[OPERATOR]] if OPERATOR in users else []
    members = [users[grant.domain], *(users[d] for d in grant.readers), *operator]
    folder = f'"$STORE"/{grant.domain}/{grant.port}'
    readers = ", ".join(grant.readers) or "no other domain"
    lines = [
        "",
        f"# {grant.port_id}: {grant.access}, read by {readers}",
        f"groupadd -f {group}",
        *(f"usermod -a -G {group} {q(member)}" for member in dict.fromkeys(members)),
        f"mkdir -p {folder}",
    ]
    if not grant.masked_readers:
        mode = "2755" if grant.access == "public" else "2750"
        return lines + [
            f"chown -R {q(users[grant.domain])}:{group} {folder}",
            f"chmod -R u+rwX,g+rX,g-w,o-rwx {folder}" if mode == "2750" else f"chmod -R u+rwX,go+rX,go-w {folder}",
            f"find {folder} -type d -exec chmod g+s {{}} +",
            f"chmod {mode} {folder}",
        ]
    clear = _group_name(grant, "-pii")
    cleared = [users[grant.domain], *(users[d] for d in grant.clear_readers), *operator]
    owner = q(users[grant.domain])
    return lines + [
        f"# {', '.join(grant.masked_readers)} read(s) its PII masked: only each major's _delta_log and "
        f"{MASKED_FOLDER}, which {group} owns; the clear files belong to {clear}.",
        "# The producer must write with umask 027; run this again after a new major appears (until then, "
        "masked readers are refused it).",
        f"groupadd -f {clear}",
        *(f"usermod -a -G {clear} {q(member)}" for member in dict.fromkeys(cleared)),
        f"chown -R {owner}:{clear} {folder}",
        f"chmod -R u+rwX,g+rX,g-w,o-rwx {folder}",
        f"for major in {folder}/v*/; do",
        '  [ -d "$major" ] || continue',
        f'  mkdir -p "$major"_delta_log "$major"{MASKED_FOLDER}',
        f'  chown -R {owner}:{group} "$major"_delta_log "$major"{MASKED_FOLDER}',
        f'  chmod 2750 "$major"_delta_log "$major"{MASKED_FOLDER}',
        '  chmod 2751 "$major"',
        "done",
        f"find {folder} -type d -exec chmod g+s {{}} +",
        f"chmod 2751 {folder}",
    ]


def _group_name(grant: PortGrant, suffix: str = "") -> str:
    name = f"mesh-{grant.domain}-{grant.port}{suffix}".replace("_", "-")
    if len(name) > _MAX_GROUP_NAME:
        raise MeshError(
            f"the group name {name} is longer than {_MAX_GROUP_NAME} characters, Linux's limit; "
            "use --format s3, or shorter domain and port names", domain=grant.domain, port=grant.port_id,
        )
    return name


def _sid(*parts: str) -> str:
    """A statement id from names: AWS allows letters and digits only."""
    return "".join(word.capitalize() for part in parts for word in part.split("_"))


def _allow(sid: str, principals: list[str], actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Allow", "Principal": {"AWS": sorted(set(principals))},
            "Action": actions, "Resource": resources}


def _list(sid: str, principals: list[str], bucket_arn: str, prefix: str) -> dict[str, Any]:
    return {**_allow(sid, principals, ["s3:ListBucket"], [bucket_arn]),
            "Condition": {"StringLike": {"s3:prefix": [f"{prefix}*"]}}}


def _deny_others(sid: str, allowed: list[str], actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Sid": sid, "Effect": "Deny", "Principal": "*", "Action": actions, "Resource": resources,
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": sorted(set(allowed))}}}


def render_s3(policy: dict[str, Any]) -> str:
    """The bucket policy as the JSON document ``aws s3api put-bucket-policy --policy`` takes."""
    return json.dumps(policy, indent=2)
