"""The "+ Email Account" wizard: one form per step, and the draft it keeps in the session.

Nothing is written to the database before the summary is confirmed. Until then a draft lives in
the session under its own token (several wizards may run side by side in one session); it holds
what each step's fields display (JSON: strings, booleans), the password (needed until confirm,
dropped with the draft), and how far the admin got. The forms re-validate every step at the
summary and at confirm, so an address taken meanwhile sends the admin back to step 1.

forms.py: the steps and their forms; draft.py: the session draft; flow.py: between the two.
"""

from mailboxes.wizard.draft import Draft, created_mailbox_id, remember_created
from mailboxes.wizard.flow import (
    account_limit_reached,
    as_form_data,
    create_arguments,
    displayed_values,
    step_form,
    validate_draft,
)
from mailboxes.wizard.forms import (
    STEP_SLUGS,
    STEPS,
    SUMMARY,
    AccountStepForm,
    service_errors_by_step,
)

__all__ = [
    "STEPS",
    "STEP_SLUGS",
    "SUMMARY",
    "AccountStepForm",
    "Draft",
    "account_limit_reached",
    "as_form_data",
    "create_arguments",
    "created_mailbox_id",
    "displayed_values",
    "remember_created",
    "service_errors_by_step",
    "step_form",
    "validate_draft",
]
