"""Webhooks: hosts register URLs for events; deliveries go through a durable outbox.

- ``registration``: the site's webhooks, their URLs, events and secrets.
- ``outbox``: ``emit`` writes one ``WebhookDelivery`` row per subscribed webhook in the caller's
  unit of work, so an event is stored exactly when the change it reports is; the delivery log.
- ``delivery``: one attempt at a delivery, the claim that keeps two workers off the same row, and
  the retry schedule (exponential backoff with jitter until ``WEBHOOK_MAX_ATTEMPTS``). The loop
  that commits each outcome is the job's (``tasks.outbox``).
- ``signing``: ``X-Comments-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`` with
  ``X-Comments-Timestamp: <unix seconds>``; receivers recompute it and refuse old timestamps. For a
  day after a secret is rotated the header carries two signatures, comma-separated (new, old).
"""
