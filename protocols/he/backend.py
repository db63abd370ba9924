"""TenSEAL behind a narrow surface: make, load and check contexts and BFV vectors.

Anything TenSEAL refuses becomes a typed error naming the field, never a raw exception.
"""

from __future__ import annotations

from prism_secure.protocols.errors import MessageError
from prism_secure.protocols.he.errors import HEParameterError
from prism_secure.protocols.he.params import HEParams

try:
    import tenseal as ts
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise ImportError(
        "the homomorphic secure sum needs TenSEAL: pip install 'prism-secure[he]'"
    ) from exc


def load_context(data: bytes, field_name: str) -> ts.Context:
    try:
        return ts.context_from(data, n_threads=1)
    except (ValueError, RuntimeError, TypeError) as exc:
        raise MessageError(field_name, f"not a TenSEAL context: {exc}") from None


def load_vector(ctx: ts.Context, data: bytes, expected: int, field_name: str) -> ts.BFVVector:
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


def make_context(params: HEParams) -> ts.Context:
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
