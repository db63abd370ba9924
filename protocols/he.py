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
- Dropouts: a client that drops before its upload is simply missing from the sum; a client that
  drops after its upload is still counted (its ciphertext is already in the aggregate).

Exactness: BFV is exact only while the noise stays below its budget and the true sum stays below
the plain modulus t. :class:`HEParams` refuses ``n * max_value >= t`` and a t that is not a prime
``= 1 mod 2N`` (needed for batching); the key generator then runs a noise self-test (adding one
ciphertext to itself until it stands for at least 2n copies, which bounds the noise of n fresh
ciphertexts) and refuses parameters that fail it, e.g. N=4096, t=40961, coeff [30, 30].

Wire format: TenSEAL's own serialization inside a small frame (magic, version, kind, session id,
vector length, summands, parts, then SHA-256 over all of it). Never pickle. The checksum catches
corruption (TenSEAL accepts many flipped bits and decrypts garbage) and mix-ups between rounds,
keys or models through the session id; it is not a MAC, so a forger is not stopped: use an
authenticated transport. Vectors longer than N slots are split into ceil(d / N) ciphertexts.
"""

from __future__ import annotations

import hashlib
import math
import os
import statistics
import struct
import time
from dataclasses import dataclass

import numpy as np

from prism_secure.protocols.driver import SecureSumResult
from prism_secure.protocols.errors import (
    AbortedError,
    MessageError,
    ReplayError,
    SecAggError,
)
from prism_secure.protocols.server import PHASES as SECAGG_PHASES

try:
    import tenseal as ts
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the homomorphic secure sum needs TenSEAL: pip install 'prism-secure[he]'"
    ) from exc

# Phases at which a client can vanish on this path, in order (keys of ``dropouts``).
HE_PHASES = ("upload", "decrypt")

# SecAgg phase names map onto the one thing that matters here: did the ciphertext reach the server?
# advertise/share/masked all happen before SecAgg's masked-input upload, so the client's input is
# missing; consistency/unmask come after it, so the client is counted.
PHASE_MAP: dict[str, str] = {
    "advertise": "upload",
    "share": "upload",
    "masked": "upload",
    "consistency": "decrypt",
    "unmask": "decrypt",
    "upload": "upload",
    "decrypt": "decrypt",
}
assert set(SECAGG_PHASES) <= set(PHASE_MAP)

MAGIC = b"PHE"
VERSION = 1
KIND_KEYS, KIND_UPLOAD, KIND_AGGREGATE, KIND_RESULT = 1, 2, 3, 4
_HEADER = struct.Struct(">3sBB32sQII")  # magic, version, kind, session, length, summands, parts
_PART = struct.Struct(">I")
_DIGEST = 32
MAX_PART = 1 << 26  # 64 MiB: far above one ciphertext, far below a memory-exhausting claim


class HEParameterError(SecAggError, ValueError):
    """Encryption parameters that cannot give an exact sum; nothing was encrypted."""


class PlainModulusTooSmallError(HEParameterError):
    """``n * max_value >= plain_modulus``: the sum could wrap and come back wrong."""


class NoiseBudgetError(HEParameterError):
    """The key generator's noise self-test failed: sums of this many clients would be wrong."""


class HEInputError(SecAggError, ValueError):
    """A client's vector is not 1-D, of the agreed length, with integers in ``[0, max_value]``."""


class HEDecryptionError(SecAggError):
    """Decryption is impossible (no secret key) or gave values outside ``[0, summands*max]``.

    Out-of-range values mean noise overflow, a ciphertext under other keys, or an altered aggregate.
    """


def phase_of(name: str) -> str:
    """The HE phase (``"upload"`` or ``"decrypt"``) a SecAgg or HE phase name stands for."""
    try:
        return PHASE_MAP[name]
    except KeyError:
        raise ValueError(f"unknown phase {name!r}; use one of {sorted(PHASE_MAP)}") from None


def _is_prime(n: int) -> bool:
    """Deterministic Miller-Rabin for n < 3.3e24 (covers every 64-bit plain modulus)."""
    if n < 2:
        return False
    small = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41)
    for p in small:
        if n % p == 0:
            return n == p
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in small:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


