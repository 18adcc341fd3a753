-- What each play earns its artist: seconds listened priced by the listener's plan.
with rates as (
    select plan, cast(usd_per_second as double) as usd_per_second
    from (values ('free', 0.00002), ('premium', 0.0001)) as r(plan, usd_per_second)
)

select
    plays.play_id,
    plays.artist_id,
    date_trunc('day', plays.played_at) as day,
    plays.seconds_played,
    plays.seconds_played * rates.usd_per_second as amount_usd
from {{ ref('stg_plays') }} as plays
join {{ source('mesh', 'users__profiles') }} as profiles using (user_id)
join rates using (plan)
