"""`mesh access policy`: the S3 bucket policy and POSIX group modes that the manifests imply.

The S3 document is checked three ways: cfn-lint validates it as a resource-based IAM policy
(AWS's own schema for ``AWS::S3::BucketPolicy``), its statements are evaluated here for every
domain and port (explicit Deny wins, then any Allow), and moto's loopback S3 server accepts and
returns it. moto enforces no IAM, so nothing here shows that AWS denies a read.
"""

from __future__ import annotations

import fnmatch
import json
import re
import subprocess
from pathlib import Path

import boto3
import pandera.pandas as pa
import pytest
from cfnlint.api import ManualArgs, lint
from test_store_s3 import s3_endpoint  # noqa: F401 - the loopback moto server fixture

from mesh_core import MeshError
from mesh_core.access import may_consume
from mesh_core.mesh.graph import MeshGraph
from mesh_core.mesh.storage_grants import posix_script, resolve_principals, s3_bucket_policy
from mesh_core.schema_doc import schema_document

ACCOUNT = "arn:aws:iam::123456789012:role"
DOMAINS = ("artists", "podcasts", "users")
OPERATOR = f"{ACCOUNT}/mesh-operator"
STRANGER = f"{ACCOUNT}/intern"
PORTS = {  # the example's access: restricted profiles, public plays, private payouts
    "users.profiles": ("restricted", ["podcasts", "artists"]),  # email is PII; podcasts is cleared, artists not
    "podcasts.plays": ("public", []),
    "podcasts.episodes": ("restricted", ["artists"]),  # not the example: a restricted port users may not read
    "artists.payouts": ("private", []),
    "artists.roster": ("public", []),
}


PII = {"users.profiles": ["podcasts"], "artists.roster": []}  # ports with a PII column, and who is cleared
MASKED = {"users.profiles": {"artists"}, "artists.roster": {"podcasts", "users"}}  # who reads them masked


def example_graph() -> MeshGraph:
    contract = schema_document(pa.DataFrameSchema({"id": pa.Column(int, unique=True)}))
    with_pii = schema_document(pa.DataFrameSchema({"id": pa.Column(int, unique=True),
                                                   "email": pa.Column(str, metadata={"pii": True})}))
    manifests = []
    for domain in DOMAINS:
        ports = [
            {"id": port_id, "domain": domain, "asset_key": port_id.split("."), "version": "1.0.0", "access": access,
             "consumers": consumers, "pii_cleared": PII.get(port_id, []),
             "contract": with_pii if port_id in PII else contract, "inputs": []}
            for port_id, (access, consumers) in PORTS.items() if port_id.startswith(f"{domain}.")
        ]
        manifests.append({"location": domain, "ports": ports, "internal_assets": [], "asset_keys": []})
    return MeshGraph.from_manifests(manifests)


@pytest.fixture(scope="module")
def bucket_policy() -> dict:
    principals = resolve_principals(list(DOMAINS), {"mesh": OPERATOR}, f"{ACCOUNT}/mesh-{{domain}}")
    return s3_bucket_policy(example_graph(), "s3://acme-mesh/warehouse", "prod", principals,
                            {"try-filter": f"{ACCOUNT}/dev-alice"})


def allowed(policy: dict, principal: str, action: str, resource: str, prefix: str | None = None) -> bool:
    """IAM's evaluation of one bucket policy: an explicit Deny wins, else any matching Allow grants."""

    def applies(statement: dict) -> bool:
        named = statement["Principal"]
        if named != "*" and principal not in named["AWS"]:
            return False
        if action not in statement["Action"] or not any(fnmatch.fnmatchcase(resource, r) for r in statement["Resource"]):
            return False
        for operator, conditions in statement.get("Condition", {}).items():
            for key, values in conditions.items():
                value = {"aws:PrincipalArn": principal, "s3:prefix": prefix or ""}[key]
                if operator == "StringLike" and not any(fnmatch.fnmatchcase(value, v) for v in values):
                    return False
                if operator == "StringNotEquals" and value in values:
                    return False
        return True

    matching = [statement for statement in policy["Statement"] if applies(statement)]
    return any(s["Effect"] == "Allow" for s in matching) and not any(s["Effect"] == "Deny" for s in matching)


