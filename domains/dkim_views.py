"""The domain's DKIM & spam tab: its keys, the TXT records to publish, generate / rotate /
activate; and the spam scores of its inbound mail."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from domains.dkim_forms import DkimActionForm, SpamScoresForm
from domains.dkim_services import dkim_activate, dkim_generate, dkim_records, dkim_rotate
from domains.spam_services import domain_set_spam_scores
from organizations.access import can_change_domain, get_domain_for_request
from provisioning.mailstack import rspamd
from provisioning.node.paths import NodePaths
from provisioning.services import local_mode
from security.audit import Actor
from tempusmail.forms import add_service_errors


def _node_problem() -> str:
    """Why the node would not sign, when the panel can see it: the node is this machine."""
    if not local_mode():
        return ""
    missing = rspamd.missing()
    if missing:
        return f"The mail node cannot sign: {missing}."
    if rspamd.rspamd_pid(NodePaths(settings.MAILNODE_DIR)) is None:
        return "rspamd is not running on the mail node: mail goes out unsigned until it is."
    return ""


@login_required
def domain_dkim(request: HttpRequest, domain_id: int) -> HttpResponse:
    writing = request.method == "POST"
    domain = get_domain_for_request(request, domain_id, write=writing)
    spam_posted = writing and "spam_junk_score" in request.POST
    initial = {"spam_junk_score": domain.spam_junk_score,
               "spam_reject_score": domain.spam_reject_score}  # fmt: skip
    spam_form = SpamScoresForm(request.POST if spam_posted else None, initial=initial)
    form = DkimActionForm(request.POST if writing and not spam_posted else None)
    if spam_posted and spam_form.is_valid():
        try:
            domain_set_spam_scores(
                actor=Actor.for_request(request),
                domain=domain,
                junk=spam_form.cleaned_data["spam_junk_score"],
                reject=spam_form.cleaned_data["spam_reject_score"],
            )
        except ValidationError as exc:
            add_service_errors(spam_form, exc)
        else:
            messages.success(request, f"The spam scores of {domain.display_name} are saved.")
            return redirect("domain_dkim", domain_id=domain.pk)
    elif writing and not spam_posted and form.is_valid():
        data, actor = form.cleaned_data, Actor.for_request(request)
        try:
            if data["action"] == "generate":
                key = dkim_generate(actor=actor, domain=domain, algorithm=data["algorithm"])
            elif data["action"] == "rotate":
                key = dkim_rotate(actor=actor, domain=domain, algorithm=data["algorithm"])
            else:
                key = dkim_activate(actor=actor, domain=domain, selector=data["selector"])
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if key.state == "active":
                note = f"{domain.display_name} is signed with {key.selector} once applied."
            else:
                note = f"Publish the record of {key.selector}, then activate it."
            messages.success(request, note)
            return redirect("domain_dkim", domain_id=domain.pk)
    can_change = writing or can_change_domain(request.user, domain)
    if not can_change:
        for field in spam_form.fields.values():
            field.disabled = True
    records = dkim_records(domain)
    return render(
        request,
        "domains/domain_dkim.html",
        {
            "domain": domain,
            "tab": "dkim",
            "form": form,
            "spam_form": spam_form,
            "records": records,
            "waiting": [r for r in records if r.state == "next"],
            "signing": [r for r in records if r.signing],
            "can_change": can_change,
            "node_problem": _node_problem() if records else "",
        },
    )
