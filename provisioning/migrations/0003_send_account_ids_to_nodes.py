"""Send every domain to its node once more, so the agent writes the accounts' ids into the
policy service's limits files (sent counters are keyed by mailbox id since issue 19).

Until a domain is applied again its node counts by address, under the old keys, which nothing
reads any more and which expire within 24 hours; beat's reconcile sends the bumped domains
within seconds of the deploy.
"""

from django.db import migrations
from django.db.models import F


def bump_every_domain(apps, schema_editor):
    Domain = apps.get_model("domains", "Domain")
    Domain.objects.update(desired_version=F("desired_version") + 1)


class Migration(migrations.Migration):
    dependencies = [
        ("provisioning", "0002_policy_fallback"),
        ("domains", "0006_webmail_format_defaults"),
    ]

    operations = [migrations.RunPython(bump_every_domain, migrations.RunPython.noop)]
