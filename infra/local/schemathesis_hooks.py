"""Schemathesis hooks for infra/local/schemathesis.sh (issue 8, line 4).

JSON Schema cannot say everything the server checks. Where a rule spans
fields or depends on the server's clock, the document says it in words and
these hooks make schema-valid requests (and only those) obey it too, so that
a refusal of what is left is a real disagreement:

- the analytics range: `from` not after `to`, at most 366 days, both counted;
  list values distinct (reports and exports);
- the ingest window: an event's `time` within 30 days behind and 24 hours
  ahead of the server's clock;
- one header value that schemathesis' coverage phase cannot build (an
  `If-Match` needs double quotes, and that phase sends letters and digits only
  in headers, falling back to a value the pattern refuses);
- a PDF report's definition (a body) follows the reports' rules as their
  query strings do: its range in order and at most 366 days, list values
  distinct, each report named once, two funnel steps;
- a material's kind decides its fields: a `text` material has a `body` and
  no `assetId`, any other kind the reverse (addMaterial says so in words);
- a fresh `Idempotency-Key` per request: generated keys are short and repeat
  ("0", "a"), and a key seen before with another body is rightly refused
  (422 `idempotency_key_reused`), so without this most generated writes
  tested the key's reuse rule rather than the operation. The e2e suites test
  replays and reuse.

And one check: a schema-valid request may be refused with 400 only for a
business reason that its operation documents (a spent token, a wrong code, a
cursor the API never issued), never with `validation_failed`.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import time
import uuid

import schemathesis

RENDER_400 = (
    "template_unknown",
    "template_variable_missing",
    "template_variable_unknown",
    "template_variable_invalid",
    "template_variables_invalid",
    "sms_too_long",
    "push_too_long",
)

# operationId -> the 400 codes that answer a well-formed request for a business reason.
BUSINESS_400 = {
    "verifyEmail": {"verification_token_invalid", "verification_token_expired"},
    "confirmPasswordReset": {"reset_token_invalid", "reset_token_expired"},
    "confirmEmailChange": {"email_change_token_invalid", "email_change_token_expired"},
    "verifyPhone": {"phone_code_wrong", "phone_code_invalid", "phone_code_expired"},
    "listProfileHistory": {"invalid_cursor"},
    "listCourses": {"invalid_cursor"},
    # A cursor is opaque: one this API never made, or made for another room, is a string all the same.
    "listChatMessages": {"invalid_cursor"},
    # The caller's own id is a user id like any other.
    "openDirectRoom": {"direct_with_self"},
    # An experience level the admins have not defined (or retired): the set changes at run time.
    "updateProfile": {"unknown_experience_level"},
    "notificationLog": {"invalid_cursor"},
    # A spent, forged or foreign one-click link.
    "unsubscribeByLink": {"unsubscribe_token_invalid"},
    # The template (a versioned registry, not an enum) decides its variables, channels and lengths.
    # Which channels a template has is the template's too; a bare address takes its own channel only.
    "previewNotification": set(RENDER_400) | {"channel_not_in_template"},
    "sendNotification": set(RENDER_400) | {"channel_not_in_template", "channel_not_for_recipient"},
    # The caller's own id is a user id like any other.
    "blockChatUser": {"block_self"},
    # Attachments are made at run time (uploaded, completed), and the word list is the deployment's.
    # "Text or attachments" ties two fields, which the schema does not state: an empty body with no
    # attachments is schema-valid and refused with a pointer to /body.
    "sendMessage": {"unknown_attachment", "message_not_allowed", "validation_failed"},
    "editMessage": {"message_not_allowed"},
    # Exactly one of time, revision and position: a rule across parameters the schema does not state.
    "streamStateAsOf": {"validation_failed"},
    # `to` before `from` ties two fields the schema cannot relate.
    "exportEvents": {"range_reversed"},
    # A position past the newest event: the store's head moves at run time, which no schema states.
    "diffProjection": {"position_beyond_head"},
    "republishEvents": {"range_reversed"},
    # Which tables, key columns and columns a read model has is its DDL's, not the document's.
    "explainRow": {"unknown_table", "table_required", "key_columns", "unknown_field"},
}

ANALYTICS_RANGE = re.compile(r"^/api/analytics/(?:reports/[a-z-]+(?:/export)?|events/export)$")
LISTS = ("source", "type", "course", "steps", "days")
MAX_RANGE_DAYS = 366
MAX_VALUE_LENGTH = 200
# JavaScript's String.prototype.trim removes these too; Python's str.strip does not know U+FEFF.
JS_SPACE = " \t\n\v\f\r\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"


def _positive(case) -> bool:
    meta = case.meta
    return meta is not None and meta.generation.mode.is_positive


def _operation_id(case) -> str | None:
    return case.operation.definition.raw.get("operationId")


def _distinct(text: str, fill: str) -> str:
    values, seen = [], set()
    for value in text.split(","):
        value = value.strip(JS_SPACE)[:MAX_VALUE_LENGTH].strip(JS_SPACE) or fill
        if value not in seen:
            seen.add(value)
            values.append(value)
    return ",".join(values)


def _analytics_range(case) -> None:
    query = case.query
    if not isinstance(query, dict):
        return
    try:
        start = dt.date.fromisoformat(query["from"])
        end = dt.date.fromisoformat(query["to"])
    except (KeyError, TypeError, ValueError):
        return
    if start > end:
        start, end = end, start
    end = min(end, start + dt.timedelta(days=MAX_RANGE_DAYS - 1))
    query["from"], query["to"] = start.isoformat(), end.isoformat()
    for name in LISTS:
        if isinstance(query.get(name), str):
            query[name] = _distinct(query[name], "x")
    # The funnel needs two distinct steps; deduplication may have left one.
    if isinstance(query.get("steps"), str) and "," not in query["steps"]:
        query["steps"] += ",next.step"


def _ingest_window(case) -> None:
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("events"), list):
        return
    now = int(time.time() * 1000)
    for event in body["events"]:
        if isinstance(event, dict) and "time" in event:
            event["time"] = now
        # The payload limit counts UTF-8 bytes of compact JSON, which a schema cannot.
        if isinstance(event, dict) and isinstance(event.get("payload"), dict):
            compact = json.dumps(event["payload"], separators=(",", ":"), ensure_ascii=False)
            if len(compact.encode("utf-8", "surrogatepass")) > 16 * 1024:
                event["payload"] = {}


IF_MATCH = re.compile(r'^(?:(?:W/)?"-?[0-9]{1,15}"|\*)$')


def _if_match(case) -> None:
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "if-match" and not IF_MATCH.match(str(headers[name])):
            headers[name] = "*"


def _material_fields(case) -> None:
    body = case.body
    if not isinstance(body, dict) or not isinstance(body.get("kind"), str):
        return
    if body["kind"] == "text":
        body.pop("assetId", None)
        body.setdefault("body", "Text.")
    else:
        body.pop("body", None)
        body.setdefault("assetId", "00000000-0000-4000-8000-000000000000")


def _fresh_idempotency_key(case) -> None:
    headers = case.headers or {}
    for name in list(headers):
        if name.lower() == "idempotency-key":
            headers[name] = uuid.uuid4().hex


def _pdf_definition(case) -> None:
    """A PDF report's body: its range in order and at most 366 days, list values distinct, two funnel steps."""
    body = case.body
    if not isinstance(body, dict):
        return
    try:
        start = dt.date.fromisoformat(body["from"])
        end = dt.date.fromisoformat(body["to"])
        if start > end:
            start, end = end, start
        end = min(end, start + dt.timedelta(days=MAX_RANGE_DAYS - 1))
        body["from"], body["to"] = start.isoformat(), end.isoformat()
    except (KeyError, TypeError, ValueError):
        pass
    reports = body.get("reports")
    if not isinstance(reports, list):
        return
    seen = set()
    kept = []
    for part in reports:
        if not isinstance(part, dict) or part.get("name") in seen:
            continue
        seen.add(part.get("name"))
        params = part.get("params")
        if isinstance(params, dict):
            for name in LISTS:
                if isinstance(params.get(name), str):
                    params[name] = _distinct(params[name], "x")
            if isinstance(params.get("steps"), str) and "," not in params["steps"]:
                params["steps"] += ",next.step"
        kept.append(part)
    body["reports"] = kept


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if not _positive(case):
        return
    _if_match(case)
    _fresh_idempotency_key(case)
    if ANALYTICS_RANGE.match(case.operation.path):
        _analytics_range(case)
    if case.operation.path == "/api/analytics/ingest":
        _ingest_window(case)
    if _operation_id(case) == "addMaterial":
        _material_fields(case)
    if _operation_id(case) in ("requestPdfReport", "schedulePdfReport"):
        _pdf_definition(case)


@schemathesis.check
def refused_only_for_documented_business_reasons(ctx, response, case):
    """A schema-valid request answered 400 must carry a business code its operation documents."""
    if not _positive(case) or response.status_code != 400:
        return None
    try:
        code = response.json().get("code")
    except Exception:
        code = None
    operation = _operation_id(case)
    documented = case.operation.definition.raw.get("responses", {}).get("400", {}).get("description", "")
    if code in BUSINESS_400.get(operation, set()) and f"`{code}`" in documented:
        return None
    raise AssertionError(
        f"{operation}: a schema-valid request was refused with 400 `{code}`, "
        f"which is not a business answer this operation documents: {response.text[:300]}"
    )
