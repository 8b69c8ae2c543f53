"""Which team role a group of the company's identity provider gives (the sign-in's groups claim)."""

from django.db import models

from reviews.models import Role, Team


class GroupRoleMapping(models.Model):
    """Members of `group` (a value of the groups claim) get `role` in `team` at every single sign-on.

    A team named by any mapping is governed by the mappings: at each sign-on a user's role in it is set
    from their groups, and removed when none of their groups maps to it. Teams no mapping names are left
    alone (roles given in the admin stay)."""

    group = models.CharField(max_length=255, help_text="The group's name exactly as the provider sends it.")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="group_mappings")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        ordering = ["group", "team__name"]
        constraints = [
            models.UniqueConstraint(fields=["group", "team"], name="group_role_mapping_one_role_per_team"),
            models.CheckConstraint(
                condition=models.Q(role__in=Role.values), name="group_role_mapping_role_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.group} → {self.get_role_display()} of {self.team}"
