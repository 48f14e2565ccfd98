"""The review of comments by people: who may review what (``access``), the queues and what waits
in them (``queue``), the moderator's decisions (``decisions``) and the audit log's reads
(``audit_log``; ``services.audit`` stays its one writer).

The moderation API and the dashboard both call these modules; neither holds a rule of its own.
"""
