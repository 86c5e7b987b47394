"""Signed evaluation bundles: Ed25519 keys, DSSE/in-toto signing, deterministic export and strict verification."""

from promptlab.bundles._archive import BundleLimits
from promptlab.bundles._dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, Signature, pae
from promptlab.bundles._export import SignedBundle, environment, export_bundle, sign_bundle
from promptlab.bundles._keys import KeyPair, PublicKey, generate_keys, key_id, load_private_key, load_public_key
from promptlab.bundles._statement import PREDICATE_TYPE, STATEMENT_TYPE, BundlePredicate
from promptlab.bundles._verify import ENVELOPE_NAME, BundleContents, VerifiedBundle, inspect_bundle, verify_bundle

__all__ = [
    "BundleContents",
    "BundleLimits",
    "BundlePredicate",
    "ENVELOPE_NAME",
    "Envelope",
    "IN_TOTO_PAYLOAD_TYPE",
    "KeyPair",
    "PREDICATE_TYPE",
    "PublicKey",
    "STATEMENT_TYPE",
    "Signature",
    "SignedBundle",
    "VerifiedBundle",
    "environment",
    "export_bundle",
    "generate_keys",
    "inspect_bundle",
    "key_id",
    "load_private_key",
    "load_public_key",
    "pae",
    "sign_bundle",
    "verify_bundle",
]