@dataclass(frozen=True)
class HEParams:
    """Public parameters every party agrees on; construction refuses sums that could be wrong."""

    length: int
    clients: int
    max_value: int = 1
    poly_modulus_degree: int = 8192
    plain_modulus: int = 65537
    coeff_mod_bit_sizes: tuple[int, ...] = (40, 40)

    def __post_init__(self) -> None:
        n_deg, t = self.poly_modulus_degree, self.plain_modulus
        if self.length < 1 or self.clients < 1 or self.max_value < 0:
            raise HEParameterError(
                f"need length >= 1, clients >= 1, max_value >= 0; got {self.length}, "
                f"{self.clients}, {self.max_value}"
            )
        if n_deg < 1024 or n_deg > 32768 or n_deg & (n_deg - 1):
            raise HEParameterError(f"poly_modulus_degree must be 2^10..2^15, got {n_deg}")
        if not _is_prime(t) or t % (2 * n_deg) != 1:
            raise HEParameterError(
                f"plain_modulus {t} must be a prime = 1 mod 2N = {2 * n_deg} (BFV batching)"
            )
        if self.max_sum >= t:
            raise PlainModulusTooSmallError(
                f"plain_modulus {t} does not exceed the largest possible sum "
                f"{self.clients} clients x {self.max_value} = {self.max_sum}; pick a larger t"
            )

    @property
    def max_sum(self) -> int:
        return self.clients * self.max_value

    @property
    def chunks(self) -> int:
        """Ciphertexts per vector: one per N slots."""
        return math.ceil(self.length / self.poly_modulus_degree)

    def slots(self, chunk: int) -> int:
        n_deg = self.poly_modulus_degree
        return min(n_deg, self.length - chunk * n_deg)

    @property
    def result_dtype(self) -> np.dtype:
        """Narrowest little-endian unsigned dtype for the plaintext counts sent to the server."""
        for dt in ("<u1", "<u2", "<u4", "<u8"):
            if self.max_sum <= np.iinfo(np.dtype(dt)).max:
                return np.dtype(dt)
        raise HEParameterError("max_sum does not fit 64 bits")  # pragma: no cover

    def digest(self) -> bytes:
        text = repr(
            (
                self.length,
                self.clients,
                self.max_value,
                self.poly_modulus_degree,
                self.plain_modulus,
                tuple(self.coeff_mod_bit_sizes),
            )
        )
        return hashlib.sha256(b"prism-he/v1/params\x00" + text.encode()).digest()


def session_id(params: HEParams, *, round_index: int, model_digest: bytes, key_id: bytes) -> bytes:
    """Binds a frame to the round, the model the client received, the keys, and the parameters."""
    h = hashlib.sha256(b"prism-he/v1/session\x00")
    h.update(struct.pack(">Q", round_index))
    h.update(hashlib.sha256(model_digest).digest())
    h.update(key_id)
    h.update(params.digest())
    return h.digest()


# --- frames -------------------------------------------------------------------------------------


def encode_frame(
    kind: int, session: bytes, length: int, summands: int, parts: list[bytes]
) -> bytes:
    """Header, length-prefixed parts, then SHA-256 over everything before it."""
    out = bytearray(_HEADER.pack(MAGIC, VERSION, kind, session, length, summands, len(parts)))
    for part in parts:
        out += _PART.pack(len(part))
        out += part
    out += hashlib.sha256(out).digest()
    return bytes(out)


@dataclass(frozen=True)
class Frame:
    kind: int
    session: bytes
    length: int
    summands: int
    parts: list[bytes]


