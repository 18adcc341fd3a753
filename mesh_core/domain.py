"""``Domain``: collects a domain's ports and assets and builds its code location's Definitions."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import dagster as dg
import pandas as pd

from mesh_core import loading_gc
from mesh_core.access import Clearance
from mesh_core.contracts import Access, Contract, Strictness
from mesh_core.errors import DefinitionError
from mesh_core.expectations import remember_definitions
from mesh_core.io import IO_MANAGER_KEY, PORT_ID, PORT_MAJOR, PORT_READER, STORE_KEY, MeshStore, PortIOManager
from mesh_core.metadata import code_version, domain_links, function_source
from mesh_core.policies import check_waivers
from mesh_core.port_asset import OutputPortSpec, build_port_asset, input_ports_metadata, port_automation
from mesh_core.ports import IDENTIFIER, InputPort, PreviousMajor
from mesh_core.settings import MeshSettings

_OWNER = re.compile(r"^(team:[A-Za-z0-9_]+|[^@\s]+@[^@\s]+\.[^@\s]+)$")

InputSpec = InputPort | str | dg.AssetsDefinition
DOMAIN_METADATA = "mesh/domain"


class Domain:
    """A business domain: one Dagster code location publishing contracted output ports.

    Args:
        name: Lowercase identifier; the asset key prefix and group of every asset.
        owner: Dagster owner string, ``team:<name>`` or an email address.
        description: What the domain is responsible for.
        automation_interval_seconds: How often the automation sensor evaluates.

    Example:
        >>> users = Domain("users", owner="team:users", description="Mastered customers")
        >>> @users.output_port(contract=ProfileContract, version="1.0.0")  # doctest: +SKIP
        ... def profiles(registrations: pd.DataFrame) -> pd.DataFrame: ...
        >>> defs = users.definitions()  # doctest: +SKIP
    """

    def __init__(
        self,
        name: str,
        *,
        owner: str,
        description: str = "",
        automation_interval_seconds: int = 15,
    ) -> None:
        if not isinstance(name, str) or not IDENTIFIER.match(name):
            raise DefinitionError(
                f"domain name {name!r} must be a lowercase identifier such as 'users'", domain=str(name)
            )
        if not isinstance(owner, str) or not _OWNER.match(owner):
            raise DefinitionError(
                f"owner {owner!r} must be 'team:<letters, digits or _>' or an email address", domain=name
            )
        self.name = name
        self.owner = owner
        # The declaring module's folder; inspect.stack() would read the source of every frame.
        self.source_dir = Path(inspect.currentframe().f_back.f_code.co_filename).parent
        self.description = description
        self.automation_interval_seconds = automation_interval_seconds
        self._assets: dict[str, dg.AssetsDefinition] = {}
        self._ports: dict[str, OutputPortSpec] = {}
        self._foreign_keys: set[dg.AssetKey] = set()
        loading_gc.freeze_once("imports")  # Dagster, pandas and the location's libraries live as long as it does

    @property
    def ports(self) -> list[OutputPortSpec]:
        """The declared output ports, in declaration order."""
        return list(self._ports.values())

    @property
    def assets(self) -> list[dg.AssetsDefinition]:
        """Every asset definition of the domain: ports and internal assets."""
        return _distinct(self._assets.values())

    def output_port(
        self,
        *,
        contract: Any,
        version: str,
        description: str | None = None,
        access: Access = "public",
        consumers: Sequence[str] | Mapping[str, Clearance] = (),
        freshness: timedelta | None = None,
        inputs: Mapping[str, InputSpec] | None = None,
        name: str | None = None,
        previous: Sequence[PreviousMajor] = (),
        tags: Mapping[str, str] | None = None,
        glossary: Mapping[str, str] | None = None,
        strict: Strictness | None = None,
        min_rows: int = 1,
        waivers: Mapping[str, str] | None = None,
    ) -> Callable[[Callable[..., pd.DataFrame]], dg.AssetsDefinition]:
        """Declare a published data product from a function returning a DataFrame.

        The port id is ``<domain>.<function name>``. The returned frame is validated
        against ``contract`` before it is published (write–audit–publish).

        Args:
            contract: A pandera ``DataFrameModel`` class or ``DataFrameSchema``.
            version: Semantic version of the contract.
            description: What the product is; defaults to the function's docstring.
            access: ``public``, ``restricted`` or ``private``.
            consumers: Domains allowed to read a ``restricted`` port: a list, or a mapping to each
            one's ``Clearance`` (``{"podcasts": Clearance(pii=True)}``); a listed domain reads PII masked.
            freshness: Optional SLA.
            inputs: Parameter name to ``InputPort``, or to a local asset (name or definition).
            name: Port name, if not the function's name.
            previous: Older majors still served to pinned consumers, each until its deprecation date.
            tags: Dagster tags for discovery (``{"tier": "gold"}``).
            glossary: Business terms this product uses, with their definitions.
            strict: Columns the contract does not declare: refused (``True``), dropped
                (``"filter"``) or published (``False``). Unset, the schema's own deliberate
                setting, else refused (see ``Contract``).
            min_rows: The fewest rows a publish may have (default 1: an empty frame is
                refused and consumers keep the last snapshot; 0 allows empty publishes).
            waivers: Global policies this port is exempt from, each with a written
                justification: ``{"sla-required": "why"}`` (see ``mesh_core.policies``).
        """

        def decorate(fn: Callable[..., pd.DataFrame]) -> dg.AssetsDefinition:
            port_name = self._claim_name(name or fn.__name__, fn)
            spec = self.port_spec(
                port_name,
                contract=contract,
                version=version,
                description=description or inspect.getdoc(fn) or "",
                access=access,
                consumers=consumers,
                freshness=freshness,
                inputs=inputs,
                previous=previous,
                tags=tags,
                glossary=glossary,
                strict=strict,
                min_rows=min_rows,
                waivers=waivers,
                file=_source_file(fn),
            )
            ins = self._asset_ins(spec.inputs, fn, spec.port_id)
            asset = build_port_asset(
                spec,
                fn,
                key=dg.AssetKey([self.name, port_name]),
                group=self.name,
                owner=self.owner,
                ins=ins,
                automation=port_automation(bool(ins)),
            )
            self._assets[port_name] = asset
            self._ports[port_name] = spec
            return asset

        return decorate

    def port_spec(
        self,
        name: str,
        *,
        contract: Any,
        version: str,
        description: str = "",
        access: Access = "public",
        consumers: Sequence[str] | Mapping[str, Clearance] = (),
        freshness: timedelta | None = None,
        inputs: Mapping[str, Any] | None = None,
        previous: Sequence[PreviousMajor] = (),
        tags: Mapping[str, str] | None = None,
        glossary: Mapping[str, str] | None = None,
        strict: Strictness | None = None,
        min_rows: int = 1,
        waivers: Mapping[str, str] | None = None,
        file: str | None = None,
    ) -> OutputPortSpec:
        """The spec of output port ``<domain>.<name>``, its contract and previous majors checked.

        ``output_port`` declares its ports through this, and so does ``mesh_core.dbt``;
        the options are ``output_port``'s. ``file`` is where the port is declared.

        Raises:
            DefinitionError: naming the domain, port and ``file``, for a bad contract,
                version or previous major.
        """
        port_id = f"{self.name}.{name}"
        where = {"domain": self.name, "port": port_id, "file": file}
        for argument, value in (("inputs", inputs), ("tags", tags), ("glossary", glossary)):
            check_mapping(argument, value, where)
        try:
            port_contract = self._contract(contract, version, access, consumers, freshness, port_id, strict)
            older = tuple(
                (self._contract(p.contract, p.version, access, consumers, None, port_id, p.strict), p)
                for p in previous
            )
        except DefinitionError as error:
            raise DefinitionError(error.message, **where) from None
        _check_previous_majors(port_contract, older, where)
        waived = check_waivers(waivers, **where)
        return OutputPortSpec(
            port_id=port_id,
            contract=port_contract,
            description=description,
            inputs=dict(inputs or {}),
            file=file,
            previous=older,
            glossary=dict(glossary or {}),
            tags=dict(tags or {}),
            min_rows=min_rows,
            waivers=waived,
        )

    def asset(
        self,
        fn: Callable[..., pd.DataFrame] | None = None,
        *,
        inputs: Mapping[str, InputSpec] | None = None,
        description: str | None = None,
        name: str | None = None,
    ) -> Any:
        """Declare an internal (unpublished) asset with the domain's key prefix, group and owner.

        Its DataFrame is stored by the port store's IO manager. Other domains cannot
        consume it; publish an output port for that.
        """

        def decorate(function: Callable[..., pd.DataFrame]) -> dg.AssetsDefinition:
            asset_name = self._claim_name(name or function.__name__, function)
            where = {"domain": self.name, "port": f"{self.name}.{asset_name}", "file": _source_file(function)}
            check_mapping("inputs", inputs, where)
            ins = self._asset_ins(inputs or {}, function, f"{self.name}.{asset_name}")
            asset = dg.asset(
                key=[self.name, asset_name],
                ins=ins,
                description=description or inspect.getdoc(function),
                group_name=self.name,
                owners=[self.owner],
                tags={"mesh/kind": "internal"},
                metadata={"mesh/input_ports": input_ports_metadata(inputs or {})},
                kinds={"pandas", "parquet"},
                io_manager_key=IO_MANAGER_KEY,
                automation_condition=port_automation(bool(ins)),
                code_version=code_version(function_source(function)),
            )(function)
            self._assets[asset_name] = asset
            return asset

        return decorate(fn) if fn is not None else decorate

    def add_assets(
        self,
        assets: dg.AssetsDefinition,
        *,
        names: Sequence[str],
        ports: Sequence[OutputPortSpec] = (),
        foreign_keys: Sequence[dg.AssetKey] = (),
    ) -> None:
        """Register assets built outside the decorators (as ``mesh_core.dbt`` does) with this domain.

        ``names`` are the local asset names ``assets`` materializes; ``ports`` those that
        are output ports; ``foreign_keys`` the other domains' ports it reads.
        """
        for name in names:
            self._claim_name(name, self.add_assets)
            self._assets[name] = assets
        for port in ports:
            self._ports[port.port_id.split(".")[1]] = port
        self._foreign_keys.update(foreign_keys)

    def automation_sensor(self) -> dg.AutomationConditionSensorDefinition:
        """The domain's automation sensor, running by default."""
        return dg.AutomationConditionSensorDefinition(
            f"{self.name}_automation",
            target=dg.AssetSelection.groups(self.name),
            default_status=dg.DefaultSensorStatus.RUNNING,
            minimum_interval_seconds=self.automation_interval_seconds,
            description=f"Re-materializes {self.name} ports when their inputs publish and pass their checks.",
        )

    def definitions(self, **extra: Any) -> dg.Definitions:
        """Everything the code location needs: assets, contract checks, automation and store resources.

        Keyword arguments are passed to ``dagster.Definitions``; ``assets``, ``sensors``
        and ``resources`` are merged with the domain's own.
        """
        settings = MeshSettings.from_env()
        store = MeshStore(pii_key=dg.EnvVar("MESH_PII_KEY")) if settings.pii_key else MeshStore()
        resources = {STORE_KEY: store, **extra.pop("resources", {})}
        resources.setdefault(IO_MANAGER_KEY, PortIOManager(mesh_store=resources[STORE_KEY], domain=self.name))
        links = domain_links(settings, self.name, self.owner, self.source_dir)
        domain = {"name": self.name, "owner": self.owner, "description": self.description, "links": links}
        defs = dg.Definitions(
            assets=[*_distinct(self._assets.values()), *self._foreign_port_specs(), *extra.pop("assets", [])],
            sensors=[self.automation_sensor(), *extra.pop("sensors", [])],
            resources=resources,
            metadata={DOMAIN_METADATA: dg.MetadataValue.json(domain), **extra.pop("metadata", {})},
            **extra,
        )
        remember_definitions(self.name, defs)  # each publish registers the domain's manifest from them
        loading_gc.freeze_once("definitions")  # the ports' assets, kept by the code server while it serves them
        return defs

    def _foreign_port_specs(self) -> list[dg.AssetSpec]:
        """External specs for other domains' ports read here; their own location materializes them."""
        return [dg.AssetSpec(key) for key in sorted(self._foreign_keys, key=lambda key: key.path)]

    def _contract(
        self, schema: Any, version: str, access: Access, consumers: Any, freshness: Any, port_id: str, strict: Any
    ) -> Contract:
        return Contract(
            schema=schema,
            version=version,
            access=access,
            consumers=consumers if isinstance(consumers, (str, Mapping)) else tuple(consumers),
            freshness=freshness,
            domain=self.name,
            port=port_id,
            strict=strict,
        )

    def _claim_name(self, name: str, fn: Callable[..., Any]) -> str:
        where = {"domain": self.name, "port": f"{self.name}.{name}", "file": _source_file(fn)}
        if not IDENTIFIER.match(name):
            raise DefinitionError(f"name {name!r} must be a lowercase identifier", **where)
        if name in self._assets:
            raise DefinitionError(f"'{name}' is declared twice in domain {self.name}", **where)
        return name

    def _asset_ins(self, inputs: Mapping[str, InputSpec], fn: Callable[..., Any], port_id: str) -> dict[str, dg.AssetIn]:
        where = {"domain": self.name, "port": port_id, "file": _source_file(fn)}
        parameters = [p for p in inspect.signature(fn).parameters if p != "context"]
        if sorted(parameters) != sorted(inputs):
            raise DefinitionError(
                f"function parameters {parameters} must match the declared inputs {list(inputs)}", **where
            )
        return {param: self._asset_in(spec, where) for param, spec in inputs.items()}

    def _asset_in(self, spec: InputSpec, where: dict[str, Any]) -> dg.AssetIn:
        if isinstance(spec, InputPort):
            spec.check(**where)
            if spec.domain == self.name:
                raise DefinitionError(
                    f"input port {spec.port_id} belongs to this domain; name the local asset instead",
                    **where,
                )
            metadata = {PORT_ID: spec.port_id, PORT_MAJOR: spec.major, PORT_READER: self.name}
            self._foreign_keys.add(spec.asset_key)
            return dg.AssetIn(key=spec.asset_key, metadata=metadata, input_manager_key=IO_MANAGER_KEY)
        local = spec.key.path[-1] if isinstance(spec, dg.AssetsDefinition) else spec
        if not isinstance(local, str) or local not in self._assets:
            raise DefinitionError(
                f"input {spec!r} is neither an InputPort nor an asset declared earlier in domain {self.name}",
                **where,
            )
        key = dg.AssetKey([self.name, local])
        port = self._ports.get(local)
        metadata = {PORT_ID: port.port_id, PORT_MAJOR: port.contract.major, PORT_READER: self.name} if port else {}
        return dg.AssetIn(key=key, metadata=metadata, input_manager_key=IO_MANAGER_KEY)


def _distinct(assets: Any) -> list[dg.AssetsDefinition]:
    """Each definition once (a multi-asset is registered under each of its names)."""
    return list({id(asset): asset for asset in assets}.values())


def check_mapping(argument: str, value: Any, where: dict[str, Any]) -> None:
    """A mapping given as something else (``inputs=[InputPort(...)]``) is a DefinitionError, not a TypeError."""
    if value is not None and not isinstance(value, Mapping):
        raise DefinitionError(
            f"{argument} must be a mapping (a dict), got {type(value).__name__}: {value!r}",
            **where,
        )


def _check_previous_majors(current: Contract, older: tuple, where: dict[str, Any]) -> None:
    majors = [contract.major for contract, _ in older]
    if any(major >= current.major for major in majors) or len(set(majors)) != len(majors):
        raise DefinitionError(
            f"previous majors {majors} must be distinct and below the current major {current.major}", **where
        )
    for contract, previous in older:
        if not callable(previous.adapt):
            raise DefinitionError(f"previous major v{contract.major} needs a callable adapt", **where)


def _source_file(fn: Callable[..., Any]) -> str | None:
    try:
        return inspect.getsourcefile(fn)
    except TypeError:
        return None
