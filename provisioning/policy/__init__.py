"""TempusMail's Postfix policy service: sending limits per account on the submission port.

Postfix asks it at RCPT (`smtpd_recipient_restrictions`) and at END-OF-MESSAGE
(`smtpd_end_of_data_restrictions`), over the policy delegation protocol
(https://www.postfix.org/SMTPD_POLICY_README.html). It refuses a message once the SASL user has
sent their hourly or daily number of messages, and the recipients beyond the per-message limit;
it counts each accepted message in Redis (provisioning/sent_counter.py), where every mail node
and the panel see the same counters (while Redis is away: on the node, merged once it is
back). Limits and account ids come from the files the node agent writes
(provisioning/node/limits.py). Django is not needed while it runs.

- protocol.py: requests in, replies out (pure).
- limits_table.py: the agent's limits files, re-read when they change.
- counters.py: the sent counters in Redis.
- fallback.py, fallback_store.py: the node's own count while Redis is away, and its merge.
- status.py: the status files the node's usage report and node_exporter read.
- decide.py: the decisions.
- server.py: the asyncio server and the process around it.
"""