def decode_frame(data: bytes, *, kind: int, session: bytes | None = None) -> Frame:
    """Parse and check a frame; any defect is a :class:`MessageError` naming the field."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MessageError("frame", f"expected bytes, got {type(data).__name__}")
    buf = memoryview(bytes(data))
    if len(buf) < _HEADER.size + _DIGEST:
        raise MessageError("frame", f"truncated: {len(buf)} bytes")
    body, check = buf[:-_DIGEST], buf[-_DIGEST:]
    if hashlib.sha256(body).digest() != bytes(check):
        raise MessageError("checksum", "SHA-256 mismatch: corrupted or truncated bytes")
    magic, version, got_kind, sess, length, summands, nparts = _HEADER.unpack_from(body)
    if magic != MAGIC:
        raise MessageError("magic", "not a prism-secure HE frame")
    if version != VERSION:
        raise MessageError("version", f"unsupported version {version}")
    if got_kind != kind:
        raise MessageError("kind", f"expected kind {kind}, got {got_kind}")
    if session is not None and sess != session:
        raise MessageError("session", "frame belongs to another round, model or key set")
    pos, parts = _HEADER.size, []
    for i in range(nparts):
        if pos + _PART.size > len(body):
            raise MessageError(f"parts[{i}]", "truncated length prefix")
        (size,) = _PART.unpack_from(body, pos)
        pos += _PART.size
        if size > MAX_PART or pos + size > len(body):
            raise MessageError(f"parts[{i}]", f"length {size} runs past the frame")
        parts.append(bytes(body[pos : pos + size]))
        pos += size
    if pos != len(body):
        raise MessageError("frame", f"{len(body) - pos} trailing bytes")
    return Frame(got_kind, bytes(sess), length, summands, parts)


def _load_context(data: bytes, field_name: str) -> ts.Context:
    try:
        return ts.context_from(data, n_threads=1)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise MessageError(field_name, f"not a TenSEAL context: {exc}") from None


def _load_vector(ctx: ts.Context, data: bytes, expected: int, field_name: str) -> ts.BFVVector:
    try:
        vec = ts.bfv_vector_from(ctx, data)
        size = vec.size()
    except (ValueError, RuntimeError, TypeError) as exc:
        raise MessageError(
            field_name, f"not a BFV ciphertext under these parameters: {exc}"
        ) from None
    if size != expected:
        raise MessageError(field_name, f"ciphertext holds {size} slots, expected {expected}")
    return vec


# --- keys ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyBundle:
    """What one party receives from the key generator: a key id and a serialized context."""

    key_id: bytes
    context: bytes

    def to_bytes(self, params: HEParams) -> bytes:
        return encode_frame(KIND_KEYS, self.key_id, params.length, 0, [self.context])

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyBundle:
        frame = decode_frame(data, kind=KIND_KEYS)
        if len(frame.parts) != 1:
            raise MessageError("parts", "a key bundle has exactly one context")
        return cls(frame.session, frame.parts[0])


@dataclass
class KeySetup:
    """The key generator's output: one bundle per client (secret or public) and the server's."""

    params: HEParams
    key_id: bytes
    client_bundles: dict[int, bytes]
    server_bundle: bytes
    holders: list[int]
    seconds: float = 0.0


def _make_context(params: HEParams) -> ts.Context:
    try:
        return ts.context(
            ts.SCHEME_TYPE.BFV,
            poly_modulus_degree=params.poly_modulus_degree,
            plain_modulus=params.plain_modulus,
            coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
            n_threads=1,
        )
    except (ValueError, RuntimeError, TypeError) as exc:
        raise HEParameterError(f"TenSEAL refused the parameters: {exc}") from None


def noise_self_test(ctx: ts.Context, params: HEParams, summands: int, seed: int = 0) -> None:
    """Refuse (:class:`NoiseBudgetError`) unless 2^j >= 2 * summands copies decrypt exactly.

    Doubling one ciphertext adds its noise coherently, the worst case for a sum of fresh
    ciphertexts of equal noise bound; the factor 2 is a safety margin. Needs the secret key.
    """
    t = params.plain_modulus
    rng = np.random.default_rng(seed)
    x = rng.integers(0, t, params.poly_modulus_degree, dtype=np.int64)
    vec = ts.bfv_vector(ctx, x.tolist())
    expected = x.copy()
    for _ in range(max(1, (2 * summands - 1).bit_length())):
        vec = vec + vec
        expected = (expected * 2) % t
    got = np.mod(np.asarray(vec.decrypt(), dtype=np.int64), t)
    if not np.array_equal(got, expected):
        raise NoiseBudgetError(
            f"BFV N={params.poly_modulus_degree}, t={t}, coeff {list(params.coeff_mod_bit_sizes)} "
            f"gives wrong sums for {summands} clients (noise budget exhausted); use a larger "
            "coefficient modulus, e.g. N=8192 with [40, 40]"
        )


def generate_keys(
    params: HEParams,
    clients: list[int],
    *,
    holders: list[int] | None = None,
    self_test: bool = True,
) -> KeySetup:
    """Run by the key generator: fresh keys, the noise self-test, and every party's bundle.

    ``holders`` get the secret context, other clients a public one (encrypt only), the server the
    parameters alone (no public key, no secret key).
    """
    start = time.perf_counter()
    holders = sorted(clients) if holders is None else sorted(holders)
    if not set(holders) <= set(clients) or not holders:
        raise HEParameterError(f"key holders {holders} must be a non-empty subset of the clients")
    ctx = _make_context(params)
    if self_test:
        noise_self_test(ctx, params, params.clients)
    key_id = os.urandom(32)
    secret = ctx.serialize(
        save_public_key=True, save_secret_key=True, save_galois_keys=False, save_relin_keys=False
    )
    public = ctx.serialize(
        save_public_key=True, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
    )
    server = ctx.serialize(
        save_public_key=False, save_secret_key=False, save_galois_keys=False, save_relin_keys=False
    )
    bundles = {
        c: KeyBundle(key_id, secret if c in holders else public).to_bytes(params) for c in clients
    }
    return KeySetup(
        params=params,
        key_id=key_id,
        client_bundles=bundles,
        server_bundle=KeyBundle(key_id, server).to_bytes(params),
        holders=holders,
        seconds=time.perf_counter() - start,
    )


# --- parties ------------------------------------------------------------------------------------


class HEClient:
    """One client: encrypts its vector chunk by chunk; a key holder can also decrypt the sum."""

    def __init__(
        self,
        cid: int,
        vector: np.ndarray,
        params: HEParams,
        bundle: bytes,
        *,
        round_index: int,
        model_digest: bytes,
    ) -> None:
        self.cid, self.params = cid, params
        self.vector = check_input(vector, params, cid)
        keys = KeyBundle.from_bytes(bundle)
        self.ctx = _load_context(keys.context, "context")
        self.session = session_id(
            params, round_index=round_index, model_digest=model_digest, key_id=keys.key_id
        )
        self.encrypt_seconds = 0.0

    @property
    def is_key_holder(self) -> bool:
        return bool(self.ctx.is_private())

    def upload(self) -> bytes:
        """The encrypted vector as one frame: all chunks or none, never half a client in a sum."""
        start = time.perf_counter()
        n_deg, p = self.params.poly_modulus_degree, self.params
        parts = [
            ts.bfv_vector(self.ctx, self.vector[i * n_deg : (i + 1) * n_deg]).serialize()
            for i in range(p.chunks)
        ]
        frame = encode_frame(KIND_UPLOAD, self.session, p.length, 1, parts)
        self.encrypt_seconds = time.perf_counter() - start
        return frame

    def decrypt(self, aggregate: bytes) -> bytes:
        """Decrypt the server's aggregate and return the plaintext counts frame for the server."""
        if not self.is_key_holder:
            raise HEDecryptionError(f"client {self.cid} holds no secret key")
        p = self.params
        frame = decode_frame(aggregate, kind=KIND_AGGREGATE, session=self.session)
        if frame.length != p.length or len(frame.parts) != p.chunks:
            raise MessageError("parts", f"aggregate has {len(frame.parts)} parts, need {p.chunks}")
        if not 1 <= frame.summands <= p.clients:
            raise MessageError("summands", f"{frame.summands} outside 1..{p.clients}")
        values = np.empty(p.length, dtype=np.int64)
        n_deg = p.poly_modulus_degree
        for i, part in enumerate(frame.parts):
            vec = _load_vector(self.ctx, part, p.slots(i), f"parts[{i}]")
            values[i * n_deg : i * n_deg + p.slots(i)] = vec.decrypt()
        values = np.mod(values, p.plain_modulus)  # SEAL decodes to the centred range
        bound = frame.summands * p.max_value
        if values.size and int(values.max()) > bound:
            raise HEDecryptionError(
                f"decrypted counts exceed {frame.summands} x {p.max_value} = {bound}: noise "
                "overflow, ciphertexts under other keys, or an altered aggregate"
            )
        data = values.astype(p.result_dtype).tobytes()
        return encode_frame(KIND_RESULT, self.session, p.length, frame.summands, [data])


