"""The Queue pages: a domain's queued mail (its Queue tab) and every node's (provider staff).

They show the panel's snapshot of the nodes' queues (provisioning/queue.py) with the time of
each node's report; "Refresh" asks the nodes again, "Retry now" and "Delete" go to the node as
tasks (audited), and the node reports its queue again afterwards. A domain's page resolves the
domain through organizations.access (another tenant: 404; read-only roles: 403 on actions);
the staff page is a 404 for everyone else, like a missing page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from organizations.access import can_change_domain, get_domain_for_request, is_provider_staff
from provisioning import queue
from provisioning.models import MailNode, QueuedMessage, QueueReport
from security.audit import Actor

ACTION_DONE = {
    "retry": "Retry asked for {id}: the node tries to deliver it now.",
    "delete": "Delete asked for {id}: the node removes it from its queue (no bounce is sent).",
}


@login_required
@require_GET
def domain_queue(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id)
    context = {
        "domain": domain,
        "tab": "queue",
        "queued": queue.queued_for_domains(type(domain).objects.filter(pk=domain.pk)),
        "report": QueueReport.objects.filter(node=domain.node_id).first(),
        "can_change": can_change_domain(request.user, domain),
    }
    return render(request, "provisioning/domain_queue.html", context)


@login_required
@require_POST
def domain_queue_refresh(request: HttpRequest, domain_id: int) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id, write=True)
    queue.request_queue_report(domain.node)
    messages.success(request, f"Asked node {domain.node.name} for its queue.")
    return redirect("domain_queue", domain.pk)


@login_required
@require_POST
def domain_queue_action(
    request: HttpRequest, domain_id: int, queue_id: str, action: str
) -> HttpResponse:
    domain = get_domain_for_request(request, domain_id, write=True)
    found = list(
        queue.queued_for_domains(type(domain).objects.filter(pk=domain.pk))
        .filter(queue_id=queue_id)
        .select_related("domain__organization")
    )
    if not found:
        raise Http404("No such queued message (delivered or deleted meanwhile?).")
    _act(request, action, found)
    return redirect("domain_queue", domain.pk)


@login_required
@require_GET
def staff_queue(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    nodes = list(MailNode.objects.all())
    reports = {r.node_id: r for r in QueueReport.objects.all()}
    by_node: dict[int, list[QueuedMessage]] = {node.pk: [] for node in nodes}
    for message in QueuedMessage.objects.select_related("node", "domain"):
        by_node[message.node_id].append(message)
    sections = [(node, reports.get(node.pk), by_node[node.pk]) for node in nodes]
    return render(request, "provisioning/staff_queue.html", {"sections": sections})


@login_required
@require_POST
def staff_queue_refresh(request: HttpRequest) -> HttpResponse:
    _staff_only(request)
    asked = queue.request_queue_reports()
    messages.success(request, f"Asked {asked} node(s) for their queues.")
    return redirect("staff_queue")


@login_required
@require_POST
def staff_queue_action(
    request: HttpRequest, node_name: str, queue_id: str, action: str
) -> HttpResponse:
    _staff_only(request)
    message = get_object_or_404(
        QueuedMessage.objects.select_related("node", "domain__organization"),
        node__name=node_name,
        queue_id=queue_id,
    )
    _act(request, action, [message])
    return redirect(reverse("staff_queue") + f"#node-{message.node.name}")


def _staff_only(request: HttpRequest) -> None:
    if not is_provider_staff(request.user):
        raise Http404("No such page.")


def _act(request: HttpRequest, action: str, found: list[QueuedMessage]) -> None:
    if action not in ACTION_DONE:
        raise Http404("No such action.")
    try:
        queue.queue_act(actor=Actor.for_request(request), action=action, messages=found)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, ACTION_DONE[action].format(id=found[0].queue_id))