def test_the_bucket_policy_is_a_valid_resource_policy(bucket_policy: dict):
    template = {"AWSTemplateFormatVersion": "2010-09-09", "Resources": {"Policy": {
        "Type": "AWS::S3::BucketPolicy", "Properties": {"Bucket": "acme-mesh", "PolicyDocument": bucket_policy},
    }}}
    assert [str(match) for match in lint(json.dumps(template), config=ManualArgs(regions=["us-east-1"]))] == []
    sids = [statement["Sid"] for statement in bucket_policy["Statement"]]
    assert len(sids) == len(set(sids)) and all(re.fullmatch(r"[A-Za-z0-9]+", sid) for sid in sids)
    assert json.loads(json.dumps(bucket_policy)) == bucket_policy


@pytest.mark.parametrize("port_id", sorted(PORTS))
def test_each_port_is_read_exactly_by_the_domains_its_access_allows(bucket_policy: dict, port_id: str):
    access, consumers = PORTS[port_id]
    producer, name = port_id.split(".")
    table = f"arn:aws:s3:::acme-mesh/warehouse/prod/{producer}/{name}/v1"
    data, log = f"{table}/part-0.parquet", f"{table}/_delta_log/00000000000000000000.json"
    masked = f"{table}/_masked/masked-0.parquet"
    listing = f"warehouse/prod/{producer}/{name}/v1/_delta_log/"
    for reader in DOMAINS:
        principal = f"{ACCOUNT}/mesh-{reader}"
        expected = may_consume(reader, producer=producer, access=access, consumers=consumers)
        reads_masked = reader in MASKED.get(port_id, set())
        assert allowed(bucket_policy, principal, "s3:GetObject", data) is (expected and not reads_masked), (reader, port_id)
        assert allowed(bucket_policy, principal, "s3:GetObject", log) is expected, (reader, port_id)
        assert allowed(bucket_policy, principal, "s3:GetObject", masked) is expected, (reader, port_id)
        assert allowed(bucket_policy, principal, "s3:ListBucket", "arn:aws:s3:::acme-mesh", listing) is expected
        assert allowed(bucket_policy, principal, "s3:PutObject", data) is (reader == producer)
    assert allowed(bucket_policy, OPERATOR, "s3:GetObject", data)
    assert not allowed(bucket_policy, OPERATOR, "s3:PutObject", data)
    assert not allowed(bucket_policy, STRANGER, "s3:GetObject", data)


def test_a_restricted_port_denies_everyone_else_even_when_iam_allows_them(bucket_policy: dict):
    """A Deny in the bucket policy beats an Allow from an identity policy: model that Allow as a statement."""
    everything = {"Sid": "IdentityPolicyOfAnAdmin", "Effect": "Allow", "Principal": {"AWS": [STRANGER]},
                  "Action": ["s3:GetObject"], "Resource": ["arn:aws:s3:::acme-mesh/*"]}
    widened = {**bucket_policy, "Statement": [*bucket_policy["Statement"], everything]}
    profiles = "arn:aws:s3:::acme-mesh/warehouse/prod/users/profiles/v1/part-0.parquet"
    plays = "arn:aws:s3:::acme-mesh/warehouse/prod/podcasts/plays/v1/part-0.parquet"
    assert not allowed(widened, STRANGER, "s3:GetObject", profiles)
    assert allowed(widened, STRANGER, "s3:GetObject", plays), "a public port is the mesh's to read, not denied"


