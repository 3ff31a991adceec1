"""Create an address: for yourself, for invited users, or a generic one; and the invitee's
public acceptance page (the link's token is the only credential)."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import urlencode
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_POST

from domains.services import domain_update_settings
from invitations.access import get_invitation_for_request
from invitations.forms import AcceptForm, CatchAllForm, InviteForm, LocalPartForm, NoReplyForm
from invitations.mail import send_invitation
from invitations.models import Invitation, InvitationState
from invitations.selectors import invitation_by_token
from invitations.services import (
    LINK_UNUSABLE,
    invitation_accept,
    invitation_create,
    invitation_resend,
    invitation_revoke,
)
from mailboxes.models import MailboxKind
from mailboxes.services import mailbox_create
from mailboxes.wizard import Draft
from organizations.access import can_change_domain, get_domain_for_request
from security.audit import Actor
from security.login_views import complete_login
from tempusmail.client_ip import client_ip
from tempusmail.forms import add_service_errors


def _wizard_with(request: HttpRequest, domain, local_part: str) -> HttpResponse:
    """The "+ Email Account" wizard, its address already filled in."""
    draft = Draft.start(request.session, domain)
    draft.set_values("account", {"first_name": "", "last_name": "", "local_part": local_part})
    return redirect("mailbox_wizard_step", domain_id=domain.pk, token=draft.token, step="account")


@login_required
def address_create(request: HttpRequest, domain_id: int) -> HttpResponse:
    """The first step: the address, then for whom."""
    domain = get_domain_for_request(request, domain_id, write=True)
    form = LocalPartForm(request.POST or None, domain=domain,
                         initial={"local_part": request.GET.get("local_part", "")})  # fmt: skip
    if request.method == "POST" and form.is_valid():
        local_part = form.cleaned_data["local_part"]
        if request.POST.get("for") == "users":
            query = urlencode({"local_part": local_part})
            return redirect(f"{reverse('invitation_new', args=[domain.pk])}?{query}")
        return _wizard_with(request, domain, local_part)
    return render(request, "invitations/address_create.html", {"domain": domain, "form": form})


@login_required
def invitation_new(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id, write=True)
    form = InviteForm(request.POST or None, domain=domain,
                      initial={"local_part": request.GET.get("local_part", "")})  # fmt: skip
    if request.method == "POST" and request.POST.get("without_invitation"):
        # Nobody to invite: only the address must be valid; the wizard takes it from here.
        address = LocalPartForm(request.POST, domain=domain)
        if address.is_valid():
            return _wizard_with(request, domain, address.cleaned_data["local_part"])
        form.is_valid()
    elif request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = invitation_create(
                actor=Actor.for_request(request), domain=domain, local_part=data["local_part"],
                invitees=data["invitees"], may_change_password=data["may_change_password"],
                may_forward=data["may_forward"],
            )  # fmt: skip
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            _send_all(request, created)
            return redirect("invitation_list", domain_id=domain.pk)
    context = {"domain": domain, "form": form, "expiry_days": settings.INVITATION_EXPIRY_DAYS}
    return render(request, "invitations/invite.html", context)


def _send_all(request: HttpRequest, created: list[tuple[Invitation, str]]) -> None:
    sent = [inv.email for inv, token in created if send_invitation(inv, token)]
    failed = [inv.email for inv, _ in created if inv.email not in sent]
    if sent:
        messages.success(request, f"Invitation sent to {', '.join(sent)}.")
    if failed:
        messages.error(request, f"The invitation to {', '.join(failed)} could not be sent "
                       "(the mail server refused it): try “Resend” later.")  # fmt: skip


@login_required
def invitation_list(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id)
    invitations = Invitation.objects.for_domain(domain).select_related("domain", "invited_user")
    return render(request, "invitations/list.html", {
        "domain": domain, "invitations": invitations,
        "can_change": can_change_domain(request.user, domain), "pending": InvitationState.PENDING,
    })  # fmt: skip


@login_required
@require_POST
def invitation_resend_view(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_invitation_for_request(request, invitation_id, write=True)
    try:
        token = invitation_resend(actor=Actor.for_request(request), invitation=invitation)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        _send_all(request, [(invitation, token)])
    return redirect("invitation_list", domain_id=invitation.domain_id)


@login_required
@require_POST
def invitation_revoke_view(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_invitation_for_request(request, invitation_id, write=True)
    try:
        invitation_revoke(actor=Actor.for_request(request), invitation=invitation)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, f"The invitation of {invitation.email} is revoked.")
    return redirect("invitation_list", domain_id=invitation.domain_id)


@sensitive_variables()
@sensitive_post_parameters("password1", "password2")
@login_required
@never_cache
def generic_address(request: HttpRequest, domain_id: int) -> HttpResponse:
    """A no-reply address (sends only) or the domain's catch-all."""
    domain = get_domain_for_request(request, domain_id, write=True)
    kind = request.POST.get("kind") if request.method == "POST" else None
    noreply = NoReplyForm(request.POST if kind == "noreply" else None, domain=domain,
                          initial={"local_part": "no-reply"}, prefix="noreply")  # fmt: skip
    catchall = CatchAllForm(request.POST if kind == "catchall" else None, domain=domain,
                            prefix="catchall")  # fmt: skip
    actor = Actor.for_request(request)
    if kind == "noreply" and noreply.is_valid():
        try:
            mailbox = mailbox_create(
                actor=actor, domain=domain, local_part=noreply.cleaned_data["local_part"],
                password=noreply.cleaned_data["password"], kind=MailboxKind.NOREPLY,
            )  # fmt: skip
        except ValidationError as exc:
            add_service_errors(noreply, exc)
        else:
            messages.success(request, f"{mailbox.address} is created: it sends, and refuses "
                             "every message sent to it.")  # fmt: skip
            return redirect("mailbox_list", domain_id=domain.pk)
    if kind == "catchall" and catchall.is_valid():
        target = catchall.cleaned_data["catchall_target"]
        try:
            domain_update_settings(actor=actor, domain=domain, changes={"catchall_target": target})
        except ValidationError as exc:
            add_service_errors(catchall, exc)
        else:
            done = f"now goes to {target}" if target else "is now refused"
            messages.success(request, f"Mail for unknown addresses {done}.")
            return redirect("mailbox_list", domain_id=domain.pk)
    return render(request, "invitations/generic.html",
                  {"domain": domain, "noreply": noreply, "catchall": catchall})  # fmt: skip


