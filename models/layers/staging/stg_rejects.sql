-- Inputs silver could not turn into alerts, with their stable reason code.
select night, reason_code, candid, objectId as object_id, processed_at
from {{ source('silver', 'rejects') }}
