# Audit pages per domain and per account: the scopes of an event, and one composite index per
# page (newest first within a scope). Existing rows get their domain and account where the
# object still exists; events of accounts deleted before this migration stay on the
# organization's page only.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models
from django.db.models import BigIntegerField, OuterRef, Subquery
from django.db.models.functions import Cast


def backfill_scopes(apps, schema_editor):
    AuditEvent = apps.get_model("security", "AuditEvent")
    Domain = apps.get_model("domains", "Domain")
    Mailbox = apps.get_model("mailboxes", "Mailbox")
    Preferences = apps.get_model("webmail_settings", "WebmailPreferences")
    events = AuditEvent.objects.exclude(object_id="")
    object_pk = Cast(OuterRef("object_id"), BigIntegerField())
    events.filter(object_type="mailboxes.mailbox").update(
        mailbox_id=Subquery(Mailbox.objects.filter(pk=object_pk).values("pk")[:1])
    )
    events.filter(object_type="webmail_settings.webmailpreferences").update(
        mailbox_id=Subquery(Preferences.objects.filter(pk=object_pk).values("mailbox_id")[:1])
    )
    AuditEvent.objects.filter(mailbox_id__isnull=False).update(
        domain_id=Subquery(Mailbox.objects.filter(pk=OuterRef("mailbox_id")).values("domain_id")[:1])
    )
    events.filter(object_type="domains.domain").update(
        domain_id=Subquery(Domain.objects.filter(pk=object_pk).values("pk")[:1])
    )


class Migration(migrations.Migration):

    dependencies = [
        ('domains', '0003_domain_catchall_target_domain_default_language_and_more'),
        ('mailboxes', '0006_last_login_protocol'),
        ('organizations', '0002_membership'),
        ('security', '0001_initial'),
        ('webmail_settings', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='auditevent',
            name='domain',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='domains.domain'),
        ),
        migrations.AddField(
            model_name='auditevent',
            name='mailbox',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='mailboxes.mailbox'),
        ),
        migrations.AlterField(
            model_name='auditevent',
            name='organization',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, to='organizations.organization'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['organization', 'created_at', 'id'], name='audit_org_time'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['domain', 'created_at', 'id'], name='audit_domain_time'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['mailbox', 'created_at', 'id'], name='audit_mailbox_time'),
        ),
        migrations.AddIndex(
            model_name='auditevent',
            index=models.Index(fields=['actor_label', 'created_at', 'id'], name='audit_actor_time'),
        ),
        migrations.RunPython(backfill_scopes, migrations.RunPython.noop),
    ]
