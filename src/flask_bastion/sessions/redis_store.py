"""The Redis session store: one key per session with a TTL, plus a set per user.

Redis expires each session key itself (``EXPIREAT`` at the record's ``expires_at``), so
nothing needs purging; a user's index set is pruned of vanished keys when it is read. One
round trip per operation: reads are a single ``GET``, writes a single pipeline.
"""

from __future__ import annotations

import json
import math
import typing as t

from .store import SessionRecord, StoreError

if t.TYPE_CHECKING:
    import redis

_FIELDS = ("user_id", "created_at", "last_seen", "expires_at", "ip", "user_agent")


class RedisStore:
    """Sessions in Redis.

    :param client: a ``redis.Redis`` client, or a ``redis://`` URL to create one from
        (with short socket timeouts, so an outage becomes a prompt 503, not a hang).
    :param prefix: prefix of every key this store writes.
    """

    def __init__(self, client: redis.Redis | str, prefix: str = "bastion:session:") -> None:
        import redis

        if isinstance(client, str):
            client = redis.Redis.from_url(client, socket_timeout=2, socket_connect_timeout=2)
        self.client = client
        self.prefix = prefix
        self._errors = (redis.RedisError, OSError)

    def close(self) -> None:
        """Close the client's connections."""
        self.client.close()

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _user_key(self, user_id: str) -> str:
        return f"{self.prefix}user:{user_id}"

    def _call(self, fn: t.Callable[[], t.Any]) -> t.Any:
        try:
            return fn()
        except self._errors as exc:
            raise StoreError(f"session store: {type(exc).__name__}") from None

    @staticmethod
    def _decode(key: str, blob: bytes | str | None) -> SessionRecord | None:
        if blob is None:
            return None
        stored = json.loads(blob)
        return SessionRecord(key=key, data={}, raw=stored.pop("data"), **stored)

    def get(self, key: str) -> SessionRecord | None:
        return self._decode(key, self._call(lambda: self.client.get(self._key(key))))

    def create(self, record: SessionRecord) -> None:
        blob = {name: getattr(record, name) for name in _FIELDS}
        blob["data"] = record.raw or json.dumps(record.data)
        blob["user_agent"] = record.user_agent[:256]

        def write() -> None:
            pipe = self.client.pipeline()
            pipe.set(self._key(record.key), json.dumps(blob), exat=math.ceil(record.expires_at))
            if record.user_id is not None:
                index = self._user_key(record.user_id)
                pipe.sadd(index, record.key)
                pipe.expireat(index, math.ceil(record.expires_at), gt=True)
                pipe.expireat(index, math.ceil(record.expires_at), nx=True)
            pipe.execute()

        self._call(write)

    update = create
    touch = create

    def delete(self, *keys: str) -> None:
        if keys:
            self._call(lambda: self.client.delete(*(self._key(k) for k in keys)))

    def for_user(self, user_id: str) -> list[SessionRecord]:
        index = self._user_key(user_id)
        members = sorted(
            m.decode() if isinstance(m, bytes) else m
            for m in self._call(lambda: self.client.smembers(index))
        )
        if not members:
            return []
        blobs = self._call(lambda: self.client.mget([self._key(k) for k in members]))
        records, gone = [], []
        for key, blob in zip(members, blobs, strict=True):
            record = self._decode(key, blob)
            if record is None or record.user_id != user_id:
                gone.append(key)
            else:
                records.append(record)
        if gone:
            self._call(lambda: self.client.srem(index, *gone))
        return records

    def purge(self, now: float) -> int:
        """Nothing to do: Redis expires session keys itself."""
        return 0
