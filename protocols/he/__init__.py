"""Secure sum with homomorphic encryption (TenSEAL BFV): exact integer sums, one shared key.

Why a second path beside SecAgg: it has no pairwise setup and no unmasking round, so a client's
work does not grow with the cohort and any dropout is free; the price is a much larger upload
(about 11.5 bytes per entry at N=8192 against b/8 for SecAgg) and a weaker trust model.

Trust model (read this before choosing it):

- TenSEAL has no threshold decryption. One designated **key generator** (the lowest client id)
  makes a BFV key pair each round and hands the full secret context to every **key holder**
  (by default every client) over an authenticated, confidential channel. In this in-process
  driver that channel is simulated: the bundles are bytes handed over directly (their sizes are
  counted), not encrypted to each recipient.
- The server gets only the encryption parameters (a context serialized with
  ``save_secret_key=False`` and without the public key); it refuses a context where
  ``is_private()`` is true. It can add ciphertexts but neither encrypt nor decrypt.
- **Any key holder colluding with the server can decrypt every individual input.** SecAgg's
  "fewer than t colluders learn nothing" does not hold here: the collusion threshold is one.
  ``key_holders=k`` shrinks the set of clients that could do so (the others get a public context
  and can only encrypt), at the cost that the round aborts if no key holder is left to decrypt.
- One surviving key holder (the **decryptor**) decrypts the aggregate and sends the plaintext
  counts to the server, so the server learns the same thing as with SecAgg: the sum and who
  uploaded. The decryptor could lie about the sum, and the server could alter the aggregate;
  neither is detected beyond a range check (honest-but-curious parties only).
- Dropouts (this path's own phases, :func:`phase_names`: ``upload``, ``decrypt``): a client that
  drops before its upload is missing from the sum; one that drops after it is still counted (its
  ciphertext is already in the aggregate).

Exactness: BFV is exact only while the noise stays below its budget and the true sum stays below
the plain modulus t. :class:`HEParams` refuses ``n * max_value >= t`` and a t that is not a prime
``= 1 mod 2N`` (needed for batching); the key generator then runs a noise self-test (adding one
ciphertext to itself until it stands for at least 2n copies, which bounds the noise of n fresh
ciphertexts) and refuses parameters that fail it, e.g. N=4096, t=40961, coeff [30, 30].

Wire format: TenSEAL's own serialization inside a small checked frame (``frames``). Vectors longer
than N slots are split into ceil(d / N) ciphertexts.

Modules: ``errors``, ``params`` (HEParams, the session id), ``frames``, ``backend`` (TenSEAL),
``keys`` (generation and bundles), ``client``, ``server``, ``driver`` (``run_he_sum``, in-process).
"""

from prism_secure.protocols.he.client import HEClient, check_input
from prism_secure.protocols.he.driver import HE_PHASES, phase_names, run_he_sum
from prism_secure.protocols.he.errors import (
    HEDecryptionError,
    HEInputError,
    HEParameterError,
    NoiseBudgetError,
    PlainModulusTooSmallError,
)
from prism_secure.protocols.he.keys import KeyBundle, KeySetup, generate_keys, noise_self_test
from prism_secure.protocols.he.params import HEParams, session_id
from prism_secure.protocols.he.server import HEServer

__all__ = [
    "HE_PHASES",
    "HEClient",
    "HEDecryptionError",
    "HEInputError",
    "HEParameterError",
    "HEParams",
    "HEServer",
    "KeyBundle",
    "KeySetup",
    "NoiseBudgetError",
    "PlainModulusTooSmallError",
    "check_input",
    "generate_keys",
    "noise_self_test",
    "phase_names",
    "run_he_sum",
    "session_id",
]
