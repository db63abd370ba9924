"""Typed errors of the homomorphic path; every one is a :class:`SecAggError`.

The protocol's own (``MessageError``, ``ReplayError``, ``AbortedError``) come from
:mod:`prism_secure.protocols.errors`; these add what only BFV can get wrong.
"""

from __future__ import annotations

from prism_secure.protocols.errors import SecAggError


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
