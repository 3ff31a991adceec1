"""What other apps may follow about accounts without mailboxes depending on them.

account_saved(mailbox, actor, created, changed): sent by mailbox_create (created=True) and
mailbox_update (changed: the fields that changed), inside their transaction. Receivers that
derive data from an account (corporate signatures fill in its names) keep it in step here.
"""

from django.dispatch import Signal

account_saved = Signal()
