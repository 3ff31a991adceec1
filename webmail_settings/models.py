# Identities, signatures and webmail preferences arrive with the self-service issue.
