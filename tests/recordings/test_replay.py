"""Replaying recordings: roles on every route, signed links, Range requests, audit, legal hold."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from callcenter.desk.auth import AGENT_KEY, CSRF_KEY, EPOCH_KEY
from callcenter.jobs.recordings import storage_for
from callcenter.runtime import Runtime
from core.audit import AuditEvent
from queues.models import Agent, Post, Role
from queues.passwords import hash_password
from recordings import services
from recordings.links import sign_playback
from recordings.models import Recording, RecordingStatus
from tests.builders import add_agent
from tests.conftest import NOW

AUDIO = bytes(range(256)) * 40  # 10,240 bytes standing in for the stored MP3


@pytest.fixture
def rt(app: Flask) -> Runtime:
    runtime: Runtime = app.extensions["callcenter"]
    return runtime


def account(session: Session, login: str, *roles: Role) -> Agent:
    agent = add_agent(
        session,
        login,
        display_name=login,
        posts=[] if roles else [Post.FRONT_DESK],
        skills={} if roles else {"general": 3},
        roles=roles,
    )
    agent.password_hash = hash_password("pw")
    session.commit()
    return agent


def signed_in(app: Flask, agent: Agent) -> FlaskClient:
    client = app.test_client()
    with client.session_transaction() as sess:
        sess[AGENT_KEY], sess[EPOCH_KEY], sess[CSRF_KEY] = agent.id, agent.session_epoch, "t"
    return client


@pytest.fixture
def recording(rt: Runtime, session: Session) -> Recording:
    sid = "RE" + secrets.token_hex(16)
    source = Path(rt.settings.instance_path) / "upload.mp3"
    source.parent.mkdir(parents=True, exist_ok=True)
    source.write_bytes(AUDIO)
    stored = storage_for(rt).put(services.storage_key(sid), source)
    rec = Recording(
        sid=sid,
        status=RecordingStatus.STORED,
        twilio_status="completed",
        created_at=NOW,
        updated_at=NOW,
        queue="billing",
        storage_key=stored.key,
        size_bytes=stored.size,
        audio_seconds=60.0,
        peaks={"version": 2, "channels": 2, "length": 1, "data": [-1, 1, -2, 2]},
        measures=None,
        attempts=1,
        legal_hold=False,
    )
    session.add(rec)
    session.commit()
    return rec


@pytest.fixture
def qc(app: Flask, session: Session) -> FlaskClient:
    return signed_in(app, account(session, "ma.chao", Role.QC))


def media_url(app: Flask, client: FlaskClient, rec: Recording) -> str:
    page = client.get(f"/recordings/{rec.id}")
    assert page.status_code == 200
    found = re.search(r'<audio[^>]+src="([^"]+)"', page.get_data(as_text=True))
    assert found
    return found.group(1)


def replays(session: Session, rec: Recording) -> list[str]:
    session.expire_all()
    events = session.scalars(
        select(AuditEvent).where(
            AuditEvent.action == "recording.replay", AuditEvent.subject_id == str(rec.id)
        )
    )
    return [e.data["via"] for e in events]


def test_every_route_refuses_a_plain_agent_and_admits_qc(
    app: Flask, session: Session, recording: Recording, qc: FlaskClient
) -> None:
    plain = signed_in(app, account(session, "li.na"))
    url = media_url(app, qc, recording)
    routes = [
        ("get", "/recordings/"),
        ("get", "/recordings/api/recordings"),
        ("get", f"/recordings/{recording.id}"),
        ("get", url),
        ("post", f"/recordings/{recording.id}/legal-hold"),
    ]
    for method, path in routes:
        assert status(plain, method, path, data={"csrf_token": "t"}) == 403, path
        assert status(app.test_client(), method, path) in (302, 401), path
    for method, path in routes[:4]:
        assert status(qc, method, path) == 200, path


def status(client: FlaskClient, method: str, path: str, **kwargs: object) -> int:
    with getattr(client, method)(path, **kwargs) as response:
        return int(response.status_code)


def test_a_range_request_for_the_middle_returns_206_with_those_bytes(
    app: Flask, session: Session, recording: Recording, qc: FlaskClient
) -> None:
    url = media_url(app, qc, recording)
    with qc.get(url, headers={"Range": "bytes=4000-4999"}) as response:
        assert response.status_code == 206
        assert response.data == AUDIO[4000:5000]
        assert response.headers["Content-Range"] == f"bytes 4000-4999/{len(AUDIO)}"
        assert response.headers["Accept-Ranges"] == "bytes"
        assert response.headers["Content-Length"] == "1000"
        assert response.mimetype == "audio/mpeg"


def test_whole_file_and_unsatisfiable_ranges(
    app: Flask, recording: Recording, qc: FlaskClient
) -> None:
    url = media_url(app, qc, recording)
    with qc.get(url) as whole:
        assert whole.status_code == 200 and whole.data == AUDIO
        assert whole.headers["Accept-Ranges"] == "bytes"
    with qc.get(url, headers={"Range": f"bytes={len(AUDIO)}-"}) as beyond:
        assert beyond.status_code == 416
        assert beyond.headers["Content-Range"] == f"bytes */{len(AUDIO)}"


def test_every_replay_is_audited_but_not_every_seek(
    app: Flask, session: Session, recording: Recording, qc: FlaskClient
) -> None:
    url = media_url(app, qc, recording)
    for headers in ({"Range": "bytes=0-"}, {"Range": "bytes=5000-"}, {}):
        qc.get(url, headers=headers).close()
    assert replays(session, recording) == ["page", "media", "media"]


@pytest.mark.parametrize("fault", ["expired", "tampered", "other-viewer", "other-recording"])
def test_a_bad_link_is_403(
    app: Flask, rt: Runtime, session: Session, recording: Recording, qc: FlaskClient, fault: str
) -> None:
    secret = app.config["SECRET_KEY"]
    holder = f"{_id(session, 'ma.chao')}.0"  # the QC account's id and session epoch
    token = sign_playback(secret, recording.id, holder, now=NOW)
    if fault == "expired":
        token = sign_playback(
            secret, recording.id, holder, now=NOW - timedelta(hours=1), ttl=timedelta(minutes=5)
        )
    elif fault == "tampered":
        token = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    elif fault == "other-viewer":
        token = sign_playback(secret, recording.id, "ma.chao", now=NOW)  # the login: not enough
    recording_id = recording.id + 1000 if fault == "other-recording" else recording.id
    response = qc.get(f"/recordings/{recording_id}/media/{token}")
    assert response.status_code == 403
    assert response.get_json()["error"]["code"].startswith("link-")
    assert replays(session, recording) == []


def _id(session: Session, login: str) -> int:
    found = session.scalar(select(Agent.id).where(Agent.login == login))
    assert found is not None
    return found


def test_a_link_serves_only_its_holder_and_only_until_it_expires(
    app: Flask, rt: Runtime, session: Session, recording: Recording, qc: FlaskClient
) -> None:
    url = media_url(app, qc, recording)
    other = signed_in(app, account(session, "zheng.xue", Role.QC))  # may replay recordings too
    refused = other.get(url)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "link-mismatch"
    with qc.get(url) as ok:
        assert ok.status_code == 200
    rt.clock = lambda: NOW + services.playback_ttl(recording) + timedelta(seconds=1)
    for client in (other, qc):
        late = client.get(url)
        assert late.status_code == 403
        assert late.get_json()["error"]["code"] == "link-expired"
    assert replays(session, recording) == ["page", "media"]


def test_a_link_dies_with_the_sign_in_it_was_issued_to(
    app: Flask, session: Session, recording: Recording, qc: FlaskClient
) -> None:
    url = media_url(app, qc, recording)
    agent = session.get(Agent, _id(session, "ma.chao"))
    assert agent is not None
    agent.session_epoch += 1  # signed out (every session), then signed in again
    session.commit()
    assert qc.get(url).status_code == 302  # the old session is over
    again = signed_in(app, agent)
    refused = again.get(url)
    assert refused.status_code == 403
    assert refused.get_json()["error"]["code"] == "link-mismatch"
    with again.get(media_url(app, again, recording)) as fresh:
        assert fresh.status_code == 200


def test_the_link_outlives_the_recording(rt: Runtime, recording: Recording) -> None:
    assert services.playback_ttl(recording) >= timedelta(seconds=60) + timedelta(minutes=5)


def test_only_the_manager_sets_a_legal_hold(
    app: Flask, session: Session, recording: Recording, qc: FlaskClient
) -> None:
    path = f"/recordings/{recording.id}/legal-hold"
    assert qc.post(path, data={"csrf_token": "t", "hold": "1"}).status_code == 403
    manager = signed_in(app, account(session, "feng.min", Role.MANAGER))
    assert manager.post(path, data={"hold": "1"}).status_code == 403  # no CSRF token
    response = manager.post(
        path, data={"csrf_token": "t", "hold": "1"}, headers={"Accept": "application/json"}
    )
    assert response.status_code == 200 and response.get_json()["recording"]["legal_hold"] is True
    session.expire_all()
    assert session.get(Recording, recording.id).legal_hold is True  # type: ignore[union-attr]
    assert session.scalar(select(AuditEvent).where(AuditEvent.action == "recording.legal_hold"))


def test_the_list_filters_by_agent_queue_and_date(
    recording: Recording, qc: FlaskClient, session: Session
) -> None:
    def sids(query: str) -> list[str]:
        response = qc.get(f"/recordings/api/recordings?{query}")
        assert response.status_code == 200
        return [r["sid"] for r in response.get_json()["recordings"]]

    assert sids("queue=billing") == [recording.sid]
    assert sids("queue=general") == []
    assert sids(f"from={NOW.date()}&to={NOW.date()}") == [recording.sid]
    assert sids(f"from={NOW.date() + timedelta(days=1)}") == []
    assert sids("agent=999999") == []
    assert qc.get("/recordings/api/recordings?from=yesterday").status_code == 400
    page = qc.get("/recordings/?queue=billing").get_data(as_text=True)
    assert f"/recordings/{recording.id}" in page


def test_a_team_lead_sees_only_their_own_teams_recordings(
    app: Flask, session: Session, recording: Recording, qc: FlaskClient
) -> None:
    """config/permissions.toml: recordings.replay is `team` for team leads, `all` for QC."""
    mine = add_agent(session, "li.na", team="front-a")
    theirs = add_agent(session, "chen.jing", team="front-b")
    recording.agent_id = theirs.id
    other = Recording(
        sid="RE" + secrets.token_hex(16),
        status=RecordingStatus.STORED,
        twilio_status="completed",
        created_at=NOW,
        updated_at=NOW,
        storage_key=recording.storage_key,
        agent_id=mine.id,
        attempts=1,
        legal_hold=False,
    )
    session.add(other)
    lead = account(session, "qin.hui", Role.TEAM_LEAD)
    lead.team = "front-a"
    session.commit()
    client = signed_in(app, lead)
    listed = client.get("/recordings/api/recordings").get_json()["recordings"]
    assert [r["id"] for r in listed] == [other.id]
    assert client.get(f"/recordings/{other.id}").status_code == 200
    assert client.get(f"/recordings/{recording.id}").status_code == 404
    everyone = qc.get("/recordings/api/recordings").get_json()["recordings"]
    assert {r["id"] for r in everyone} == {recording.id, other.id}


def test_the_csv_export_masks_customers_unless_unmasking_is_granted_and_is_audited(
    app: Flask, session: Session, recording: Recording
) -> None:
    from core.models import Call, CallDirection, CallStatus, Customer

    customer = Customer(name="王芳", account_number="A-EXPORT-1")
    session.add(customer)
    session.flush()
    call = Call(
        sid="CA" + secrets.token_hex(16),
        direction=CallDirection.INBOUND,
        status=CallStatus.COMPLETED,
        caller_e164="+8613800138000",
        customer_id=customer.id,
    )
    session.add(call)
    session.flush()
    recording.call_id, recording.customer_id = call.id, customer.id
    boss = signed_in(app, account(session, "feng.min", Role.MANAGER))
    lead = account(session, "he.jing", Role.TEAM_LEAD)
    recording.agent_id = lead.id  # a recording of the team lead's own team ("")
    session.commit()
    full = boss.get("/recordings/export.csv")
    assert full.status_code == 200 and full.mimetype == "text/csv"
    assert "王芳" in full.get_data(as_text=True) and "+8613800138000" in full.get_data(as_text=True)
    masked = signed_in(app, lead).get("/recordings/export.csv?queue=billing")
    text = masked.get_data(as_text=True)
    assert masked.status_code == 200 and "王*" in text and "+86*********00" in text
    assert "王芳" not in text and "+8613800138000" not in text
    qc = signed_in(app, account(session, "zheng.xue", Role.QC))
    assert qc.get("/recordings/export.csv").status_code == 403  # QC replays, does not export
    session.expire_all()
    exports = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "export.customer_data")
        .order_by(AuditEvent.id)
    ).all()
    assert [(e.actor, e.data["rows"], e.data["unmasked"], e.data["filters"]) for e in exports] == [
        ("feng.min", 1, True, {}),
        ("he.jing", 1, False, {"queue": "billing"}),
    ]
