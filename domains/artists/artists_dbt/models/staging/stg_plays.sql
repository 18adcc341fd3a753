-- Plays with only what royalties need.
select
    play_id,
    user_id,
    artist_id,
    played_at,
    seconds_played
from {{ source('mesh', 'podcasts__plays') }}
