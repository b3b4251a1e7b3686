"""The `/__sandbox/` control API: fixtures, the link workflow, config, faults, the log."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

from psycopg.types.json import Jsonb

from sandbox.salesforce.faults import FAULT_KINDS, NO_FAULTS
from sandbox.salesforce.ids import normalize_id
from sandbox.salesforce.messages import Reply, Request
from sandbox.salesforce.sobject import (
    EXTERNAL_ID,
    OBJECT,
    STORED_FIELDS,
    canonical_field,
    coerce_value,
    parse_datetime,
    utc_now,
)
from sandbox.salesforce.store import DEFAULT_CONFIG, Store


class AdminError(Exception):
    pass


class Admin:
    """The `/__sandbox/` control API: fixtures, the link workflow, faults, the log."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def handle(self, request: Request) -> Reply:
        route = (request.method, request.path.rstrip("/").removeprefix("/__sandbox"))
        handlers: dict[tuple[str, str], Callable[[Request], Any]] = {
            ("POST", "/reset"): self._reset,
            ("POST", "/records"): self._load,
            ("GET", "/records"): lambda _: {"records": self.store.records()},
            ("GET", "/records/count"): lambda _: {"count": self.store.record_count()},
            ("GET", "/bulk-jobs"): self._bulk_jobs,
            ("POST", "/link"): self._link,
            ("POST", "/expire-tokens"): self._expire_tokens,
            ("POST", "/config"): self._configure,
            ("GET", "/config"): lambda _: self._state(),
            ("POST", "/faults"): self._set_faults,
            ("DELETE", "/faults"): self._clear_faults,
            ("GET", "/faults"): lambda _: self.store.setting("faults", NO_FAULTS),
            ("GET", "/requests"): self._requests,
            ("GET", "/requests/count"): lambda _: {"count": self.store.log_count()},
            ("DELETE", "/requests"): self._clear_requests,
        }
        handler = handlers.get(route)
        if handler is None:
            return Reply(404, {"error": f"no admin endpoint {request.method} {request.path}"})
        try:
            with self.store.lock:
                return Reply(200, handler(request))
        except AdminError as error:
            return Reply(400, {"error": str(error)})

    def _body(self, request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError as error:
            raise AdminError(f"body is not JSON: {error}") from None
        if not isinstance(body, dict):
            raise AdminError("body must be a JSON object")
        return body

    def _reset(self, _: Request) -> dict[str, Any]:
        self.store.reset()
        return {"ok": True}

    def _load(self, request: Request) -> dict[str, Any]:
        records = self._body(request).get("records")
        if not isinstance(records, list):
            raise AdminError("expected {\"records\": [...]}")
        now = utc_now()
        parsed = [self._parse_fixture(record, now) for record in records]
        explicit = [row[0] for row in parsed if row[0] is not None]
        self._check_free(explicit)
        with self.store.transaction():
            fresh = iter(self.store.new_ids(len(parsed) - len(explicit), frozenset(explicit)))
            rows = [(given or next(fresh), fields, created, modified)
                    for given, fields, created, modified in parsed]
            self.store.insert(rows)
        return {"ids": [row[0] for row in rows]}

    def _parse_fixture(
        self, record: Any, now: dt.datetime
    ) -> tuple[str | None, dict[str, Any], dt.datetime, dt.datetime]:
        if not isinstance(record, dict):
            raise AdminError("each record must be an object")
        given: dict[str, Any] = {}
        for name, value in record.items():
            if name == "attributes":
                continue
            spec = canonical_field(name)
            if spec is None:
                raise AdminError(f"unknown field {name!r} on {OBJECT}")
            given[spec.name] = value
        fields = {spec.name: coerce_value(spec, None) for spec in STORED_FIELDS}
        for spec in STORED_FIELDS:
            if spec.name in given:
                value = given[spec.name]
                # Salesforce cannot hold an empty text, so neither can a fixture.
                fields[spec.name] = None if value == "" and spec.is_text else value
        record_id = None
        if given.get("Id") not in (None, ""):
            record_id = normalize_id(given["Id"])
            if record_id is None:
                raise AdminError(f"not a {OBJECT} Id: {given['Id']!r}")
        created = parse_datetime(given.get("CreatedDate")) or now
        modified = parse_datetime(given.get("LastModifiedDate")) or created
        return record_id, fields, created, modified

    def _check_free(self, ids: list[str]) -> None:
        if len(set(ids)) != len(ids):
            raise AdminError("the fixture repeats an Id")
        taken = self.store.records(ids) if ids else []
        if taken:
            raise AdminError(f"Id {taken[0]['Id']} already exists")

    def _link(self, request: Request) -> dict[str, Any]:
        links = self._body(request).get("links")
        if not isinstance(links, dict):
            raise AdminError("expected {\"links\": {snappt_id: sf_property_id}}")
        linked = 0
        with self.store.transaction() as conn:
            moment = utc_now()
            for snappt_id, sf_id in links.items():
                cursor = conn.execute(
                    "update sim.records set fields = fields || %s, last_modified_date = %s,"
                    " system_modstamp = %s where lower(fields ->> %s) = lower(%s)",
                    (Jsonb({"SF_Property_ID__c": sf_id or None}), moment, moment,
                     EXTERNAL_ID, str(snappt_id)),
                )
                linked += cursor.rowcount
        return {"linked": linked}

    def _bulk_jobs(self, _: Request) -> dict[str, Any]:
        rows = self.store.conn.execute(
            "select info, results is not null as processed, data is not null as uploaded"
            " from sim.bulk_jobs order by created_at, id"
        ).fetchall()
        return {"jobs": [{**row["info"], "uploaded": row["uploaded"],
                          "processed": row["processed"]} for row in rows]}

    def _expire_tokens(self, _: Request) -> dict[str, Any]:
        cursor = self.store.conn.execute(
            "update sim.tokens set expires_at = now() where expires_at > now()"
        )
        return {"expired": cursor.rowcount}

    def _state(self) -> dict[str, Any]:
        return {**self.store.setting("config", DEFAULT_CONFIG), "api_usage": self.store.usage()}

    def _configure(self, request: Request) -> dict[str, Any]:
        body = self._body(request)
        config = self.store.setting("config", DEFAULT_CONFIG)
        ttl, limit = body.get("token_ttl_s"), body.get("daily_limit")
        processing = body.get("bulk_processing_s")
        if processing is not None:
            if (isinstance(processing, bool) or not isinstance(processing, int | float)
                    or processing < 0):
                raise AdminError("bulk_processing_s must be a non-negative number")
            config["bulk_processing_s"] = float(processing)
        if ttl is not None:
            if isinstance(ttl, bool) or not isinstance(ttl, int | float) or ttl <= 0:
                raise AdminError("token_ttl_s must be a positive number")
            config["token_ttl_s"] = float(ttl)
        if limit is not None:
            if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
                raise AdminError("daily_limit must be a non-negative integer")
            config["daily_limit"] = limit
        self.store.save_setting("config", config)
        return self._state()

    def _set_faults(self, request: Request) -> dict[str, Any]:
        body = self._body(request)
        rate = body.get("rate", 0.0)
        kinds = list(body.get("kinds") or FAULT_KINDS)
        queued = list(body.get("next") or [])
        methods = body.get("methods")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise AdminError("rate must be a number between 0 and 1")
        unknown = sorted({str(k) for k in kinds + queued} - set(FAULT_KINDS))
        if unknown:
            raise AdminError(f"unknown fault kinds {unknown}; known: {list(FAULT_KINDS)}")
        if methods is not None and (
            not isinstance(methods, list) or not all(isinstance(m, str) for m in methods)
        ):
            raise AdminError("methods must be a list of HTTP methods or null")
        paths = body.get("paths")
        if paths is not None and (
            not isinstance(paths, list) or not all(isinstance(p, str) for p in paths)
        ):
            raise AdminError("paths must be a list of path fragments or null")
        faults = {"paths": paths or None,
                  "rate": float(rate), "kinds": kinds, "seed": body.get("seed", 0),
                  "next": queued, "draws": 0,
                  "methods": [m.upper() for m in methods] if methods else None}
        self.store.save_setting("faults", faults)
        return faults

    def _clear_faults(self, _: Request) -> dict[str, Any]:
        self.store.save_setting("faults", dict(NO_FAULTS))
        return dict(NO_FAULTS)

    def _requests(self, request: Request) -> dict[str, Any]:
        since = request.param("since") or "0"
        if not since.isdigit():
            raise AdminError("since must be a non-negative integer")
        entries = self.store.log_entries(int(since))
        return {"requests": entries, "count": self.store.log_count()}

    def _clear_requests(self, _: Request) -> dict[str, Any]:
        self.store.conn.execute("truncate sim.request_log")
        return {"ok": True}
