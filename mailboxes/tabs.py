"""The account page's tabs, for every app that renders one of them (the Audit tab is
security's): templates get them from the `account_tabs` tag, so no view passes them on."""

# (key, label, URL name), in page order.
TABS = [
    ("general", "General", "mailbox_detail"),
    ("forwarding", "Forwarding", "mailbox_forwarding"),
    ("security", "Security", "mailbox_security"),
    ("autoresponder", "Autoresponder", "mailbox_autoresponder"),
    ("webmail", "Webmail settings", "mailbox_webmail"),
    ("contact", "Contact details", "mailbox_contact_details"),  # webmail_settings: signatures
    ("audit", "Audit", "mailbox_audit"),  # security/audit_views.py
]
