"""The primitives SecAgg is built from, each behind a narrow typed surface (pyca/cryptography).

X25519 key checks (``keys``), HKDF (``kdf``), share encryption (``aead``), mask expansion
(``prg``), Shamir sharing over GF(2^521 - 1) (``shamir``) and the commitments and share digests
that let the server check shares it cannot read (``commitments``).
"""
