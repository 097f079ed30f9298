"""A stateful recommendation service: the client sends a session id and the new item, the
service keeps the session (:mod:`.store`), answers from the served model (:mod:`.models`)
over HTTP (:mod:`.app`), and swaps in newer saved versions without failing a request.
``python -m session_recs serve`` starts it (:mod:`.command`)."""
