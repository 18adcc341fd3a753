-- Royalties owed per artist per UTC day.
select
    artist_id,
    day,
    count(*) as plays,
    cast(sum(seconds_played) as bigint) as seconds_played,
    sum(amount_usd) as amount_usd
from {{ ref('int_royalties') }}
group by artist_id, day
