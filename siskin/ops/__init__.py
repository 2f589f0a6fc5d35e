"""Operations on the lake: the batch record, replays, leases, maintenance."""
