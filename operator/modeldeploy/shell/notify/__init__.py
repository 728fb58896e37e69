"""Notifications to webhooks: what is said and to whom (`message`, pure) and how it is sent,
off the reconcile path (`sender`)."""
