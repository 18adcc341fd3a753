"""Output ports of the artists domain: dbt models published through mesh_core."""

from artists_domain.assets import onboarding
from artists_domain.contracts import Payouts, PlaysReliedOn, Roster
from artists_domain.domain import artists
from artists_domain.project import artists_dbt
from mesh_core import InputPort
from mesh_core.dbt import DbtPort, dbt_ports, prepare

prepare(artists_dbt)

dbt_models = dbt_ports(
    artists,
    artists_dbt,
    ports={
        "roster": DbtPort(
            Roster, version="1.0.0", description="Every artist onboarded to the platform.",
            waivers={"sla-required": "A root without inputs, materialized by hand when artists are onboarded; "
                                     "no schedule keeps it fresh, so no freshness can be promised."},
        ),
        "payouts": DbtPort(
            Payouts, version="1.0.0", access="private",
            waivers={"sla-required": "Private: no other domain reads it, so there is no consumer to promise "
                                     "freshness to."},
        ),
    },
    sources={
        "podcasts__plays": InputPort("podcasts.plays", version="1", expectations=PlaysReliedOn),
        "users__profiles": InputPort("users.profiles", version="1"),
        "onboarding": onboarding,
    },
)
