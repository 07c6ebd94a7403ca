import pytest
from django.urls import reverse

from annotation.tests.factories import (
    AdminFactory,
    RatingFactory,
    ResearcherFactory,
    StudyFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def test_anonymous_visitors_are_sent_to_the_sign_in_page(client):
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_non_staff_accounts_cannot_see_the_dashboard(client):
    client.force_login(UserFactory())
    assert client.get(reverse("home")).status_code == 302


def test_researchers_see_their_own_studies_and_admins_see_all(client):
    mine, theirs = StudyFactory(name="Mine"), StudyFactory(name="Theirs")
    client.force_login(mine.owner)
    page = client.get(reverse("home")).content.decode()
    assert "Mine" in page and "Theirs" not in page
    client.force_login(AdminFactory())
    page = client.get(reverse("home")).content.decode()
    assert "Mine" in page and theirs.name in page


def test_sign_in_and_out_through_the_auth_pages(client):
    ResearcherFactory(username="ada", password="a-long-password-1")
    response = client.post(reverse("login"), {"username": "ada", "password": "a-long-password-1"})
    assert response.status_code == 302 and response["Location"] == reverse("home")
    assert client.get(reverse("home")).status_code == 200
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("home")).status_code == 302


@pytest.mark.parametrize(
    "model",
    ["study", "dimension", "stimulus", "subject", "ratingsession", "rating", "labelrelease"],
)
def test_admin_changelists_render_with_their_filters(client, model):
    RatingFactory()
    client.force_login(AdminFactory())
    url = reverse(f"admin:annotation_{model}_changelist")
    response = client.get(url, {"q": "x"})
    assert response.status_code == 200


def test_favicon_is_served_for_pages_that_name_none(client):
    from django.contrib.staticfiles import finders

    response = client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"].endswith("study_site/favicon.svg")
    assert finders.find("study_site/favicon.svg")
