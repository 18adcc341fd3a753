-- Every artist onboarded to the platform, in key order (a stable data version).
select
    artist_id,
    name,
    onboarded_at
from {{ source('mesh', 'onboarding') }}
order by artist_id
