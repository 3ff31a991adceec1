"""Organization.account_count, filled from the accounts that exist (issue 21)."""

from django.db import migrations, models
from django.db.models import Count


def count_accounts(apps, schema_editor):
    Organization = apps.get_model("organizations", "Organization")
    Mailbox = apps.get_model("mailboxes", "Mailbox")
    counts = Mailbox.objects.values("domain__organization").annotate(n=Count("id"))
    for row in counts:
        Organization.objects.filter(pk=row["domain__organization"]).update(account_count=row["n"])


class Migration(migrations.Migration):
    dependencies = [
        ("organizations", "0004_two_factor_policy"),
        ("mailboxes", "0009_owner_permissions"),
    ]

    operations = [
        migrations.AddField(
            model_name="organization",
            name="account_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.RunPython(count_accounts, migrations.RunPython.noop),
    ]
