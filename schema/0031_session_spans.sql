-- A session lasts from started_at to ended_at: --since and --until match every session that was
-- open in the period, not only those begun in it, so that a login made before the period an
-- administrator reviews still shows as open in it. Sessions begun in the period are found by
-- started_at; those begun less than an hour before it by started_at too, checked on ended_at; those
-- still open (no ended_at) by sessions_open (0005). This index holds the rest: sessions that lasted
-- an hour or more, by their end, so that a period months back reads only the long sessions that
-- went on into it. A start the recorder never writes (not a time) puts a session here too, so that
-- no session falls between the three.
CREATE INDEX sessions_long ON sessions (ended_at, started_at)
    WHERE ended_at >= coalesce(strftime('%Y-%m-%dT%H:%M:%fZ', started_at, '+1 hour'), '');