def _unusable(request: HttpRequest, invitation: Invitation | None) -> HttpResponse:
    if invitation is None:
        reason, status = "This invitation link is not valid: check that it was copied whole.", 404
    elif invitation.state == InvitationState.ACCEPTED:
        reason, status = "This invitation has already been used: nothing more was created.", 410
    elif invitation.state == InvitationState.REVOKED:
        reason, status = "This invitation has been revoked: nothing was created.", 410
    else:
        reason, status = "This invitation has expired: nothing was created.", 410
    context = {"reason": reason, "hint": LINK_UNUSABLE.split(": nothing was created. ")[-1]}
    return render(request, "invitations/unusable.html", context, status=status)


@sensitive_variables()
@sensitive_post_parameters("password1", "password2")
@never_cache
def invitation_accept_view(request: HttpRequest, invite_token: str) -> HttpResponse:
    """Public: whoever holds the link may create the address (once, before it expires)."""
    invitation = invitation_by_token(invite_token)
    if invitation is None or not invitation.is_open:
        return _unusable(request, invitation)
    form = AcceptForm(request.POST or None, invitation=invitation)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        actor = Actor(label=f"{invitation.email} (invitee)", ip_address=client_ip(request))
        try:
            mailbox = invitation_accept(
                actor=actor, invitation=invitation, first_name=data["first_name"],
                last_name=data["last_name"], phone=data["phone"], password=data["password"],
            )  # fmt: skip
        except ValidationError as exc:
            if exc.messages == [LINK_UNUSABLE]:
                invitation.refresh_from_db()
                return _unusable(request, invitation)
            add_service_errors(form, exc)
        else:
            user = authenticate(request, username=mailbox.address, password=data["password"])
            messages.success(request, f"{mailbox.address} is ready: welcome.")
            if user is None:  # e.g. the account's IP restrictions: log in from elsewhere
                return redirect("login")
            return complete_login(request, user, user.backend, reverse("owner_home"), device=None)
    return render(request, "invitations/accept.html", {"invitation": invitation, "form": form})
