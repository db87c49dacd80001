"""Users, roles, passwords, API tokens, the audit log and the scoping helper."""
