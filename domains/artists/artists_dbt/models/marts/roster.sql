-- Every artist onboarded to the platform.
select
    artist_id,
    name,
    onboarded_at
from {{ source('mesh', 'onboarding') }}