def check_input(vector: np.ndarray, params: HEParams, cid: int) -> np.ndarray:
    """A 1-D int64 copy of ``vector`` after checking length, dtype and range."""
    v = np.asarray(vector)
    if v.ndim != 1 or v.shape[0] != params.length:
        raise HEInputError(f"client {cid}: vector shape {v.shape}, expected ({params.length},)")
    if not (np.issubdtype(v.dtype, np.integer) or v.dtype == np.bool_):
        raise HEInputError(f"client {cid}: dtype {v.dtype} is not an integer type")
    v = v.astype(np.int64)
    if v.size and (int(v.min()) < 0 or int(v.max()) > params.max_value):
        raise HEInputError(f"client {cid}: values outside [0, {params.max_value}]")
    return v


class HEServer:
    """Adds ciphertexts it cannot read; learns the sum only from the decryptor's result frame."""

    def __init__(
        self,
        params: HEParams,
        bundle: bytes,
        *,
        round_index: int,
        model_digest: bytes,
        clients: list[int],
        min_survivors: int = 2,
    ) -> None:
        keys = KeyBundle.from_bytes(bundle)
        self.ctx = _load_context(keys.context, "context")
        if self.ctx.is_private():
            raise HEParameterError("the server's context holds a secret key: refusing it")
        self.params, self.clients = params, set(clients)
        self.min_survivors = min_survivors
        self.session = session_id(
            params, round_index=round_index, model_digest=model_digest, key_id=keys.key_id
        )
        self.acc: list[ts.BFVVector] | None = None
        self.survivors: list[int] = []
        self.total: np.ndarray | None = None
        self.seconds = 0.0

    def receive(self, cid: int, data: bytes) -> None:
        """Add one client's upload. Bad bytes raise :class:`MessageError`, state unchanged."""
        start = time.perf_counter()
        try:
            if cid not in self.clients:
                raise MessageError("sender", f"client {cid} is not in this round's cohort")
            if cid in self.survivors:
                raise ReplayError(f"client {cid} already uploaded")
            if self.total is not None:
                raise ReplayError("the aggregate was already decrypted")
            p = self.params
            frame = decode_frame(data, kind=KIND_UPLOAD, session=self.session)
            if frame.length != p.length or frame.summands != 1 or len(frame.parts) != p.chunks:
                raise MessageError(
                    "parts", f"upload of length {frame.length} in {len(frame.parts)} parts"
                )
            vecs = [
                _load_vector(self.ctx, part, p.slots(i), f"parts[{i}]")
                for i, part in enumerate(frame.parts)
            ]
            if self.acc is None:
                self.acc = vecs
            else:
                for a, v in zip(self.acc, vecs, strict=True):
                    a.add_(v)
            self.survivors.append(cid)
        finally:
            self.seconds += time.perf_counter() - start

    def aggregate(self) -> bytes:
        """The summed ciphertexts for the decryptor; aborts below ``min_survivors`` uploads."""
        start = time.perf_counter()
        if len(self.survivors) < self.min_survivors or self.acc is None:
            raise AbortedError(
                f"{len(self.survivors)} uploads, need at least {self.min_survivors}",
                phase="upload",
            )
        parts = [a.serialize() for a in self.acc]
        out = encode_frame(
            KIND_AGGREGATE, self.session, self.params.length, len(self.survivors), parts
        )
        self.seconds += time.perf_counter() - start
        return out

    def receive_result(self, data: bytes) -> np.ndarray:
        """The decryptor's plaintext counts, checked against shape and range, as int64."""
        start = time.perf_counter()
        p = self.params
        frame = decode_frame(data, kind=KIND_RESULT, session=self.session)
        dt = p.result_dtype
        if frame.summands != len(self.survivors) or len(frame.parts) != 1:
            raise MessageError("summands", "result does not match the aggregate sent")
        if len(frame.parts[0]) != p.length * dt.itemsize:
            raise MessageError("parts[0]", f"{len(frame.parts[0])} bytes for {p.length} counts")
        total = np.frombuffer(frame.parts[0], dtype=dt).astype(np.int64)
        if total.size and int(total.max()) > len(self.survivors) * p.max_value:
            raise MessageError("parts[0]", "a count exceeds survivors x max_value")
        self.total = total
        self.seconds += time.perf_counter() - start
        return total