def test_each_domain_appends_only_to_its_own_audit_segments(bucket_policy: dict):
    for domain in DOMAINS:
        principal = f"{ACCOUNT}/mesh-{domain}"
        for other in DOMAINS:
            record = f"arn:aws:s3:::acme-mesh/warehouse/prod/_audit/{other}/2026-12-01/x.json"
            assert allowed(bucket_policy, principal, "s3:PutObject", record) is (other == domain)
            assert not allowed(bucket_policy, principal, "s3:DeleteObject", record)
    # An identity policy that lets anyone write anywhere still cannot forge a domain's audit records.
    everything = {"Sid": "IdentityPolicyOfAnAdmin", "Effect": "Allow", "Principal": {"AWS": [STRANGER, OPERATOR]},
                  "Action": ["s3:PutObject"], "Resource": ["arn:aws:s3:::acme-mesh/*"]}
    widened = {**bucket_policy, "Statement": [*bucket_policy["Statement"], everything]}
    for principal in (STRANGER, OPERATOR, f"{ACCOUNT}/mesh-podcasts"):
        record = "arn:aws:s3:::acme-mesh/warehouse/prod/_audit/users/2026-12-01/x.json"
        assert not allowed(widened, principal, "s3:PutObject", record), principal


def test_principals_must_cover_every_domain():
    with pytest.raises(MeshError, match="no principal for artists, users"):
        resolve_principals(list(DOMAINS), {"podcasts": f"{ACCOUNT}/p"}, None)
    with pytest.raises(MeshError, match=r"--principal names \['billing'\], which are not domains"):
        resolve_principals(list(DOMAINS), {"billing": f"{ACCOUNT}/b"}, f"{ACCOUNT}/mesh-{{domain}}")
    with pytest.raises(MeshError, match="is not on S3"):
        s3_bucket_policy(example_graph(), "/srv/mesh", "prod", {d: f"{ACCOUNT}/{d}" for d in DOMAINS})


