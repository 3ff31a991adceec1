"""Background jobs: who may watch one, its polled progress, and the one-time download."""

from __future__ import annotations

import pytest

from jobs.models import Job, JobState
from jobs.services import job_advance, job_create, job_finish, job_start
from security.audit import Actor
from security.models import AuditEvent
from tests.personas import World, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(domain_name: str) -> World:
    return build_world(domain_name.split(".")[0])


def _job(world: World, *, by: str = "alice") -> Job:
    return job_create(
        actor=Actor.for_user(world.users[by]), kind="test", title="Importing 3 accounts",
        organization=world.acme, domain=world.acme_domain, total=3,
    )  # fmt: skip


def test_progress_is_polled_until_the_job_ends(world: World) -> None:
    job = _job(world)
    job_start(str(job.pk))
    job_advance(str(job.pk))
    client = world.client("alice")
    running = client.get(f"/jobs/{job.pk}/progress/").content.decode()
    assert "1 of 3" in running and 'hx-trigger="every 1s"' in running
    job_advance(str(job.pk), failed=1)
    job_finish(
        str(job.pk),
        result={
            "summary": "2 created, 1 failed.",
            "errors": [{"item": "line 3", "message": "bad"}],
        },
    )
    done = client.get(f"/jobs/{job.pk}/progress/").content.decode()
    assert "hx-trigger" not in done  # the polling stops
    assert "3 of 3" in done and "2 created, 1 failed." in done and "line 3" in done
    assert client.get(f"/jobs/{job.pk}/").status_code == 200


def test_another_tenant_and_owners_cannot_see_a_job(world: World) -> None:
    job = _job(world)
    for name in ("charlie",):
        assert world.client(name).get(f"/jobs/{job.pk}/").status_code == 404
    assert world.client("bob").get(f"/jobs/{job.pk}/").status_code == 200  # read-only member
    # dave administers another domain of the organization only
    assert world.client("dave").get(f"/jobs/{job.pk}/").status_code == 404


def test_the_file_is_fetched_once_and_only_by_who_started_the_job(world: World) -> None:
    job = _job(world)
    job_finish(str(job.pk), result={}, download="address,password\na@x,pw\n",
               download_name="passwords.csv")  # fmt: skip
    page = world.client("staff").get(f"/jobs/{job.pk}/").content.decode()
    assert "Download" not in page  # not theirs
    assert world.client("staff").post(f"/jobs/{job.pk}/download/").status_code == 302
    alice = world.client("alice")
    assert "Download passwords.csv (once)" in alice.get(f"/jobs/{job.pk}/").content.decode()
    response = alice.post(f"/jobs/{job.pk}/download/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response.content == b"address,password\na@x,pw\n"
    assert response["Cache-Control"] == "no-store"
    again = alice.post(f"/jobs/{job.pk}/download/", follow=True)
    assert "already downloaded" in again.content.decode()
    assert Job.objects.get(pk=job.pk).download == ""
    assert AuditEvent.objects.filter(action="job.download").count() == 1


def test_a_failed_job_says_so(world: World) -> None:
    job = _job(world)
    job_finish(str(job.pk), result={"summary": "Nothing was created."}, failed=True)
    assert Job.objects.get(pk=job.pk).state == JobState.FAILED
    assert "Failed" in world.client("alice").get(f"/jobs/{job.pk}/").content.decode()