# --- in-process driver --------------------------------------------------------------------------


class HESumResult(SecureSumResult):
    """:class:`SecureSumResult` plus what only the HE path has.

    ``bits`` is the plain modulus' bit length. ``bytes_up/down_per_client`` include the key
    bundles (the key generator uploads one per party, each client downloads its own, as if relayed
    through the server end to end encrypted; that encryption's overhead is not counted), the
    upload frame, and for the decryptor the aggregate (down) and the counts (up).
    """

    key_generator: int
    decryptor: int
    key_holders: list[int]
    key_bundle_bytes: dict[int, int]  # received in key distribution (0 for the key generator)
    upload_bytes: dict[int, int]  # each uploader's ciphertext frame
    aggregate_bytes: int  # the summed ciphertexts sent to the decryptor
    result_bytes: int  # the plaintext counts the decryptor sends to the server
    server_bundle_bytes: int
    ciphertexts_per_client: int
    client_encrypt_seconds: float  # median over uploaders
    keygen_seconds: float
    decrypt_seconds: float
    poly_modulus_degree: int
    plain_modulus: int


def run_he_sum(
    inputs: dict[int, np.ndarray],
    *,
    round_index: int,
    model_digest: bytes,
    dropouts: dict[int, str] | None = None,
    poly_modulus_degree: int = 8192,
    plain_modulus: int = 65537,
    coeff_mod_bit_sizes: tuple[int, ...] = (40, 40),
    max_value: int = 1,
    min_survivors: int = 2,
    key_holders: int | None = None,
    keys: KeySetup | None = None,
) -> HESumResult:
    """Sum ``inputs`` (client id -> integers in ``[0, max_value]``) under BFV; see the module doc.

    ``dropouts`` maps a client to the phase whose message it never sends: ``"upload"`` (or SecAgg's
    advertise/share/masked) leaves it out of the sum; ``"decrypt"`` (or consistency/unmask) keeps it
    in. ``key_holders=k`` gives the secret key to the k lowest ids only (default: every client).
    Fewer than ``min_survivors`` uploads, or no key holder left, raise :class:`AbortedError`.
    ``keys``: a :class:`KeySetup` from :func:`generate_keys` for exactly these parameters and
    clients (to time key generation apart); its distribution is still counted in the bytes.
    """
    if not inputs:
        raise HEInputError("inputs is empty")
    ids = sorted(int(c) for c in inputs)
    lengths = {np.asarray(v).shape[0] if np.asarray(v).ndim else -1 for v in inputs.values()}
    if len(lengths) != 1:
        raise HEInputError(f"inputs must have equal lengths, got {sorted(lengths)}")
    params = HEParams(
        length=lengths.pop(),
        clients=len(ids),
        max_value=max_value,
        poly_modulus_degree=poly_modulus_degree,
        plain_modulus=plain_modulus,
        coeff_mod_bit_sizes=tuple(coeff_mod_bit_sizes),
    )
    drops = {int(c): phase_of(ph) for c, ph in (dropouts or {}).items()}
    for c in drops:
        if c not in inputs:
            raise ValueError(f"dropouts names client {c}, which has no input")
    if key_holders is not None and key_holders < 1:
        raise HEParameterError(f"key_holders must be at least 1, got {key_holders}")
    holders = ids if key_holders is None else ids[:key_holders]
    if keys is not None and (keys.params != params or sorted(keys.client_bundles) != ids):
        raise HEParameterError("keys were generated for other parameters or another cohort")

    key_generator = ids[0]
    up = dict.fromkeys(ids, 0)
    down = dict.fromkeys(ids, 0)
    cpu = dict.fromkeys(ids, 0.0)
    setup = keys if keys is not None else generate_keys(params, ids, holders=holders)
    holders = setup.holders
    cpu[key_generator] += setup.seconds
    for c in ids:
        if c != key_generator:
            up[key_generator] += len(setup.client_bundles[c])
            down[c] += len(setup.client_bundles[c])
    up[key_generator] += len(setup.server_bundle)

    server = HEServer(
        params,
        setup.server_bundle,
        round_index=round_index,
        model_digest=model_digest,
        clients=ids,
        min_survivors=min_survivors,
    )
    clients: dict[int, HEClient] = {}
    encrypt: dict[int, float] = {}
    uploads: dict[int, int] = {}
    for c in ids:
        start = time.perf_counter()
        clients[c] = HEClient(
            c,
            inputs[c],
            params,
            setup.client_bundles[c],
            round_index=round_index,
            model_digest=model_digest,
        )
        cpu[c] += time.perf_counter() - start
        if drops.get(c) == "upload":
            continue
        data = clients[c].upload()
        encrypt[c] = clients[c].encrypt_seconds
        cpu[c] += encrypt[c]
        up[c] += len(data)
        uploads[c] = len(data)
        server.receive(c, data)

    aggregate = server.aggregate()
    present = [c for c in holders if c not in drops]
    if not present:
        raise AbortedError("no key holder is left to decrypt the aggregate", phase="decrypt")
    decryptor = present[0]
    down[decryptor] += len(aggregate)
    start = time.perf_counter()
    result = clients[decryptor].decrypt(aggregate)
    decrypt_seconds = time.perf_counter() - start
    cpu[decryptor] += decrypt_seconds
    up[decryptor] += len(result)
    total = server.receive_result(result)

    stayed = [c for c in ids if c not in drops] or ids
    times = [cpu[c] for c in stayed]
    return HESumResult(
        total=total,
        survivors=sorted(server.survivors),
        bits=params.plain_modulus.bit_length(),
        bytes_up_per_client=up,
        bytes_down_per_client=down,
        client_seconds=statistics.median(times),
        client_seconds_max=max(times),
        client_masking_seconds=statistics.median(encrypt.values()) if encrypt else 0.0,
        server_seconds=server.seconds,
        key_generator=key_generator,
        decryptor=decryptor,
        key_holders=holders,
        key_bundle_bytes={
            c: 0 if c == key_generator else len(setup.client_bundles[c]) for c in ids
        },
        upload_bytes=uploads,
        aggregate_bytes=len(aggregate),
        result_bytes=len(result),
        server_bundle_bytes=len(setup.server_bundle),
        ciphertexts_per_client=params.chunks,
        client_encrypt_seconds=statistics.median(encrypt.values()) if encrypt else 0.0,
        keygen_seconds=setup.seconds,
        decrypt_seconds=decrypt_seconds,
        poly_modulus_degree=params.poly_modulus_degree,
        plain_modulus=params.plain_modulus,
    )


__all__ = [
    "HE_PHASES",
    "PHASE_MAP",
    "HEClient",
    "HEDecryptionError",
    "HEInputError",
    "HEParameterError",
    "HEParams",
    "HESumResult",
    "HEServer",
    "KeyBundle",
    "KeySetup",
    "NoiseBudgetError",
    "PlainModulusTooSmallError",
    "generate_keys",
    "noise_self_test",
    "phase_of",
    "run_he_sum",
    "session_id",
]
