"""factory-boy factories. Domain rows that services own are built through the services where a
test is about behaviour; these factories give the plain starting state."""

import factory
from django.contrib.auth import get_user_model

from reviews.catalogue import load_version
from reviews.models import CatalogueVersion, Category, ChecklistItem, Membership, Review, Role, System, Team


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("pw")


class TeamFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Team

    name = factory.Sequence(lambda n: f"Team {n}")
    slug = factory.Sequence(lambda n: f"team-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    team = factory.SubFactory(TeamFactory)
    role = Role.MEMBER


class SystemFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = System

    team = factory.SubFactory(TeamFactory)
    name = factory.Sequence(lambda n: f"System {n}")
    slug = factory.Sequence(lambda n: f"system-{n}")
    source_of_truth = "Authoritative for orders; search index is derived."


def catalogue() -> CatalogueVersion:
    """The shipped catalogue. Transactional tests flush the tables the data migration filled, so load
    it again when a previous test emptied them."""
    version = CatalogueVersion.objects.filter(published=True).order_by("-number").first()
    if version is None:
        version = load_version(
            1, CatalogueVersion=CatalogueVersion, Category=Category, ChecklistItem=ChecklistItem
        )
    return version


class ReviewFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Review

    system = factory.SubFactory(SystemFactory)
    catalogue = factory.LazyFunction(catalogue)
    release_scope = factory.Sequence(lambda n: f"Release {n}")
    schema_changing = True
    production_traffic = True
    created_by = factory.SubFactory(UserFactory)


def category(review: Review, code: str) -> Category:
    return Category.objects.get(version_id=review.catalogue_id, code=code)


# --- Through the services: evidence and scores, as a member of the team would add them.


def attach(review: Review, code: str, actor, title: str | None = None):
    """A link as evidence of one category."""
    from evidence import services as evidence_services

    return evidence_services.add_link(
        review=review,
        category=category(review, code),
        title=title or f"{code} proof",
        url=f"https://ci.example.com/{code}",
        actor=actor,
    )


def answer_critical(review: Review, actor, answer: str = "yes", codes=None) -> None:
    """The review's critical checklist items (all, or those of `codes`) not answered yet, answered
    `answer`: until they are, each caps its category at 1 in the gate."""
    from reviews import services
    from reviews.models import ChecklistAnswer

    answered = set(ChecklistAnswer.objects.filter(review=review).values_list("item_id", flat=True))
    items = ChecklistItem.objects.filter(
        category__version_id=review.catalogue_id, critical_level__isnull=False
    )
    if codes is not None:
        items = items.filter(code__in=codes)
    for item in items.select_related("category").exclude(pk__in=answered):
        services.answer_item(
            review=review,
            item=item,
            answer=answer,
            actor=actor,
            note="Does not apply" if answer == "na" else "",
        )


def score_all(review: Review, actor, value: int = 2, owner=None) -> None:
    """Every category scored `value`; a 2 or 3 gets a link first where the category has no evidence.
    The critical checklist items not answered yet are answered Yes, so the scores count."""
    from evidence.models import Evidence
    from reviews import services

    answer_critical(review, actor)
    with_evidence = set(Evidence.objects.filter(review=review).values_list("category_id", flat=True))
    for cat in review.catalogue.categories.all():
        if value >= 2 and cat.pk not in with_evidence:
            attach(review, cat.code, actor)
        services.set_score(review=review, category=cat, score=value, actor=actor, owner=owner)
