"""Who sent a request: directory groups (LDAP), Kerberos single sign-on, forwarded headers."""
