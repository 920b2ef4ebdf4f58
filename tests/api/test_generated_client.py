"""A client generated with openapi-python-client from the schema the app serves, used unchanged
against a live server: what an integrator does on day one (issue 20).

The client is generated once per test module into a temporary directory; its modules are imported
from there. Nothing in it is edited: if the schema lies, a call here fails.
"""

import importlib
import io
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from rest_framework.authtoken.models import Token

from leads.models import ImportJob, Lead
from scoring import registry, training_runs
from tests.factories import LeadFactory, ManagerFactory, RepFactory
from tests.leads.import_samples import SIMPLE_MAPPING, simple_csv
from tests.scoring.conftest import outcome_leads_create

PASSWORD = "integrator-pass-1"
GENERATOR = Path(sys.executable).with_name("openapi-python-client")
_generated: dict[str, object] = {}
# One worker generates the client once for the whole module.
pytestmark = pytest.mark.xdist_group("generated_client")


def _served_schema(base_url: str, token: str) -> bytes:
    response = httpx.get(
        f"{base_url}/api/v1/schema/?format=json", headers={"Authorization": f"Token {token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.content


def _generate_client(schema: bytes, workdir: Path):
    """Generate (once per schema) and import the client package; returns its root module."""
    key = str(hash(schema))
    if key in _generated:
        return _generated[key]
    (workdir / "schema.json").write_bytes(schema)
    (workdir / "config.yaml").write_text("project_name_override: leadcrm_client\npost_hooks: []\n")
    package = f"leadcrm_client_{len(_generated)}"
    result = subprocess.run(
        [
            str(GENERATOR),
            "generate",
            "--path",
            str(workdir / "schema.json"),
            "--config",
            str(workdir / "config.yaml"),
            "--meta",
            "none",
            "--output-path",
            str(workdir / package),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(workdir))
    _generated[key] = importlib.import_module(package)
    return _generated[key]


class Generated:
    """The generated package's modules by name: api("leads.leads_list"), model("Lead")."""

    def __init__(self, root):
        self.root = root
        self.models = importlib.import_module(f"{root.__name__}.models")
        self.types = importlib.import_module(f"{root.__name__}.types")

    def api(self, name: str):
        return importlib.import_module(f"{self.root.__name__}.api.{name}")

    def model(self, name: str):
        return getattr(self.models, name)


@pytest.fixture
def generated(live_server, transactional_db, tmp_path_factory) -> Generated:
    manager = ManagerFactory(username="schema_reader")
    token, _ = Token.objects.get_or_create(user=manager)
    schema = _served_schema(live_server.url, token.key)
    return Generated(_generate_client(schema, tmp_path_factory.mktemp("client")))


def _login(gen: Generated, base_url: str, username: str):
    """The token endpoint, unauthenticated, through the generated client."""
    anonymous = gen.root.Client(base_url=base_url)
    body = gen.model("AuthTokenRequest")(username=username, password=PASSWORD)
    response = gen.api("auth.auth_token_create").sync_detailed(client=anonymous, body=body)
    assert response.status_code == 200, response.content
    return gen.root.AuthenticatedClient(base_url=base_url, token=response.parsed.token, prefix="Token")


def _user(factory, username: str, **kwargs):
    user = factory(username=username, **kwargs)
    user.set_password(PASSWORD)
    user.save()
    return user


def test_an_integration_written_with_the_generated_client_works_unchanged(generated, live_server, settings):
    gen, url = generated, live_server.url
    _user(ManagerFactory, "mia", role="admin")
    rep = _user(RepFactory, "rita", first_name="Rita", last_name="Rep")
    admin = _login(gen, url, "mia")

    # A wrong password is a typed 400, not an exception.
    anonymous = gen.root.Client(base_url=url)
    wrong = gen.model("AuthTokenRequest")(username="mia", password="nope")
    refused = gen.api("auth.auth_token_create").sync_detailed(client=anonymous, body=wrong)
    assert refused.status_code == 400 and refused.parsed.error.code == "invalid"

    # Create, patch, list with filters and cursor pagination.
    created = gen.api("leads.leads_create").sync(
        client=admin,
        body=gen.model("LeadCreateRequest")(
            name="Ada Lovelace",
            email="ada@example.com",
            external_id="web-1",
            attributes=gen.model("LeadCreateRequestAttributes").from_dict({"TotalVisits": 5, "plan": "pro"}),
        ),
    )
    assert isinstance(created, gen.model("Lead")), created
    assert created.owner is None and isinstance(created.tier, gen.model("TierEnum"))
    patched = gen.api("leads.leads_partial_update").sync(
        created.id, client=admin, body=gen.model("PatchedLeadUpdateRequest")(company="Analytical Engines")
    )
    assert patched.company == "Analytical Engines"
    LeadFactory.create_batch(12, status=Lead.Status.NEW)
    leads_list = gen.api("leads.leads_list")
    seen, cursor, pages = [], gen.types.UNSET, 0
    while True:
        page = leads_list.sync(
            client=admin,
            page_size=5,
            cursor=cursor,
            open_=gen.model("LeadsListOpen").TRUE,
            ordering=gen.model("LeadsListOrdering").CREATED_DESC,
        )
        seen += [lead.id for lead in page.results]
        pages += 1
        if not page.next_:
            break
        cursor = httpx.URL(page.next_).params["cursor"]
    assert pages == 3 and len(seen) == len(set(seen)) == 13
    too_big = leads_list.sync_detailed(client=admin, page_size=501)
    assert too_big.status_code == 400 and "page_size" in too_big.parsed.error.fields.additional_properties
    missing = gen.api("leads.leads_retrieve").sync_detailed(10**9, client=admin)
    assert missing.status_code == 404 and missing.parsed.error.code == "not_found"

    # Activity and follow-up on the lead.
    activity = gen.api("leads.leads_activities_create").sync(
        created.id,
        client=admin,
        body=gen.model("ActivityCreateRequest")(kind=gen.model("ActivityCreateKindEnum").CALL, notes="Wants a demo"),
    )
    assert activity.kind == gen.model("ActivityKindEnum").CALL
    follow_up = gen.api("leads.leads_follow_ups_create").sync(
        created.id,
        client=admin,
        body=gen.model("FollowUpCreateRequest")(due_at=_in_days(2), note="Send pricing"),
    )
    assert follow_up.done_at is None and follow_up.lead == created.id
    timeline = gen.api("leads.leads_activities_list").sync(created.id, client=admin)
    assert activity.id in [a.id for a in timeline.results]

    # A rep claims the pool lead; the claim, and its 409 for others, come through typed.
    rep_client = _login(gen, url, "rita")
    claimed = gen.api("leads.leads_claim_create").sync(created.id, client=rep_client)
    assert claimed.owner == rep.pk

    # Score an unsaved lead with attributes, with a trained model.
    outcome_leads_create(300)
    registry.cache_clear()
    version = training_runs.model_train(folds=2)
    score_body = gen.model("ScoreRequestRequest")(
        source="Referral",
        attributes=gen.model("ScoreRequestRequestAttributes").from_dict({"plan": "enterprise", "visits": 9}),
    )
    scored = gen.api("score.score_create").sync(client=rep_client, body=score_body)
    assert isinstance(scored, gen.model("ScoreResponse")), scored
    assert scored.model_version == version.pk and isinstance(scored.tier, gen.model("TierEnum"))
    # The schema closes the body (additionalProperties: false), so the model has no room for a typo;
    # the server refuses one sent by hand.
    assert not hasattr(gen.model("ScoreRequestRequest")(), "additional_properties")
    rejected = rep_client.get_httpx_client().post("/api/v1/score/", json={"source": "Web", "colour": "red"})
    assert rejected.status_code == 400 and "colour" in rejected.json()["error"]["fields"]
    history = gen.api("leads.leads_score_history_list").sync(created.id, client=rep_client)
    assert all(row.overridden_by is None for row in history)

    # Model versions (managers).
    versions = gen.api("models.models_list").sync(client=admin)
    assert [v.id for v in versions] == [version.pk]
    assert versions[0].status == gen.model("ModelVersionStatusEnum").ACTIVE
    detail = gen.api("models.models_retrieve").sync(version.pk, client=admin)
    assert detail.n_rows == version.n_rows
    forbidden = gen.api("models.models_list").sync_detailed(client=rep_client)
    assert forbidden.status_code == 403 and forbidden.parsed.error.code == "permission_denied"

    # Import: upload a file with an inline mapping, poll, read the row errors, resume.
    rows = [[f"imp-{i}", "bad" if i == 2 else f"imp{i}@example.com", f"Person {i}", "", "", ""] for i in range(5)]
    job = _import(gen, admin, simple_csv(rows), mode="SKIP_BAD")
    assert job.status == gen.model("ImportJobStatusEnum").SUCCEEDED, job
    assert (job.counts.created, job.counts.failed) == (4, 1)
    assert job.created_by == "mia" and job.profile is None
    assert [(e.row, e.column) for e in job.errors.results] == [(4, "Email")]
    csv = admin.get_httpx_client().get(job.errors_csv)
    assert csv.status_code == 200 and "import_errors" in csv.text.splitlines()[0]

    good = _import(gen, admin, simple_csv([["imp-9", "imp9@example.com", "Nine", "", "", ""]]), mode="ATOMIC")
    assert good.status == gen.model("ImportJobStatusEnum").SUCCEEDED
    # A worker died before committing anything: the job is resumable from its file.
    ImportJob.objects.filter(pk=good.id).update(status=ImportJob.Status.INTERRUPTED, rows_done=0)
    resumed = gen.api("imports.imports_resume_create").sync(good.id, client=admin)
    assert isinstance(resumed, gen.model("ImportJob")), resumed
    assert _poll(gen, admin, good.id).status == gen.model("ImportJobStatusEnum").SUCCEEDED
    not_a_file = gen.model("ImportCreateRequest")(
        file=gen.types.File(payload=io.BytesIO(b""), file_name="empty.csv", mime_type="text/csv"),
        mapping=json.dumps(SIMPLE_MAPPING),
    )
    empty = gen.api("imports.imports_create").sync_detailed(client=admin, body=not_a_file)
    assert empty.status_code == 400 and "file" in empty.parsed.error.fields.additional_properties


def _claimers(gen: Generated, url: str) -> dict:
    _user(RepFactory, "ann", first_name="Ann", last_name="Able")
    _user(RepFactory, "ben", first_name="Ben", last_name="Baker")
    _user(RepFactory, "cat", first_name="Cat")
    return {name: _login(gen, url, name) for name in ("ann", "ben", "cat")}


NAMES = {"ann": "Ann Able", "ben": "Ben Baker", "cat": "Cat"}


def test_a_claimed_pool_lead_is_a_409_naming_who_holds_it(generated, live_server):
    gen = generated
    clients = _claimers(gen, live_server.url)
    lead = LeadFactory(owner=None)
    claim = gen.api("leads.leads_claim_create")

    assert claim.sync_detailed(lead.pk, client=clients["ann"]).status_code == 200
    later = claim.sync_detailed(lead.pk, client=clients["ben"])
    assert later.status_code == 409
    assert later.parsed.error.code == "conflict" and later.parsed.error.claimed_by == "Ann Able"
    assert later.parsed.error.message == "Already claimed by Ann Able."
    assert claim.sync_detailed(lead.pk, client=clients["ann"]).status_code == 200  # again: a no-op


def test_claim_race_through_the_generated_client_is_one_200_and_one_409_naming_the_winner(
    requires_postgres, generated, live_server
):
    gen = generated
    clients = _claimers(gen, live_server.url)
    lead = LeadFactory(owner=None)
    claim = gen.api("leads.leads_claim_create")

    start = threading.Barrier(2)
    answers = {}

    def claim_as(name):
        start.wait()
        answers[name] = claim.sync_detailed(lead.pk, client=clients[name])

    threads = [threading.Thread(target=claim_as, args=(name,)) for name in ("ann", "ben")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(answer.status_code for answer in answers.values()) == [200, 409]
    winner = next(name for name, answer in answers.items() if answer.status_code == 200)
    loser = next(name for name, answer in answers.items() if answer.status_code == 409)
    conflict = answers[loser].parsed
    assert conflict.error.code == "conflict" and conflict.error.claimed_by == NAMES[winner]
    # Later, not in a race: the same 409 naming the same rep.
    later = claim.sync_detailed(lead.pk, client=clients["cat"])
    assert later.status_code == 409 and later.parsed.error.claimed_by == NAMES[winner]


def _in_days(days: int):
    from datetime import timedelta

    from django.utils import timezone

    return timezone.now() + timedelta(days=days)


def _import(gen: Generated, client, text: str, *, mode: str):
    body = gen.model("ImportCreateRequest")(
        file=gen.types.File(payload=io.BytesIO(text.encode()), file_name="leads.csv", mime_type="text/csv"),
        mapping=json.dumps(SIMPLE_MAPPING),
        mode=getattr(gen.model("ImportJobModeEnum"), mode),
    )
    started = gen.api("imports.imports_create").sync(client=client, body=body)
    assert isinstance(started, gen.model("ImportJob")), started
    return _poll(gen, client, started.id)


def _poll(gen: Generated, client, job_id: int, *, attempts: int = 100):
    """The polling pattern of the README: read the job until it is no longer pending or running."""
    active = {gen.model("ImportJobStatusEnum").PENDING, gen.model("ImportJobStatusEnum").RUNNING}
    for _ in range(attempts):
        job = gen.api("imports.imports_retrieve").sync(job_id, client=client)
        if job.status not in active:
            return job
        time.sleep(0.1)
    raise AssertionError(f"import {job_id} still {job.status}")
