-- Royalties owed per artist per UTC day, in key order: the same data publishes the same bytes (data version).
select
    artist_id,
    day,
    count(*) as plays,
    cast(sum(seconds_played) as bigint) as seconds_played,
    sum(amount_usd) as amount_usd
from {{ ref('int_royalties') }}
group by artist_id, day
order by artist_id, day
