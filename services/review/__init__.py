"""The analysts' review queue: a case store, an HTTP API and web pages, labels out.

``fraudstream run review`` runs it as one process (``service.py``)::

    cases, decisions, transactions,      consumer.py / ingest.py      case store (SQL)
    explanations, user-messages,     ──► one DB transaction per   ──► tables.py; SQLite file
    message-analyses (Kafka)             batch, then the commit       or PostgreSQL (database.py)
                                                                            │
    analysts ──► web/ (FastAPI): /api (Bearer) and pages (cookie) ──► store.py
                 claim / release / verdict: atomic conditional UPDATEs (actions.py)
                                                                            │
    labels topic ◄── publisher.py ◄── label_outbox, written with the verdict (outbox.py)

* Idempotent ingest: cases are insert-or-ignore on tx_id (a redelivered case
  never resets a claim or verdict); explanations and analyses keep the newest.
* Claims lapse after ``review.claim_ttl_s``; of two analysts racing, one wins.
* A verdict, its audit row and its label are one transaction; the label is
  then published from the outbox. A crash between the broker's acknowledgement
  and the "sent" stamp re-sends it; label consumers count it once (the feature
  store dedups on tx_id and verdict).
* Users have salted scrypt hashes and a role (analyst, admin); tokens are
  HMAC-signed and expire; every endpoint but login and the health check
  requires one (``web/auth.py``). Pages run no script at all and say so in
  their Content-Security-Policy; all text is autoescaped.
* The customers' recent activity is bounded per customer and in age
  (``retention.py``).
"""

from __future__ import annotations