def test_moto_stores_the_bucket_policy(bucket_policy: dict, s3_endpoint: str, monkeypatch: pytest.MonkeyPatch):  # noqa: F811
    """moto's server accepts and returns the document; it enforces no IAM, so this is all it can show."""
    for name, value in {"AWS_ACCESS_KEY_ID": "mesh-test", "AWS_SECRET_ACCESS_KEY": "x", "AWS_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    client.create_bucket(Bucket="acme-mesh")
    client.put_bucket_policy(Bucket="acme-mesh", Policy=json.dumps(bucket_policy))
    assert json.loads(client.get_bucket_policy(Bucket="acme-mesh")["Policy"]) == bucket_policy


def test_the_posix_script_gives_each_port_its_readers_group(tmp_path: Path):
    users = {domain: f"svc_{domain}" for domain in DOMAINS}
    script = posix_script(example_graph(), "/srv/mesh/prod", users)
    (tmp_path / "modes.sh").write_text(script)
    assert subprocess.run(["sh", "-n", str(tmp_path / "modes.sh")], capture_output=True).returncode == 0
    blocks = {block.splitlines()[0]: block for block in script.split("\n\n")[1:]}
    profiles = blocks["# users.profiles: restricted, read by artists, podcasts"]
    assert "groupadd -f mesh-users-profiles" in profiles
    members = re.findall(r"usermod -a -G mesh-users-profiles (\S+)", profiles)
    assert sorted(members) == ["svc_artists", "svc_podcasts", "svc_users"]
    # artists reads email masked: the clear files belong to the -pii group it is not in.
    assert sorted(re.findall(r"usermod -a -G mesh-users-profiles-pii (\S+)", profiles)) == ["svc_podcasts", "svc_users"]
    assert "chown -R svc_users:mesh-users-profiles-pii \"$STORE\"/users/profiles" in profiles
    assert 'chown -R svc_users:mesh-users-profiles "$major"_delta_log "$major"_masked' in profiles
    assert profiles.rstrip().endswith('chmod 2751 "$STORE"/users/profiles')
    payouts = blocks["# artists.payouts: private, read by no other domain"]
    assert re.findall(r"usermod -a -G mesh-artists-payouts (\S+)", payouts) == ["svc_artists"]
    assert payouts.rstrip().endswith('chmod 2750 "$STORE"/artists/payouts')
    plays = blocks["# podcasts.plays: public, read by artists, users"]
    assert plays.rstrip().endswith('chmod 2755 "$STORE"/podcasts/plays') and "-pii" not in plays
    registry = script.split("\n\n")[0]
    assert sorted(re.findall(r"usermod -a -G mesh-registry (\S+)", registry)) == ["svc_artists", "svc_podcasts", "svc_users"]
    assert 'chmod 3775 "$STORE"/_registry' in registry, "every domain adds its entry; the sticky bit keeps the others'"
    users_domain = blocks["# domain users, run as svc_users"]
    assert 'chmod 2711 "$STORE"/users' in users_domain
    assert 'chmod -R u+rwX,go-rwx "$STORE"/users/_internal' in users_domain


@pytest.mark.slow  # loads the example's three locations: about 25 s
def test_mesh_access_policy_on_the_example(tmp_path: Path):
    from meshkit import copy_mesh, mesh

    root = copy_mesh(tmp_path / "mesh").parent
    written = mesh("access", "policy", "--format", "s3", "--store", "s3://acme-mesh/warehouse",
                   "--principal-template", f"{ACCOUNT}/mesh-{{domain}}", "--out", str(tmp_path / "policy.json"), cwd=root)
    assert written.code == 0, written.stderr
    policy = json.loads((tmp_path / "policy.json").read_text())
    profiles = "arn:aws:s3:::acme-mesh/warehouse/dev/users/profiles/v1/part-0.parquet"
    masked = "arn:aws:s3:::acme-mesh/warehouse/dev/users/profiles/v1/_masked/masked-0.parquet"
    assert allowed(policy, f"{ACCOUNT}/mesh-podcasts", "s3:GetObject", profiles)  # cleared for email
    assert not allowed(policy, f"{ACCOUNT}/mesh-artists", "s3:GetObject", profiles)  # not cleared: masked only
    assert allowed(policy, f"{ACCOUNT}/mesh-artists", "s3:GetObject", masked)
    payouts = "arn:aws:s3:::acme-mesh/warehouse/dev/artists/payouts/v1/part-0.parquet"
    assert not allowed(policy, f"{ACCOUNT}/mesh-podcasts", "s3:GetObject", payouts)

    script = mesh("access", "policy", "--format", "posix", "--principal-template", "mesh-{domain}", cwd=root)
    assert script.code == 0, script.stderr
    assert f"\nSTORE={tmp_path / 'mesh' / 'dev'}\n" in script.stdout
    assert "usermod -a -G mesh-users-profiles mesh-artists" in script.stdout

    missing = mesh("access", "policy", "--format", "s3", "--store", "s3://b/p", "--principal", "users=arn:x", cwd=root)
    assert missing.code == 2 and "error: no principal for artists, podcasts" in missing.stderr
    local = mesh("access", "policy", "--format", "s3", "--principal-template", "arn:{domain}", cwd=root)
    assert local.code == 2 and "is not on S3; set MESH_HOME=s3://bucket/prefix or pass --store" in local.stderr


def test_a_real_publish_touches_only_what_the_bucket_policy_grants_its_domain(instance, mesh_home: Path):
    """Publish a port on a local store with a registered consumer, and evaluate every key it left, as on S3."""
    from conftest import materialize
    from test_consumer_expectations import GOOD, producer, register_consumer

    from mesh_core.registry import Registry

    register_consumer(mesh_home)
    assert materialize(producer([GOOD]), instance).success
    registry = Registry.of_store(mesh_home, "dev")
    graph = MeshGraph.from_manifests([entry.manifest for entry in registry.entries().values()])
    principals = resolve_principals(["royalties", "tracks"], {}, f"{ACCOUNT}/mesh-{{domain}}")
    kitchen = f"{ACCOUNT}/dev-alice"
    policy = s3_bucket_policy(graph, "s3://acme-mesh/warehouse", "dev", principals, {"try-filter": kitchen})
    bucket = "arn:aws:s3:::acme-mesh"

    environment = mesh_home / "dev"
    written = sorted(  # the registry's entry locks exist on a local store only
        path.relative_to(environment).as_posix() for path in environment.rglob("*")
        if path.is_file() and not (path.parent.name == "_registry" and path.name.endswith(".lock"))
    )
    assert "_registry/tracks.json" in written and any(key.startswith("tracks/catalog/v1/") for key in written)
    for key in written:
        owner = "tracks" if key.startswith(("tracks/", "_registry/tracks.", "_audit/tracks/")) else "royalties"
        for domain, principal in principals.items():
            may_write = allowed(policy, principal, "s3:PutObject", f"{bucket}/warehouse/dev/{key}")
            assert may_write is (domain == owner), (domain, key)
        assert not allowed(policy, kitchen, "s3:PutObject", f"{bucket}/warehouse/dev/{key}"), key
    # what every publish and every `mesh` command reads: the registry, and the top level where _kitchen.json is
    for principal in [*principals.values(), kitchen]:
        assert allowed(policy, principal, "s3:ListBucket", bucket, "warehouse/dev/_registry/")
        assert allowed(policy, principal, "s3:ListBucket", bucket, "warehouse/dev/")
        assert allowed(policy, principal, "s3:GetObject", f"{bucket}/warehouse/dev/_kitchen.json")
        for key in written:
            if key.startswith("_registry/"):
                assert allowed(policy, principal, "s3:GetObject", f"{bucket}/warehouse/dev/{key}"), key
    # the kitchen: all of its own environment; of its parent, public ports only, read-only
    for key in written:
        assert allowed(policy, kitchen, "s3:PutObject", f"{bucket}/warehouse/try-filter/{key}")
        assert not allowed(policy, principals["tracks"], "s3:PutObject", f"{bucket}/warehouse/try-filter/{key}")
    catalog = next(key for key in written if key.startswith("tracks/catalog/v1/"))
    assert allowed(policy, kitchen, "s3:GetObject", f"{bucket}/warehouse/dev/{catalog}")
    assert allowed(policy, kitchen, "s3:ListBucket", bucket, "warehouse/")
    assert not allowed(policy, principals["royalties"], "s3:DeleteObject", f"{bucket}/warehouse/dev/_registry/tracks.json")


def test_mesh_access_policy_keeps_the_domains_registered_from_other_repositories(mesh_home: Path, tmp_path: Path):
    """put-bucket-policy replaces the whole policy: one written from this repository alone would drop podcasts."""
    from meshkit import mesh
    from test_registry import grpc_workspace, local_registry, manifest

    local_registry(mesh_home).register(manifest(), location="users")
    local_registry(mesh_home).register(manifest("podcasts", "team:podcasts", pins=True), location="podcasts")
    workspace = grpc_workspace(tmp_path / "repo")  # this repository runs users alone

    done = mesh("access", "policy", "--format", "s3", "--store", "s3://acme-mesh/warehouse", "-w", str(workspace),
                "--principal-template", f"{ACCOUNT}/mesh-{{domain}}", cwd=tmp_path)

    assert done.code == 0, done.stderr
    policy = json.loads(done.stdout)
    listeners = "arn:aws:s3:::acme-mesh/warehouse/dev/podcasts/listeners/v1/part-0.parquet"
    assert allowed(policy, f"{ACCOUNT}/mesh-podcasts", "s3:PutObject", listeners)
    entry = "arn:aws:s3:::acme-mesh/warehouse/dev/_registry/podcasts.json"
    assert allowed(policy, f"{ACCOUNT}/mesh-podcasts", "s3:PutObject", entry)
    assert not allowed(policy, f"{ACCOUNT}/mesh-users", "s3:PutObject", entry)
